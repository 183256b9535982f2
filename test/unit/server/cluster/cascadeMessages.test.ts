// The cascade's messages between nodes are external input: each is parsed into a typed
// value or refused with a reason; nothing malformed reaches a link or a conference.

import { describe, expect, it } from 'vitest';
import { CascadeMessageError, MAX_CASCADE_PEERS, parseCascadeMessage } from '../../../../src/server/cluster/cascadeMessages.ts';

const srtp = { cryptoSuite: 'AEAD_AES_256_GCM', keyBase64: 'YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY3ODkwYWJjZGVmZ2hpams=' };
const rtpParameters = {
  codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [] }],
  encodings: [{ ssrc: 1234 }],
  headerExtensions: [],
};
const publication = { producerId: 'p1', kind: 'video', source: 'camera', encrypted: true, paused: false, rtpParameters };
const peers = (extra: Record<string, unknown> = {}) => ({
  v: 1,
  type: 'peers',
  room: '!r:example.org',
  from: 'node-a',
  link: '!r:example.org|1',
  seq: 3,
  peers: [{ participantId: '@a:example.org:DEV', displayName: 'A', joinedAtMs: 1_700_000_000_000, publications: [publication] }],
  ...extra,
});

function refusal(value: unknown): string {
  try {
    parseCascadeMessage(value);
  } catch (error) {
    expect(error).toBeInstanceOf(CascadeMessageError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('parseCascadeMessage', () => {
  it('reads each message type', () => {
    expect(parseCascadeMessage({ v: 1, type: 'hello', room: '!r:x', from: 'a' })).toEqual({ v: 1, type: 'hello', room: '!r:x', from: 'a' });
    expect(parseCascadeMessage({ v: 1, type: 'offer', room: '!r:x', from: 'a', link: 'l', ip: '10.0.0.1', port: 20000, srtp })).toMatchObject({ type: 'offer', port: 20000, srtp });
    expect(parseCascadeMessage({ v: 1, type: 'bye', room: '!r:x', from: 'a' })).toEqual({ v: 1, type: 'bye', room: '!r:x', from: 'a' });
    const parsed = parseCascadeMessage(peers());
    expect(parsed.type === 'peers' && parsed.peers[0]!.publications[0]!.rtpParameters).toEqual(rtpParameters);
  });

  it('refuses other versions, unknown types and missing fields', () => {
    expect(refusal({ v: 2, type: 'hello', room: 'r', from: 'a' })).toMatch(/version/);
    expect(refusal({ v: 1, type: 'merge', room: 'r', from: 'a' })).toMatch(/unknown cascade message type/);
    expect(refusal({ v: 1, type: 'hello', from: 'a' })).toMatch(/room/);
    expect(refusal('hello')).toMatch(/not an object/);
  });

  it('refuses a bad address, port or SRTP key', () => {
    const offer = { v: 1, type: 'answer', room: 'r', from: 'a', link: 'l', ip: '10.0.0.1', port: 20000, srtp };
    expect(refusal({ ...offer, port: 70000 })).toMatch(/port/);
    expect(refusal({ ...offer, srtp: { ...srtp, cryptoSuite: 'NULL' } })).toMatch(/cryptoSuite/);
    expect(refusal({ ...offer, srtp: { ...srtp, keyBase64: 'not base64!' } })).toMatch(/base64/);
  });

  it('refuses malformed publications and oversized snapshots', () => {
    expect(refusal(peers({ seq: -1 }))).toMatch(/seq/);
    const bad = (change: Record<string, unknown>) => peers({ peers: [{ participantId: 'x', joinedAtMs: 1, publications: [{ ...publication, ...change }] }] });
    expect(refusal(bad({ kind: 'data' }))).toMatch(/kind/);
    expect(refusal(bad({ source: 'webcam' }))).toMatch(/source/);
    expect(refusal(bad({ rtpParameters: { codecs: [], encodings: [{}] } }))).toMatch(/codecs/);
    expect(refusal(bad({ rtpParameters: { ...rtpParameters, encodings: 'all' } }))).toMatch(/encodings/);
    expect(refusal(peers({ peers: new Array(MAX_CASCADE_PEERS + 1).fill({ participantId: 'x', joinedAtMs: 1, publications: [] }) }))).toMatch(/at most/);
  });
});
