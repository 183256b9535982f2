// Dynacast of a LiveKit publisher: the layers a producer's demand needs (none without a
// forwarding consumer, at least the lowest with one), the SubscribedQualityUpdate livekit-client
// reads (qualities by rid, and the codec list it matches its own codec against), and the
// debounce: more layers at once, fewer only after the pause without a rise.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VideoQuality, type SubscribedQualityUpdate } from '@livekit/protocol';
import { Dynacast, layersNeeded, qualityOfLayer, subscribedQualityUpdate } from '../../../../src/server/livekit/Dynacast.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const track = { trackSid: 'TR_cam', mimeType: 'video/VP8', rids: ['q', 'h', 'f'] };
const enabledOf = (update: SubscribedQualityUpdate | undefined) => update?.subscribedQualities.filter((q) => q.enabled).map((q) => q.quality);

describe('layersNeeded()', () => {
  it('is 0 when no consumer forwards, else the highest preferred layer + 1, at least 1 and at most the layers published', () => {
    expect(layersNeeded({ consumers: 0, active: 0, maxSpatialLayer: -1 }, 3)).toBe(0);
    expect(layersNeeded({ consumers: 2, active: 0, maxSpatialLayer: -1 }, 3)).toBe(0);
    expect(layersNeeded({ consumers: 1, active: 1, maxSpatialLayer: 0 }, 3)).toBe(1);
    expect(layersNeeded({ consumers: 1, active: 1, maxSpatialLayer: -1 }, 3)).toBe(1);
    expect(layersNeeded({ consumers: 2, active: 2, maxSpatialLayer: 1 }, 3)).toBe(2);
    expect(layersNeeded({ consumers: 2, active: 2, maxSpatialLayer: 5 }, 2)).toBe(2);
  });
});

describe('subscribedQualityUpdate()', () => {
  it('names every quality with its state, in subscribedQualities and under the lowercase codec', () => {
    const update = subscribedQualityUpdate(track, 2);
    expect(update.trackSid).toBe('TR_cam');
    expect(update.subscribedQualities.map((q) => [q.quality, q.enabled])).toEqual([
      [VideoQuality.LOW, true],
      [VideoQuality.MEDIUM, true],
      [VideoQuality.HIGH, false],
    ]);
    expect(update.subscribedCodecs).toHaveLength(1);
    expect(update.subscribedCodecs[0]!.codec).toBe('vp8');
    expect(update.subscribedCodecs[0]!.qualities.map((q) => q.enabled)).toEqual([true, true, false]);
    expect(enabledOf(subscribedQualityUpdate(track, 0))).toEqual([]);
  });

  it('maps rids as livekit-client does (q, h, f), other rids by position', () => {
    expect([qualityOfLayer('q', 2), qualityOfLayer('h', 0), qualityOfLayer('f', 0)]).toEqual([VideoQuality.LOW, VideoQuality.MEDIUM, VideoQuality.HIGH]);
    expect([qualityOfLayer(undefined, 0), qualityOfLayer('r1', 1), qualityOfLayer('x', 7)]).toEqual([VideoQuality.LOW, VideoQuality.MEDIUM, VideoQuality.HIGH]);
  });
});

describe('Dynacast', () => {
  let sent: SubscribedQualityUpdate[];
  let dynacast: Dynacast;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    dynacast = new Dynacast({ pauseMs: 1000, send: (update) => sent.push(update), logger: silentLogger() });
    dynacast.track('p1', track);
  });
  afterEach(() => {
    dynacast.close();
    vi.useRealTimers();
  });

  it('turns layers off only after the pause, and all of them when nobody forwards', () => {
    dynacast.demand('p1', { consumers: 0, active: 0, maxSpatialLayer: -1 });
    vi.advanceTimersByTime(999);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(enabledOf(sent.at(-1))).toEqual([]);
  });

  it('turns layers on at once and cancels a pending decrease', () => {
    dynacast.demand('p1', { consumers: 1, active: 1, maxSpatialLayer: 0 });
    vi.advanceTimersByTime(1000);
    expect(enabledOf(sent.at(-1))).toEqual([VideoQuality.LOW]);
    dynacast.demand('p1', { consumers: 1, active: 1, maxSpatialLayer: 2 });
    expect(sent).toHaveLength(2);
    expect(enabledOf(sent.at(-1))).toEqual([VideoQuality.LOW, VideoQuality.MEDIUM, VideoQuality.HIGH]);
    // A short dip (a consumer paused for a renegotiation) does not reach the publisher.
    dynacast.demand('p1', { consumers: 1, active: 0, maxSpatialLayer: -1 });
    vi.advanceTimersByTime(500);
    dynacast.demand('p1', { consumers: 1, active: 1, maxSpatialLayer: 2 });
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(2);
  });

  it('applies the latest need when the pause ends, keeps the lowest layer while anyone forwards, and replays its state', () => {
    dynacast.demand('p1', { consumers: 2, active: 2, maxSpatialLayer: 1 });
    vi.advanceTimersByTime(600);
    dynacast.demand('p1', { consumers: 2, active: 1, maxSpatialLayer: -1 });
    vi.advanceTimersByTime(400);
    expect(sent).toHaveLength(1);
    expect(enabledOf(sent[0])).toEqual([VideoQuality.LOW]);
    dynacast.replay();
    expect(sent).toHaveLength(2);
    expect(enabledOf(sent[1])).toEqual([VideoQuality.LOW]);
  });

  it('ignores single-layer and unknown or forgotten producers', () => {
    dynacast.track('p2', { ...track, rids: [undefined] });
    dynacast.demand('p2', { consumers: 0, active: 0, maxSpatialLayer: -1 });
    dynacast.demand('nope', { consumers: 0, active: 0, maxSpatialLayer: -1 });
    dynacast.demand('p1', { consumers: 0, active: 0, maxSpatialLayer: -1 });
    dynacast.forget('p1');
    vi.advanceTimersByTime(5000);
    expect(sent).toEqual([]);
  });
});
