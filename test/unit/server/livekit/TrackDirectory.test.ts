// Track sids across sessions: a subscriber told of a producer while its LiveKit publisher is
// still inside produce() gets the announced TrackInfo (same sid, mime type), never a second
// one; native producers get a built info once; closed producers are forgotten.

import { describe, expect, it } from 'vitest';
import { TrackDirectory } from '../../../../src/server/livekit/TrackDirectory.ts';
import { Encryption_Type, TrackInfo, TrackSource, TrackType } from '../../../../src/server/livekit/wire.ts';

describe('TrackDirectory', () => {
  it('hands an announced track to subscribers told before produce() returned', () => {
    const directory = new TrackDirectory();
    const announced = new TrackInfo({ sid: 'TR_announced', type: TrackType.VIDEO, source: TrackSource.CAMERA, mimeType: 'video/VP8' });
    directory.announce('@a:x:D', 'camera', announced);
    const seen = directory.infoFor({ producerId: 'p1', participantId: '@a:x:D', kind: 'video', source: 'camera', paused: false });
    expect(seen).toBe(announced);
    directory.publish('p1', announced);
    directory.settle('@a:x:D', 'camera');
    expect(directory.infoFor({ producerId: 'p1', kind: 'video', source: 'camera', paused: false }).sid).toBe('TR_announced');
    expect(directory.producerOf('TR_announced')).toBe('p1');
  });

  it('builds one info for a native producer and forgets it when it closes', () => {
    const directory = new TrackDirectory();
    const first = directory.infoFor({ producerId: 'n1', participantId: 'native', kind: 'audio', source: 'microphone', paused: true });
    expect(first).toMatchObject({ type: TrackType.AUDIO, source: TrackSource.MICROPHONE, muted: true });
    expect(directory.infoFor({ producerId: 'n1', kind: 'audio', source: 'microphone', paused: true })).toBe(first);
    directory.forget('n1');
    expect(directory.size).toBe(0);
    expect(directory.producerOf(first.sid)).toBeUndefined();
  });

  it('gives a native producer\'s track its source and the mime type of its codec, once a consumer names it', () => {
    const directory = new TrackDirectory();
    const bare = directory.infoFor({ producerId: 'n2', participantId: '@w:x:DEV', kind: 'video', source: 'camera', paused: false });
    expect(bare.mimeType).toBe('');
    const named = directory.infoFor({ producerId: 'n2', participantId: '@w:x:DEV', kind: 'video', source: 'camera', paused: false, mimeType: 'video/VP8' });
    expect(named).toBe(bare);
    expect(named).toMatchObject({ source: TrackSource.CAMERA, type: TrackType.VIDEO, mimeType: 'video/VP8' });
    const audio = directory.infoFor({ producerId: 'n3', kind: 'audio', source: 'microphone', paused: false, mimeType: 'audio/opus' });
    expect(audio).toMatchObject({ source: TrackSource.MICROPHONE, mimeType: 'audio/opus' });
  });

  it('announces a producer its publisher encrypts end to end as GCM, so livekit-client decrypts it', () => {
    const directory = new TrackDirectory();
    const encrypted = directory.infoFor({ producerId: 'n4', participantId: '@w:x:DEV', kind: 'video', source: 'camera', paused: false, encrypted: true });
    expect(encrypted.encryption).toBe(Encryption_Type.GCM);
    const plain = directory.infoFor({ producerId: 'n5', participantId: '@w:x:DEV', kind: 'audio', source: 'microphone', paused: false });
    expect(plain.encryption).toBe(Encryption_Type.NONE);
  });
});
