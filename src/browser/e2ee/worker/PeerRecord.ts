// What the worker keeps per remote participant: their keyring, the counters of their audio and
// video receivers, and the evidence behind their decrypt state (keys present / waiting / failing).

import { FAILING_AFTER_FAILURES } from './constants.ts';
import { FrameCounters } from './FrameCounters.ts';
import { ParticipantKeyring } from './ParticipantKeyring.ts';
import type { DecryptState, DropReason, FrameFormat, ParticipantStats } from './types.ts';

/** One remote participant, as seen by the receive side. */
export class PeerRecord {
  readonly participantId: string;
  readonly keyring = new ParticipantKeyring();
  readonly audio = new FrameCounters();
  readonly video = new FrameCounters();
  ratchetsAdopted = 0;
  /** The format of their last decrypted frame: tried first for the next one. */
  lastFormat: FrameFormat = 'sframe';
  #consecutiveFailures = 0;
  #waitingForKey = false;
  /** Frames dropped since the last decrypted one, per kind: a decoder after such a gap needs a key frame. */
  readonly #dropRun = { audio: 0, video: 0 };

  constructor(participantId: string) {
    this.participantId = participantId;
  }

  counters(kind: 'audio' | 'video'): FrameCounters {
    return kind === 'audio' ? this.audio : this.video;
  }

  /** A frame decrypted; returns whether it ended a run of drops (the decoder may want a key frame). */
  decrypted(kind: 'audio' | 'video', format: FrameFormat = 'sframe'): boolean {
    const counters = this.counters(kind);
    counters.processed++;
    if (format === 'livekit') counters.livekit++;
    this.lastFormat = format;
    const recovered = this.#dropRun[kind] > 0;
    this.#dropRun[kind] = 0;
    this.#consecutiveFailures = 0;
    this.#waitingForKey = false;
    return recovered;
  }

  dropped(kind: 'audio' | 'video', reason: DropReason): void {
    this.counters(kind).drop(reason);
    this.#dropRun[kind]++;
    if (reason === 'missing-key') this.#waitingForKey = true;
    else if (reason === 'auth-failed') this.#consecutiveFailures++;
  }

  /** A new key arrived: whatever was failing deserves a fresh look. */
  keyArrived(): void {
    this.#consecutiveFailures = 0;
    this.#waitingForKey = false;
  }

  get state(): DecryptState {
    if (this.keyring.size === 0 || this.#waitingForKey) return 'waiting';
    if (this.#consecutiveFailures >= FAILING_AFTER_FAILURES) return 'failing';
    return 'keys-present';
  }

  snapshot(): ParticipantStats {
    return {
      participantId: this.participantId,
      state: this.state,
      keyIndexes: this.keyring.keyIndexes,
      audio: this.audio.snapshot(),
      video: this.video.snapshot(),
      ratchetsAdopted: this.ratchetsAdopted,
    };
  }
}
