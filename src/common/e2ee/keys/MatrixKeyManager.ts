// Media keys of one device in one MatrixRTC call: ties the key policy (our key), the inbound
// store (everyone else's) and the to-device transport together, and installs keys into the
// frame cryptor through a KeySink. The app feeds memberships (the widget from js-sdk's
// MatrixRTCSession `memberships_changed`); the manager emits typed events for the UI.
//
// Concurrency: every input (setMemberships, received to-device events, timers) arrives on the
// JS event loop; the inbound side is synchronous, and the policy serialises its own rollouts
// (one at a time, changes coalesced), so no state is shared across an await.

import type { Logger } from '../../lib/logger.ts';
import { silentLogger } from '../../lib/logger.ts';
import { TypedEmitter } from '../../lib/TypedEmitter.ts';
import { systemClock } from './clock.ts';
import type { KeyDistributionError, KeyRejection } from './errors.ts';
import type { MatrixKeyManagerEvents } from './events.ts';
import { InboundKeyStore } from './InboundKeyStore.ts';
import { OutboundKeyPolicy } from './OutboundKeyPolicy.ts';
import { ToDeviceKeyTransport } from './ToDeviceKeyTransport.ts';
import type { KeyReceiveMode } from './ToDeviceKeyTransport.ts';
import { memberKey, participantIdOf } from './types.ts';
import type { KeyClock, KeyMember, KeySink, KeyTransportClient, OwnKeyIdentity, PeerKeyState } from './types.ts';

/** Options of {@link MatrixKeyManager}. */
export interface MatrixKeyManagerOptions {
  /** The narrow js-sdk client: `encryptAndSendToDevice`, `on`, `off`. */
  readonly client: KeyTransportClient;
  /** The call's room. */
  readonly roomId: string;
  /** Our device and member id. */
  readonly own: OwnKeyIdentity;
  /** Where keys go (the frame cryptor). */
  readonly sink: KeySink;
  /** Default `olm` (Olm-verified sender device); `widget` under a RoomWidgetClient. See KeyReceiveMode. */
  readonly receiveMode?: KeyReceiveMode;
  /** Default 1 000 ms: delay between sending a new key and encrypting with it. */
  readonly useKeyDelayMs?: number;
  /** Default 900 000 ms: longest life of a fresh key. */
  readonly rotationIntervalMs?: number;
  /** Default 3 000 ms, doubling to 60 s: retry delay after a failed send. */
  readonly sendRetryDelayMs?: number;
  /** Default 60 000 ms: how long a key may wait for its sender's membership. */
  readonly parkedKeyTtlMs?: number;
  /** Default 64: most keys waiting for memberships. */
  readonly maxParkedKeys?: number;
  /** Default: system clock and timers. */
  readonly clock?: KeyClock;
  /** Default: crypto.getRandomValues (tests inject fixed keys). */
  readonly randomKey?: () => Uint8Array;
  /** Default: silent. Lines carry ids and indexes, never keys. */
  readonly logger?: Logger;
}

/** One device's key manager for one call. Create, `start()`, feed memberships, `stop()`. */
export class MatrixKeyManager extends TypedEmitter<MatrixKeyManagerEvents> {
  readonly #own: OwnKeyIdentity;
  readonly #sink: KeySink;
  readonly #logger: Logger;
  readonly #transport: ToDeviceKeyTransport;
  readonly #inbound: InboundKeyStore;
  readonly #policy: OutboundKeyPolicy;
  #ownKeyIndex: number | undefined;
  #started = false;
  #stopped = false;

  constructor(options: MatrixKeyManagerOptions) {
    const logger = (options.logger ?? silentLogger()).child({ roomId: options.roomId, component: 'e2ee-keys' });
    super((event, error) => logger.warn('listener threw', { event, error }));
    this.#own = options.own;
    this.#sink = options.sink;
    this.#logger = logger;
    const clock = options.clock ?? systemClock;
    this.#inbound = new InboundKeyStore({
      sink: options.sink,
      clock,
      onRejected: (rejection) => this.#rejected(rejection),
      onKeyState: (participantId, state) => this.safeEmit('keyStateChanged', participantId, state),
      ...(options.parkedKeyTtlMs !== undefined ? { parkedKeyTtlMs: options.parkedKeyTtlMs } : {}),
      ...(options.maxParkedKeys !== undefined ? { maxParkedKeys: options.maxParkedKeys } : {}),
    });
    this.#transport = new ToDeviceKeyTransport({
      client: options.client,
      roomId: options.roomId,
      own: options.own,
      clock,
      logger,
      receiveMode: options.receiveMode ?? 'olm',
      onKey: (key) => {
        if (!this.#stopped) this.#inbound.receive(key);
      },
      onRejected: (rejection) => this.#rejected(rejection),
    });
    this.#policy = new OutboundKeyPolicy({
      send: (index, key, recipients) => this.#transport.sendKey(index, key, recipients),
      useOwnKey: (index, key) => this.#useOwnKey(index, key),
      onError: (error) => this.#failed(error),
      clock,
      logger,
      ...(options.useKeyDelayMs !== undefined ? { useKeyDelayMs: options.useKeyDelayMs } : {}),
      ...(options.rotationIntervalMs !== undefined ? { rotationIntervalMs: options.rotationIntervalMs } : {}),
      ...(options.sendRetryDelayMs !== undefined ? { sendRetryDelayMs: options.sendRetryDelayMs } : {}),
      ...(options.randomKey !== undefined ? { randomKey: options.randomKey } : {}),
    });
  }

  /** Index of the key our sender uses; undefined before the first key. */
  get ownKeyIndex(): number | undefined {
    return this.#ownKeyIndex;
  }

  /** Whether a rollout of our key is in progress. */
  get distributing(): boolean {
    return this.#policy.busy;
  }

  /** Key state of another participant (`${userId}:${deviceId}`); undefined if not a live member. */
  peerKeyState(participantId: string): PeerKeyState | undefined {
    return this.#inbound.stateOf(participantId);
  }

  /** Listens for keys and makes our first key (used at once, sent to the members known). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#transport.start();
    this.#policy.start();
    this.#logger.info('key manager started');
  }

  /** Joins ratchet our key (default) or bring a fresh key for everyone (OutboundKeyPolicy.setRatchetOnJoin). */
  setRatchetOnJoin(enabled: boolean): void {
    this.#policy.setRatchetOnJoin(enabled);
  }

  /**
   * Replaces the call's live memberships (our own entry may be included; it is skipped).
   * Devices that left lose their keys at once; our key is re-rolled per the policy.
   * @throws TypeError when an entry is malformed (empty ids, non-finite createdTs).
   */
  setMemberships(members: ReadonlyArray<KeyMember>): void {
    if (this.#stopped) return;
    const others = new Map<string, KeyMember>();
    for (const member of members) {
      if (typeof member.userId !== 'string' || member.userId.length === 0 || typeof member.deviceId !== 'string' || member.deviceId.length === 0) {
        throw new TypeError('memberships need non-empty userId and deviceId');
      }
      if (typeof member.createdTs !== 'number' || !Number.isFinite(member.createdTs)) throw new TypeError('membership createdTs must be a finite number');
      if (member.userId === this.#own.userId && member.deviceId === this.#own.deviceId) continue;
      const key = memberKey(member);
      const seen = others.get(key);
      // Duplicate device entries: the newest membership is the live one.
      if (seen === undefined || member.createdTs > seen.createdTs) {
        others.set(key, { userId: member.userId, deviceId: member.deviceId, memberId: member.memberId, createdTs: member.createdTs });
      }
    }
    const list = [...others.values()];
    this.#inbound.setMembers(list);
    this.#policy.setMembers(list);
  }

  /** Stops listening, clears every timer and forgets all peer keys. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#transport.stop();
    this.#policy.stop();
    this.#inbound.clear();
    this.#logger.info('key manager stopped');
  }

  #useOwnKey(index: number, key: Uint8Array): void {
    if (this.#stopped) return;
    this.#ownKeyIndex = index;
    this.#sink.setOwnKey(index, key);
    this.#logger.debug('own key in use', { keyIndex: index, participantId: participantIdOf(this.#own.userId, this.#own.deviceId) });
    this.safeEmit('ownKeyChanged', index);
  }

  #failed(error: KeyDistributionError): void {
    this.#logger.warn('key distribution problem', { reason: error.reason, message: error.message });
    this.safeEmit('error', error);
  }

  #rejected(rejection: KeyRejection): void {
    this.#logger.debug('key rejected', { reason: rejection.reason, userId: rejection.userId, deviceId: rejection.deviceId });
    this.safeEmit('keyRejected', rejection);
  }
}
