// Delay delegation (MSC4195 `delay_id`, `delay_timeout`, `delay_cs_api_url`): Element
// Call schedules its membership's delayed leave (MSC4140) and hands the delay id to the
// focus, which keeps restarting it while the member is connected, so a client that
// vanishes is out of the call `delay_timeout` after its connection to the SFU dropped.
//
// - offer(): a granted /get_token delegation. `delay_cs_api_url` is used only if it is the
//   client-server API of the member's own homeserver: the operator's override for that
//   server (auth.serverUrlOverrides, a single-listener homeserver) or the `m.homeserver`
//   base URL of `https://{server}/.well-known/matrix/client` (fetched with the federation
//   fetcher's bounds: no redirects, public addresses only, one deadline). Any other URL is
//   refused: we never call an address a client picked.
// - connected(): the member's LiveKit session opened: restart now and every third of the
//   timeout (bounded 500 ms .. 10 s); the returned stop() (session closed) stops restarting,
//   so the homeserver sends the leave when the timeout runs out. stop({sendNow: true}) (the
//   member left for good: it said `leave`, or its dropped socket was not resumed) asks the
//   homeserver to send the leave at once. A 404 (the delayed event was sent or cancelled)
//   stops too. Never sent on an eviction: the member's state may already be newer.
// A delegation waits at most PENDING_MS for its session; one per member, the newest wins.

import type { Logger } from '../../common/lib/logger.ts';
import { errorMessage } from '../../common/lib/errors.ts';
import type { DelayDelegation } from '../auth/liveKitToken.ts';
import { federationGet } from '../auth/federationFetch.ts';

/** How long a delegation waits for its member's session. */
export const PENDING_MS = 60_000;
/** Most delegations held (pending or active); more are refused. */
const MAX_DELEGATIONS = 10_000;

/** Options of the DelayedLeaveKeeper. */
export interface DelayedLeaveKeeperOptions {
  /** Server name → base URL used for that server's APIs (auth.serverUrlOverrides). */
  readonly overrides: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** Resolves a server's client-server API base (tests); default: override, else .well-known/matrix/client. */
  readonly resolveBase?: (serverName: string) => Promise<string>;
  /** POSTs a restart; resolves with the HTTP status (tests). */
  readonly post?: (url: string) => Promise<number>;
}

interface Held {
  readonly delegation: DelayDelegation;
  readonly restartUrl: string;
  readonly expiresAtMs: number;
  timer: NodeJS.Timeout | undefined;
}

function normalise(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return undefined;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** Keeps members' delayed leaves alive while they are connected. */
export class DelayedLeaveKeeper {
  readonly #options: DelayedLeaveKeeperOptions;
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  /** Members whose session is open now. */
  readonly #connected = new Set<string>();
  #closed = false;

  constructor(options: DelayedLeaveKeeperOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'livekit' });
  }

  /** Members with a delegation (pending or active). */
  get size(): number {
    return this.#held.size;
  }

  /** Validates and holds a delegation; resolves true if it was accepted. */
  async offer(delegation: DelayDelegation): Promise<boolean> {
    const key = `${delegation.roomId}\u0000${delegation.userId}:${delegation.deviceId}`;
    try {
      const serverName = delegation.userId.slice(delegation.userId.indexOf(':') + 1);
      const claimed = normalise(delegation.csApiUrl);
      const base = normalise(await (this.#options.resolveBase ?? ((name) => this.#resolveBase(name)))(serverName));
      if (!claimed || claimed !== base) {
        this.#log.warn('delay delegation refused: delay_cs_api_url is not the member\'s homeserver', { userId: delegation.userId, serverName });
        return false;
      }
      if (this.#closed || (this.#held.size >= MAX_DELEGATIONS && !this.#held.has(key))) return false;
      this.#stop(key);
      const restartUrl = `${claimed}/_matrix/client/unstable/org.matrix.msc4140/delayed_events/${encodeURIComponent(delegation.delayId)}/restart`;
      this.#held.set(key, { delegation, restartUrl, expiresAtMs: Date.now() + PENDING_MS, timer: undefined });
      this.#prune();
      // The session may have opened while the homeserver was being resolved.
      if (this.#connected.has(key)) this.#start(key);
      return true;
    } catch (error) {
      this.#log.info('delay delegation refused: homeserver not resolved', { userId: delegation.userId, error: errorMessage(error) });
      return false;
    }
  }

  /** The member's session opened; returns stop() for when it closes. */
  connected(roomId: string, identity: string): (options?: { sendNow?: boolean }) => void {
    const key = `${roomId}\u0000${identity}`;
    this.#connected.add(key);
    this.#start(key);
    let stopped = false;
    return (options = {}) => {
      if (stopped) return;
      stopped = true;
      this.#connected.delete(key);
      const held = this.#held.get(key);
      this.#stop(key);
      if (options.sendNow && held?.timer) this.#sendNow(held);
    };
  }

  /** Asks the homeserver to send the delayed leave now (MSC4140 `/send`). */
  #sendNow(held: Held): void {
    const url = held.restartUrl.replace(/\/restart$/, '/send');
    (this.#options.post ?? ((target) => this.#post(target)))(url).then(
      (status) => this.#log.info('delayed leave sent now: the member left', { userId: held.delegation.userId, deviceId: held.delegation.deviceId, status }),
      (error: unknown) => this.#log.debug('delayed leave send failed; it fires after its timeout', { error: errorMessage(error) }),
    );
  }

  #start(key: string): void {
    const held = this.#held.get(key);
    if (!held || held.timer) return;
    const intervalMs = Math.min(10_000, Math.max(500, Math.floor(held.delegation.delayTimeoutMs / 3)));
    const restart = () => {
      this.#restart(key, held).catch((error: unknown) => this.#log.debug('delayed leave restart failed', { error: errorMessage(error) }));
    };
    held.timer = setInterval(restart, intervalMs);
    held.timer.unref();
    restart();
    this.#log.info('keeping the delayed leave alive while connected', { userId: held.delegation.userId, deviceId: held.delegation.deviceId, intervalMs });
  }

  /** Stops every restart (node shutdown): the homeserver sends the leaves. */
  close(): void {
    this.#closed = true;
    this.#connected.clear();
    for (const key of [...this.#held.keys()]) this.#stop(key);
  }

  async #restart(key: string, held: Held): Promise<void> {
    const status = await (this.#options.post ?? ((url) => this.#post(url)))(held.restartUrl);
    if (status === 404 || status === 400) {
      this.#log.info('delayed leave gone; no longer restarting it', { userId: held.delegation.userId, status });
      if (this.#held.get(key) === held) this.#stop(key);
    } else if (status >= 300) {
      this.#log.info('delayed leave restart answered', { userId: held.delegation.userId, status });
    }
  }

  #stop(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    if (held.timer) clearInterval(held.timer);
    this.#held.delete(key);
  }

  #prune(): void {
    const now = Date.now();
    for (const [key, held] of this.#held) if (!held.timer && held.expiresAtMs < now) this.#held.delete(key);
  }

  async #resolveBase(serverName: string): Promise<string> {
    const override = this.#options.overrides[serverName];
    if (override) return override;
    const { status, body } = await federationGet(`https://${serverName}/.well-known/matrix/client`, { timeoutMs: this.#options.timeoutMs, allowPrivate: false });
    const homeserver = status === 200 && typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['m.homeserver'] : undefined;
    const baseUrl = typeof homeserver === 'object' && homeserver !== null ? (homeserver as Record<string, unknown>)['base_url'] : undefined;
    return typeof baseUrl === 'string' ? baseUrl : `https://${serverName}`;
  }

  async #post(url: string): Promise<number> {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', redirect: 'error', signal: AbortSignal.timeout(this.#options.timeoutMs) });
    await response.body?.cancel();
    return response.status;
  }
}
