// Our own media key, decided in one function so the whole policy reads in one place (after js-sdk's
// rolloutOutboundKey, made stricter): planRollout() decides, OutboundKeyPolicy carries the plan
// out with injected send, clock, randomness and ratchet. The policy (README "Key policy"):
//
// - First key: 16 random bytes at index 0, used at once, then sent to every member device.
// - Join: ratchet the current key (RFC 9605 §5.1, ratchet.ts) under the SAME index and send
//   joiners only the ratcheted key, so they cannot decrypt what we sent before they joined.
//   Existing members get nothing: their receivers ratchet our key forward themselves when our
//   frames stop decrypting (at most MAX_RATCHET_STEPS steps), deriving the same bytes. So that
//   they always can, after MAX_RATCHET_STEPS ratchets of one key the next join gets a fresh key.
// - Leave, or a member's createdTs changing (left and joined again): fresh random key at
//   index (i + 1) % 256, sent to the remaining members only.
// - Rotation: a fresh key at least every rotationIntervalMs (15 min) while anyone else is there.
// - A new or ratcheted key encrypts our frames only useKeyDelayMs (1 s) after it was sent.
// - One rollout at a time; membership changes during a rollout coalesce into one follow-up.
// - Failed sends: the devices are owed the key; retried with back-off (3 s doubling to 60 s).
// Every timer is owned here and cleared in stop().

import type { Logger } from '../../lib/logger.ts';
import { silentLogger } from '../../lib/logger.ts';
import { BASE_KEY_BYTES, MAX_RATCHET_STEPS, ratchetKey } from '../ratchet.ts';
import { systemClock } from './clock.ts';
import { DEFAULT_ROTATION_INTERVAL_MS, DEFAULT_SEND_RETRY_DELAY_MS, DEFAULT_USE_KEY_DELAY_MS, KEY_INDEX_COUNT, MAX_SEND_RETRY_DELAY_MS } from './constants.ts';
import { KeyDistributionError } from './errors.ts';
import { memberKey } from './types.ts';
import type { KeyClock, KeyMember } from './types.ts';

/** A device the current key lineage (the fresh key and its ratchets) went to or was meant for. */
export interface RecipientRecord {
  /** The membership's createdTs when we sent. */
  readonly createdTs: number;
  /** False when the send failed: the device is owed the current key. */
  readonly delivered: boolean;
}

/** What {@link planRollout} looks at. */
export interface RolloutInput {
  /** The current key; undefined before the first. */
  readonly current: { readonly createdAtMs: number; readonly ratchetSteps: number } | undefined;
  /** Keyed by memberKey() (types.ts). */
  readonly recipients: ReadonlyMap<string, RecipientRecord>;
  /** Live memberships of other devices (never our own). */
  readonly members: readonly KeyMember[];
  readonly nowMs: number;
  readonly rotationIntervalMs: number;
  readonly maxRatchetSteps: number;
}

/** Why a fresh key is made. */
export type FreshKeyCause = 'first' | 'leave' | 'rejoin' | 'rotation' | 'ratchet-limit';

/** What one rollout does. */
export type RolloutPlan =
  | { readonly kind: 'none' }
  /** New random key at the next index, to `recipients` (every member). */
  | { readonly kind: 'fresh'; readonly cause: FreshKeyCause; readonly recipients: readonly KeyMember[] }
  /** Ratchet the current key, same index; send it to `recipients` (joiners, and devices owed the key). */
  | { readonly kind: 'ratchet'; readonly recipients: readonly KeyMember[] }
  /** Send the current key again to devices whose earlier send failed. */
  | { readonly kind: 'share'; readonly recipients: readonly KeyMember[] };

/** The key policy as one pure decision (see the file header). */
export function planRollout(input: RolloutInput): RolloutPlan {
  const { current, recipients, members } = input;
  if (current === undefined) return { kind: 'fresh', cause: 'first', recipients: members };
  const byKey = new Map(members.map((member) => [memberKey(member), member]));
  let left = false;
  let rejoined = false;
  for (const [key, record] of recipients) {
    const member = byKey.get(key);
    if (member === undefined) left = true;
    else if (member.createdTs !== record.createdTs) rejoined = true;
  }
  if (left) return { kind: 'fresh', cause: 'leave', recipients: members };
  if (rejoined) return { kind: 'fresh', cause: 'rejoin', recipients: members };
  const rotationDue = input.nowMs - current.createdAtMs >= input.rotationIntervalMs;
  if (rotationDue && members.length > 0) return { kind: 'fresh', cause: 'rotation', recipients: members };
  const joiners = members.filter((member) => !recipients.has(memberKey(member)));
  const owed = members.filter((member) => recipients.get(memberKey(member))?.delivered === false);
  if (joiners.length > 0) {
    if (current.ratchetSteps >= input.maxRatchetSteps) return { kind: 'fresh', cause: 'ratchet-limit', recipients: members };
    return { kind: 'ratchet', recipients: [...joiners, ...owed] };
  }
  if (owed.length > 0) return { kind: 'share', recipients: owed };
  return { kind: 'none' };
}

/** Options of {@link OutboundKeyPolicy}. */
export interface OutboundKeyPolicyOptions {
  /** Hands `key` at `index` to `recipients`; rejects (KeyDistributionError) when that failed. */
  readonly send: (index: number, key: Uint8Array, recipients: readonly KeyMember[]) => Promise<unknown>;
  /** Our sender encrypts with this key from now on. */
  readonly useOwnKey: (index: number, key: Uint8Array) => void;
  /** A key could not be handed out. */
  readonly onError: (error: KeyDistributionError) => void;
  /** Default 1 000 ms ({@link DEFAULT_USE_KEY_DELAY_MS}). */
  readonly useKeyDelayMs?: number;
  /** Default 900 000 ms ({@link DEFAULT_ROTATION_INTERVAL_MS}). */
  readonly rotationIntervalMs?: number;
  /** Default 3 000 ms ({@link DEFAULT_SEND_RETRY_DELAY_MS}), doubling per failure up to 60 s. */
  readonly sendRetryDelayMs?: number;
  /**
   * Ratchets of one key before a join forces a fresh key. Default MAX_RATCHET_STEPS (8), the
   * receivers' catch-up bound; never set it higher than the receivers' bound.
   */
  readonly maxRatchetSteps?: number;
  /** Default: system clock and timers. */
  readonly clock?: KeyClock;
  /** Default: 16 bytes of crypto.getRandomValues. */
  readonly randomKey?: () => Uint8Array;
  /** Default: ratchetKey (RFC 9605 §5.1). */
  readonly ratchet?: (key: Uint8Array) => Promise<Uint8Array>;
  /** Default: silent. Never receives key bytes. */
  readonly logger?: Logger;
}

interface CurrentKey {
  readonly index: number;
  readonly key: Uint8Array;
  readonly createdAtMs: number;
  readonly ratchetSteps: number;
}

/** Owns our outbound key: decides with planRollout(), sends, switches after the delay. */
export class OutboundKeyPolicy {
  readonly #options: OutboundKeyPolicyOptions;
  readonly #clock: KeyClock;
  readonly #logger: Logger;
  readonly #useKeyDelayMs: number;
  readonly #rotationIntervalMs: number;
  readonly #sendRetryDelayMs: number;
  readonly #maxRatchetSteps: number;
  #ratchetOnJoin = true;
  #members: readonly KeyMember[] = [];
  #current: CurrentKey | undefined;
  #recipients = new Map<string, RecipientRecord>();
  #started = false;
  #stopped = false;
  #running = false;
  #rerun = false;
  #failures = 0;
  #rotationTimer: unknown;
  #retryTimer: unknown;
  #delay: { readonly timer: unknown; readonly resolve: () => void } | undefined;

  constructor(options: OutboundKeyPolicyOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger();
    this.#useKeyDelayMs = options.useKeyDelayMs ?? DEFAULT_USE_KEY_DELAY_MS;
    this.#rotationIntervalMs = options.rotationIntervalMs ?? DEFAULT_ROTATION_INTERVAL_MS;
    this.#sendRetryDelayMs = options.sendRetryDelayMs ?? DEFAULT_SEND_RETRY_DELAY_MS;
    this.#maxRatchetSteps = options.maxRatchetSteps ?? MAX_RATCHET_STEPS;
  }

  /** Index of the current key (possibly not yet in use for our frames); undefined before start. */
  get currentIndex(): number | undefined {
    return this.#current?.index;
  }

  /** Whether a rollout is in progress (sending or waiting useKeyDelayMs). */
  get busy(): boolean {
    return this.#running;
  }

  /** Makes the first key (used at once) and sends it to the members known so far. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#requestRollout();
  }

  /**
   * Whether a join ratchets the current key (default) or makes a fresh key for everyone. Off
   * while the call writes LiveKit's frame format: Element Call receivers follow only
   * livekit-client's own ratchet, not ours (src/common/e2ee/README.md §12). Set it before the
   * setMembers() that brings the joiner.
   */
  setRatchetOnJoin(enabled: boolean): void {
    this.#ratchetOnJoin = enabled;
  }

  /** Replaces the list of other live member devices (never our own) and rolls out as needed. */
  setMembers(members: readonly KeyMember[]): void {
    this.#members = [...members];
    this.#requestRollout();
  }

  /** Stops for good: clears every timer; a rollout in flight ends without switching keys. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clock.clearTimeout(this.#rotationTimer);
    this.#clock.clearTimeout(this.#retryTimer);
    this.#rotationTimer = undefined;
    this.#retryTimer = undefined;
    if (this.#delay !== undefined) {
      this.#clock.clearTimeout(this.#delay.timer);
      this.#delay.resolve();
      this.#delay = undefined;
    }
  }

  #requestRollout(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#running) {
      this.#rerun = true;
      return;
    }
    this.#running = true;
    void this.#runRollouts();
  }

  async #runRollouts(): Promise<void> {
    try {
      do {
        this.#rerun = false;
        await this.#rolloutOnce();
      } while (this.#rerun && !this.#stopped);
    } catch (error) {
      this.#logger.error('key rollout failed', { error });
    } finally {
      this.#running = false;
    }
  }

  async #rolloutOnce(): Promise<void> {
    const plan = planRollout({
      current: this.#current,
      recipients: this.#recipients,
      members: this.#members,
      nowMs: this.#clock.now(),
      rotationIntervalMs: this.#rotationIntervalMs,
      maxRatchetSteps: this.#ratchetOnJoin ? this.#maxRatchetSteps : 0,
    });
    switch (plan.kind) {
      case 'none':
        return;
      case 'share':
        await this.#deliver(plan.recipients);
        return;
      case 'fresh': {
        const index = this.#current === undefined ? 0 : (this.#current.index + 1) % KEY_INDEX_COUNT;
        const current: CurrentKey = { index, key: this.#randomKey(), createdAtMs: this.#clock.now(), ratchetSteps: 0 };
        this.#current = current;
        this.#recipients = new Map();
        this.#armRotation();
        this.#logger.info('new key', { keyIndex: index, cause: plan.cause, recipients: plan.recipients.length });
        if (plan.cause === 'first') {
          // Nobody can have frames under an older key of ours: use it at once (js-sdk does too).
          this.#options.useOwnKey(index, current.key);
          await this.#deliver(plan.recipients);
          return;
        }
        if (plan.recipients.length === 0) {
          if (plan.cause === 'leave') {
            this.#options.onError(new KeyDistributionError('no-targets', 'no other member device to send the new key to'));
          }
          this.#options.useOwnKey(index, current.key);
          return;
        }
        await this.#deliver(plan.recipients);
        await this.#switchAfterDelay(current);
        return;
      }
      case 'ratchet': {
        const before = this.#current;
        if (before === undefined) return;
        const key = await (this.#options.ratchet ?? ratchetKey)(before.key);
        if (this.#stopped) return;
        const current: CurrentKey = { ...before, key, ratchetSteps: before.ratchetSteps + 1 };
        this.#current = current;
        this.#logger.info('ratcheted key', { keyIndex: current.index, ratchetSteps: current.ratchetSteps, recipients: plan.recipients.length });
        await this.#deliver(plan.recipients);
        await this.#switchAfterDelay(current);
        return;
      }
    }
  }

  /** Sends the current key; records who got it (or is owed it); schedules a retry on failure. */
  async #deliver(recipients: readonly KeyMember[]): Promise<void> {
    const current = this.#current;
    if (current === undefined || recipients.length === 0) return;
    let delivered = true;
    try {
      await this.#options.send(current.index, current.key, recipients);
      this.#failures = 0;
    } catch (error) {
      delivered = false;
      const failure = error instanceof KeyDistributionError ? error : new KeyDistributionError('send-failed', 'sending the key failed', { cause: error });
      this.#failures += 1;
      this.#logger.warn('key send failed', { keyIndex: current.index, reason: failure.reason, failures: this.#failures });
      this.#options.onError(failure);
      // A widget driver without encrypted to-device will not learn it: retrying cannot help.
      if (failure.reason !== 'not-supported') this.#armRetry();
    }
    for (const member of recipients) this.#recipients.set(memberKey(member), { createdTs: member.createdTs, delivered });
  }

  /** Waits useKeyDelayMs (so the key can arrive first), then encrypts our frames with it. */
  async #switchAfterDelay(current: CurrentKey): Promise<void> {
    if (this.#stopped) return;
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#delay = undefined;
        resolve();
      }, this.#useKeyDelayMs);
      this.#delay = { timer, resolve };
    });
    if (this.#stopped) return;
    this.#options.useOwnKey(current.index, current.key);
  }

  #armRotation(): void {
    this.#clock.clearTimeout(this.#rotationTimer);
    this.#rotationTimer = this.#clock.setTimeout(() => {
      this.#rotationTimer = undefined;
      this.#requestRollout();
    }, this.#rotationIntervalMs);
  }

  #armRetry(): void {
    if (this.#retryTimer !== undefined || this.#stopped) return;
    const delayMs = Math.min(this.#sendRetryDelayMs * 2 ** (this.#failures - 1), MAX_SEND_RETRY_DELAY_MS);
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#requestRollout();
    }, delayMs);
  }

  #randomKey(): Uint8Array {
    if (this.#options.randomKey !== undefined) return this.#options.randomKey();
    return globalThis.crypto.getRandomValues(new Uint8Array(BASE_KEY_BYTES));
  }
}
