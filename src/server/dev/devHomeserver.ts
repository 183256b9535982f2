// The embedded development homeserver behind `npm start` without
// configuration: a fresh loopback Synapse (from the venv native-config/setup
// installs), the SFU account, two demo users and a demo room in which they
// may publish call memberships. Synapse is supervised: when it dies it is
// started again on the same data dir and port (accounts and rooms survive).
// Development only; never in production.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../common/lib/logger.ts';
import { startSynapse, type SynapseInstance } from './synapse/SynapseProcess.ts';
import { registerUser, type RegisteredUser } from './synapse/sharedSecretRegistration.ts';
import { OUR_FOCUS_TYPE } from '../matrix/callMembership.ts';
import { startDevTurn } from './devTurn.ts';

/** A demo account the demo page can log in with. */
export interface DemoUser {
  readonly userId: string;
  readonly password: string;
}

/** The running dev homeserver and what the SFU and the demo need of it. */
export interface DevHomeserver {
  readonly synapse: SynapseInstance;
  readonly bot: RegisteredUser;
  readonly users: readonly DemoUser[];
  readonly roomId: string;
  /** Config overrides pointing the SFU at this homeserver. */
  readonly configOverrides: Record<string, unknown>;
  /** Times Synapse was started again after it died. */
  readonly restarts: number;
  stop(): Promise<void>;
}

/** Waits before the n-th consecutive restart attempt (1-based): 1 s, 2 s, 4 s, 8 s, 16 s. */
export const SYNAPSE_RESTART_BACKOFF_MS = [1000, 2000, 4000, 8000, 16_000] as const;

/**
 * Restarts `synapse` whenever its process exits while `isStopping()` is false, with the
 * backoff above; after as many consecutive failed attempts as the backoff has steps it gives
 * up with an error log (the SFU then reports the Matrix sync as not fresh on /readyz).
 * `onRestarted` counts successes.
 */
async function superviseSynapse(synapse: SynapseInstance, log: Logger, isStopping: () => boolean, onRestarted: () => void): Promise<void> {
  for (;;) {
    await synapse.exited;
    if (isStopping()) return;
    log.error('development homeserver (Synapse) died; starting it again', { pid: synapse.pid, log: synapse.logPath });
    let restarted = false;
    for (const [attempt, waitMs] of SYNAPSE_RESTART_BACKOFF_MS.entries()) {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (isStopping()) return;
      try {
        await synapse.restart();
        restarted = true;
        onRestarted();
        log.warn('development homeserver restarted', { pid: synapse.pid, attempt: attempt + 1 });
        break;
      } catch (error) {
        log.warn('development homeserver restart failed', { attempt: attempt + 1, error });
      }
    }
    if (!restarted) {
      log.error('development homeserver could not be restarted; restart npm start', { attempts: SYNAPSE_RESTART_BACKOFF_MS.length });
      return;
    }
  }
}

const DEMO_PASSWORD = 'demo-password';

/** Where a loopback homeserver is and the SFU account on it. */
export interface LoopbackHomeserver {
  readonly baseUrl: string;
  readonly serverName: string;
}

/**
 * Config overrides for Matrix admission against a loopback homeserver whose
 * server name does not resolve (dev mode, tests, benches): its users are
 * allowed, its federation API is reached through the override map.
 */
export function loopbackMatrixOverrides(
  homeserver: LoopbackHomeserver,
  account: { userId: string; accessToken?: string; password?: string },
  syncTimeoutMs?: number,
): Record<string, unknown> {
  return {
    auth: {
      mode: 'matrix',
      allowedServers: [homeserver.serverName],
      serverUrlOverrides: { [homeserver.serverName]: homeserver.baseUrl },
    },
    matrix: {
      homeserverUrl: homeserver.baseUrl,
      userId: account.userId,
      ...(account.accessToken ? { accessToken: account.accessToken } : {}),
      ...(account.password ? { password: account.password } : {}),
      inviteAllowList: [homeserver.serverName],
      ...(syncTimeoutMs ? { syncTimeoutMs } : {}),
    },
  };
}

async function clientRequest(baseUrl: string, token: string, method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const parsed = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${method} ${path} failed: HTTP ${response.status} ${String(parsed['errcode'])}`);
  return parsed;
}

/** Starts Synapse, registers the SFU account and demo users, creates the demo room. */
export async function startDevHomeserver(options: { publicUrl: string; logger: Logger }): Promise<DevHomeserver> {
  const log = options.logger.child({ component: 'dev-homeserver' });
  const dataDir = await mkdtemp(join(tmpdir(), 'sfu-dev-synapse-'));
  const synapse = await startSynapse({
    dataDir,
    rtcTransports: [{ type: OUR_FOCUS_TYPE, sfu_service_url: options.publicUrl }],
  });
  try {
    const suffix = Date.now().toString(36);
    const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, 'sfu', `sfu-${suffix}`);
    const alice = await registerUser(synapse.baseUrl, synapse.sharedSecret, 'alice', DEMO_PASSWORD);
    const bob = await registerUser(synapse.baseUrl, synapse.sharedSecret, 'bob', DEMO_PASSWORD);
    const created = await clientRequest(synapse.baseUrl, alice.accessToken, 'POST', '/_matrix/client/v3/createRoom', {
      preset: 'private_chat',
      name: 'Demo call',
      invite: [bot.userId, bob.userId],
      power_level_content_override: { events: { 'org.matrix.msc3401.call.member': 0 } },
    });
    const roomId = String(created['room_id']);
    await clientRequest(synapse.baseUrl, bob.accessToken, 'POST', `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    log.warn('DEVELOPMENT HOMESERVER started (loopback Synapse, demo accounts)', {
      baseUrl: synapse.baseUrl,
      roomId,
      demoUsers: [alice.userId, bob.userId],
    });
    let stopping = false;
    let restarts = 0;
    void superviseSynapse(synapse, log, () => stopping, () => restarts++);
    // A loopback TURN relay, so the dev setup hands out TURN credentials like production does.
    const turn = await startDevTurn({ logger: options.logger, sfuAddress: '127.0.0.1' });
    return {
      synapse,
      bot,
      users: [
        { userId: alice.userId, password: DEMO_PASSWORD },
        { userId: bob.userId, password: DEMO_PASSWORD },
      ],
      roomId,
      configOverrides: { ...loopbackMatrixOverrides(synapse, bot), ...(turn ? { turn: turn.configOverrides } : {}) },
      get restarts() {
        return restarts;
      },
      stop: async () => {
        stopping = true;
        await Promise.all([synapse.stop(), turn?.stop()]);
      },
    };
  } catch (error) {
    await synapse.stop();
    throw error;
  }
}
