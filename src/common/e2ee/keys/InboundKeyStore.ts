// Keys of the other participants, after the transport checked them: matches each key to a live
// membership (same user AND device; README.md, "Wire format"), parks keys whose membership has
// not arrived yet (bounded in time and count), drops keys older (by the sender's `sent_ts`) than
// the one installed for the same participant and index, installs the rest into the KeySink, and
// forgets a participant's keys when its membership ends. Synchronous: one caller, no awaits.

import { DEFAULT_MAX_PARKED_KEYS, DEFAULT_PARKED_KEY_TTL_MS } from './constants.ts';
import type { KeyRejection, KeyRejectionReason } from './errors.ts';
import { memberKey, participantIdOf } from './types.ts';
import type { KeyClock, KeyMember, KeySink, PeerKeyState, ReceivedCallKey } from './types.ts';

/** Options of {@link InboundKeyStore}. */
export interface InboundKeyStoreOptions {
  readonly sink: KeySink;
  readonly clock: KeyClock;
  /** A key was dropped. */
  readonly onRejected: (rejection: KeyRejection) => void;
  /** A participant's key state changed (`waiting` on join, `present` on its first key). */
  readonly onKeyState: (participantId: string, state: PeerKeyState) => void;
  /** Default 60 000 ms ({@link DEFAULT_PARKED_KEY_TTL_MS}). */
  readonly parkedKeyTtlMs?: number;
  /** Default 64 ({@link DEFAULT_MAX_PARKED_KEYS}). */
  readonly maxParkedKeys?: number;
}

interface Peer {
  readonly participantId: string;
  state: PeerKeyState;
  /** Index → sent_ts of the installed key. */
  readonly sentTsByIndex: Map<number, number>;
}

/** Matches, parks, orders and installs received keys. */
export class InboundKeyStore {
  readonly #options: InboundKeyStoreOptions;
  readonly #parkedKeyTtlMs: number;
  readonly #maxParkedKeys: number;
  readonly #peers = new Map<string, Peer>();
  #parked: ReceivedCallKey[] = [];

  constructor(options: InboundKeyStoreOptions) {
    this.#options = options;
    this.#parkedKeyTtlMs = options.parkedKeyTtlMs ?? DEFAULT_PARKED_KEY_TTL_MS;
    this.#maxParkedKeys = options.maxParkedKeys ?? DEFAULT_MAX_PARKED_KEYS;
  }

  /** Key state of a participant; undefined when it has no live membership. */
  stateOf(participantId: string): PeerKeyState | undefined {
    for (const peer of this.#peers.values()) if (peer.participantId === participantId) return peer.state;
    return undefined;
  }

  /** Number of keys waiting for their membership. */
  get parkedCount(): number {
    return this.#parked.length;
  }

  /**
   * Replaces the live memberships of other devices: removes the keys of devices that left,
   * marks new devices `waiting`, then applies parked keys whose membership is now known.
   */
  setMembers(members: readonly KeyMember[]): void {
    const live = new Set(members.map(memberKey));
    for (const [key, peer] of this.#peers) {
      if (live.has(key)) continue;
      this.#peers.delete(key);
      this.#options.sink.removePeer(peer.participantId);
    }
    for (const member of members) {
      const key = memberKey(member);
      if (this.#peers.has(key)) continue;
      const participantId = participantIdOf(member.userId, member.deviceId);
      this.#peers.set(key, { participantId, state: 'waiting', sentTsByIndex: new Map() });
      this.#options.onKeyState(participantId, 'waiting');
    }
    const parked = this.#parked;
    this.#parked = [];
    const nowMs = this.#options.clock.now();
    for (const key of parked) {
      if (nowMs - key.receivedAtMs > this.#parkedKeyTtlMs) {
        this.#reject('park-expired', key, `parked ${nowMs - key.receivedAtMs} ms without a membership`);
      } else {
        this.receive(key);
      }
    }
  }

  /** Installs `key` if its device has a live membership, parks it otherwise. */
  receive(key: ReceivedCallKey): void {
    const peer = this.#peers.get(memberKey(key));
    if (peer === undefined) {
      this.#park(key);
      return;
    }
    const installedSentTs = peer.sentTsByIndex.get(key.index);
    // Later sends win; with equal sent_ts the later arrival wins, as js-sdk's OutdatedKeyFilter.
    if (installedSentTs !== undefined && key.sentTs < installedSentTs) {
      this.#reject('outdated', key, `index ${key.index}: sent_ts older than the installed key's`);
      return;
    }
    peer.sentTsByIndex.set(key.index, key.sentTs);
    this.#options.sink.setPeerKey(peer.participantId, key.index, key.key);
    if (peer.state !== 'present') {
      peer.state = 'present';
      this.#options.onKeyState(peer.participantId, 'present');
    }
  }

  /** Forgets everything (parked keys included), telling the sink to drop every peer. */
  clear(): void {
    for (const peer of this.#peers.values()) this.#options.sink.removePeer(peer.participantId);
    this.#peers.clear();
    this.#parked = [];
  }

  #park(key: ReceivedCallKey): void {
    const nowMs = this.#options.clock.now();
    const fresh: ReceivedCallKey[] = [];
    for (const parked of this.#parked) {
      if (nowMs - parked.receivedAtMs > this.#parkedKeyTtlMs) this.#reject('park-expired', parked, 'parked too long without a membership');
      else fresh.push(parked);
    }
    fresh.push(key);
    while (fresh.length > this.#maxParkedKeys) {
      const dropped = fresh.shift();
      if (dropped !== undefined) this.#reject('park-overflow', dropped, `more than ${this.#maxParkedKeys} parked keys`);
    }
    this.#parked = fresh;
  }

  #reject(reason: KeyRejectionReason, key: ReceivedCallKey, detail: string): void {
    this.#options.onRejected({ reason, userId: key.userId, deviceId: key.deviceId, detail });
  }
}
