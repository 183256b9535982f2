// End-to-end encrypted media for widget mode: the browser E2EE manager (src/browser/e2ee: a
// frame-transform worker attached to every sender and receiver through SfuClient's
// `transforms`) fed by the MatrixRTC key manager (src/common/e2ee/keys: our key and everyone
// else's over Olm-encrypted to-device messages, which the host encrypts and decrypts for us).
// The tiles' badges combine both: keys present / waiting / failing to decrypt.
//
// Frame format (src/browser/e2ee/frameFormat.ts): RFC 9605 SFrame among our widgets, LiveKit's
// format while an Element Call member is in the call; receivers read both.
//
// Only for calls whose every participant encrypts: a participant without E2EE (standalone
// mode) cannot decode an encrypted sender, and encrypted receivers drop its clear frames.

import { E2eeManager } from '../../e2ee/E2eeManager.ts';
import { chooseFrameFormat } from '../../e2ee/frameFormat.ts';
import { MatrixKeyManager } from '../../../common/e2ee/keys/MatrixKeyManager.ts';
import type { KeyTransportClient } from '../../../common/e2ee/keys/types.ts';
import type { Logger } from '../../../common/lib/logger.ts';
import type { ClientLogger, EncodedTransforms } from '../../client/types.ts';
import type { CallBackend, E2eeBadge, E2eeStatusSource } from './types.ts';

/** Options of matrixE2eeStatus(). */
export interface MatrixE2eeOptions {
  /** The call's Matrix side (memberships, identity). */
  readonly backend: CallBackend;
  /** The embedded client: encryptAndSendToDevice goes through the host, which encrypts. */
  readonly client: KeyTransportClient;
  /** URL of the bundled frame-transform worker (same origin: the CSP's worker-src 'self'). */
  readonly workerUrl: string;
  readonly logger: ClientLogger;
}

/** Adapts the widget's console logger to the structured Logger the key manager takes. */
function keyLogger(logger: ClientLogger, bindings: Record<string, unknown> = {}): Logger {
  const withBindings = (fields?: Record<string, unknown>): Record<string, unknown> => ({ ...bindings, ...fields });
  return {
    debug: (message, fields) => logger.debug(`e2ee: ${message}`, withBindings(fields)),
    info: (message, fields) => logger.info(`e2ee: ${message}`, withBindings(fields)),
    warn: (message, fields) => logger.warn(`e2ee: ${message}`, withBindings(fields)),
    error: (message, fields) => logger.error(`e2ee: ${message}`, withBindings(fields)),
    child: (more) => keyLogger(logger, { ...bindings, ...more }),
    isLevelEnabled: (level) => level !== 'debug',
  };
}

/** E2EE status and transforms for one join. Nothing runs before start(). */
export function matrixE2eeStatus(options: MatrixE2eeOptions): E2eeStatusSource {
  const { backend, logger } = options;
  const listeners = new Set<() => void>();
  const changed = (): void => {
    for (const listener of listeners) listener();
  };
  let manager: E2eeManager | undefined;
  let keys: MatrixKeyManager | undefined;
  let unwatch: (() => void) | undefined;
  const failing = new Set<string>();

  const status: E2eeStatusSource = {
    enabled: true,
    stateOf(participantId: string): E2eeBadge {
      if (failing.has(participantId)) return 'failed';
      const keyState = keys?.peerKeyState(participantId);
      return keyState === 'present' || manager?.decryptState(participantId) === 'keys-present' ? 'present' : 'waiting';
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get transforms(): EncodedTransforms | undefined {
      return manager?.transforms as EncodedTransforms | undefined;
    },
    get encodedInsertableStreams(): boolean {
      return manager?.mode === 'encoded-streams';
    },
    start() {
      if (manager) return;
      manager = new E2eeManager({ worker: new Worker(options.workerUrl, { name: 'e2ee' }), logger: { debug: () => undefined, warn: (message, fields) => logger.warn(`e2ee: ${message}`, fields) } });
      manager.on('decryptStateChanged', ({ participantId, state }) => {
        if (state === 'failing') failing.add(participantId);
        else failing.delete(participantId);
        changed();
      });
      keys = new MatrixKeyManager({
        client: options.client,
        roomId: backend.roomId,
        own: { userId: backend.userId, deviceId: backend.deviceId, memberId: `${backend.userId}:${backend.deviceId}` },
        sink: manager.keyProvider,
        receiveMode: 'widget',
        logger: keyLogger(logger),
      });
      keys.on('keyStateChanged', changed);
      keys.on('error', (error) => logger.warn('media key distribution problem', { reason: error.reason }));
      keys.start();
      const feed = (): void => {
        const members = backend.memberships();
        // The format first: a join under LiveKit's format must bring a fresh key, not a ratchet.
        const format = chooseFrameFormat(members);
        keys?.setRatchetOnJoin(format === 'sframe');
        manager?.setFrameFormat(format);
        keys?.setMemberships(members);
      };
      unwatch = backend.onRoomChanged(feed);
      feed();
    },
    close() {
      unwatch?.();
      keys?.stop();
      manager?.close();
      keys = undefined;
      manager = undefined;
      failing.clear();
      listeners.clear();
    },
  };
  return status;
}
