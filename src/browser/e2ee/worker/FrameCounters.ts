// Mutable frame counters of one group of transforms (one sender source, or one participant's
// audio or video), and their plain-data snapshot for the stats message.

import { DROP_REASONS, type DropCounts, type DropReason, type FrameCounts } from './types.ts';

/** A DropCounts with every reason at 0. */
export function emptyDropCounts(): DropCounts {
  return Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as DropCounts;
}

/** Adds `from` into `into`, reason by reason. */
export function addDropCounts(into: DropCounts, from: DropCounts): void {
  for (const reason of DROP_REASONS) into[reason] += from[reason];
}

/** Counters incremented by FrameCryptor. */
export class FrameCounters {
  processed = 0;
  /** Of `processed`, frames in LiveKit's format. */
  livekit = 0;
  empty = 0;
  readonly dropped: DropCounts = emptyDropCounts();

  drop(reason: DropReason): void {
    this.dropped[reason]++;
  }

  snapshot(): FrameCounts {
    return { processed: this.processed, livekit: this.livekit, empty: this.empty, dropped: { ...this.dropped } };
  }
}
