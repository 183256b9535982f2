// The development TURN relay of `npm start`'s embedded mode: a real coturn on loopback
// (src/server/dev/coturn), relaying from 127.0.0.2 to the SFU's 127.0.0.1 only, whose URLs
// (TURN over UDP and TCP; no TLS, since browsers refuse its self-signed certificate) go out
// with every admission like in production. Without coturn installed the dev mode runs
// without TURN and says how to get it. Development only; never in production.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../common/lib/logger.ts';
import { coturnInstalled, startCoturn, type CoturnInstance } from './coturn/CoturnProcess.ts';

/** The running dev TURN server and the `turn` config section pointing at it. */
export interface DevTurn {
  readonly coturn: CoturnInstance;
  readonly configOverrides: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts coturn for the dev mode, or returns undefined (with a warning) when it is not installed or does not start. */
export async function startDevTurn(options: { logger: Logger; sfuAddress: string }): Promise<DevTurn | undefined> {
  const log = options.logger.child({ component: 'dev-turn' });
  if (!coturnInstalled()) {
    log.warn('coturn is not installed: the development setup runs without a TURN relay (apt-get install coturn, or native-config/setup)');
    return undefined;
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'sfu-dev-coturn-'));
  let coturn: CoturnInstance;
  try {
    coturn = await startCoturn({ dataDir, tls: false, allowedPeerIps: [options.sfuAddress] });
  } catch (error) {
    log.warn('development TURN relay did not start; continuing without it', { error: (error as Error).message });
    await rm(dataDir, { recursive: true, force: true });
    return undefined;
  }
  void coturn.exited.then(() => log.debug('development TURN relay exited', { pid: coturn.pid }));
  log.info('development TURN relay started (coturn on loopback)', { urls: [coturn.urls.udp, coturn.urls.tcp], relayAddress: coturn.relayIp, log: coturn.logPath });
  return {
    coturn,
    configOverrides: { urls: [coturn.urls.udp, coturn.urls.tcp], sharedSecretFile: coturn.secretFile, relayAddresses: [coturn.relayIp] },
    stop: async () => {
      await coturn.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
