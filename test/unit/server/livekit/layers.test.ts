// UpdateTrackSettings → mediasoup preferred spatial layer: by the element width against the
// publisher's announced layers, else by quality; bounded by the consumer's layers.

import { describe, expect, it } from 'vitest';
import { ConnectionQuality, VideoLayer, VideoQuality } from '@livekit/protocol';
import { connectionQualityOf, preferredSpatialLayer, spatialLayerCount } from '../../../../src/server/livekit/policy.ts';

const layers = [
  new VideoLayer({ quality: VideoQuality.LOW, width: 320, height: 180 }),
  new VideoLayer({ quality: VideoQuality.MEDIUM, width: 640, height: 360 }),
  new VideoLayer({ quality: VideoQuality.HIGH, width: 1280, height: 720 }),
];

describe('spatialLayerCount()', () => {
  it('reads L<n> of the scalability mode, 1 without one', () => {
    expect(spatialLayerCount('L3T3')).toBe(3);
    expect(spatialLayerCount('L2T3_KEY')).toBe(2);
    expect(spatialLayerCount(undefined)).toBe(1);
  });
});

describe('preferredSpatialLayer()', () => {
  it('picks the smallest layer at least as wide as the element', () => {
    expect(preferredSpatialLayer({ width: 200, height: 0, quality: VideoQuality.HIGH }, { layers }, 3)).toBe(0);
    expect(preferredSpatialLayer({ width: 500, height: 0, quality: VideoQuality.HIGH }, { layers }, 3)).toBe(1);
    expect(preferredSpatialLayer({ width: 4000, height: 0, quality: VideoQuality.LOW }, { layers }, 3)).toBe(2);
    expect(preferredSpatialLayer({ width: 4000, height: 0, quality: VideoQuality.LOW }, { layers }, 2)).toBe(1);
  });

  it('maps quality without a width: LOW and OFF lowest, MEDIUM middle, HIGH highest', () => {
    expect(preferredSpatialLayer({ width: 0, height: 0, quality: VideoQuality.LOW }, { layers }, 3)).toBe(0);
    expect(preferredSpatialLayer({ width: 0, height: 0, quality: VideoQuality.MEDIUM }, { layers: [] }, 3)).toBe(1);
    expect(preferredSpatialLayer({ width: 0, height: 0, quality: VideoQuality.HIGH }, { layers: [] }, 2)).toBe(1);
  });
});

describe('connectionQualityOf()', () => {
  it('maps mediasoup scores to LiveKit qualities', () => {
    expect([10, 8, 7, 5, 4, 0].map(connectionQualityOf)).toEqual([
      ConnectionQuality.EXCELLENT,
      ConnectionQuality.EXCELLENT,
      ConnectionQuality.GOOD,
      ConnectionQuality.GOOD,
      ConnectionQuality.POOR,
      ConnectionQuality.POOR,
    ]);
  });
});
