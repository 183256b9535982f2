// Frames of the livekit edge: binary protobuf only, bounded, every request case named or
// refused; responses round-trip through the official generated classes.

import { describe, expect, it } from 'vitest';
import { JoinResponse, Ping, SignalRequest, SignalResponse, StoreDataBlobRequest, TrickleRequest } from '@livekit/protocol';
import { WireError, decodeRequest, encodeResponse, nextParticipantVersion, participantSid } from '../../../../src/server/livekit/wire.ts';

const frame = (request: SignalRequest) => Buffer.from(request.toBinary());

describe('decodeRequest()', () => {
  it('decodes a known request', () => {
    const decoded = decodeRequest(frame(new SignalRequest({ message: { case: 'pingReq', value: new Ping({ timestamp: 42n }) } })), true, 1024);
    expect(decoded.case).toBe('pingReq');
    expect(decoded.case === 'pingReq' && decoded.value.timestamp).toBe(42n);
  });

  it('refuses text frames, oversized frames, bytes that do not decode, empty and unsupported requests', () => {
    const trickle = frame(new SignalRequest({ message: { case: 'trickle', value: new TrickleRequest({ candidateInit: 'x'.repeat(2000) }) } }));
    expect(() => decodeRequest(trickle, false, 4096)).toThrow(/text frames/);
    expect(() => decodeRequest(trickle, true, 1024)).toThrow(/exceeds 1024/);
    expect(() => decodeRequest(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), true, 1024)).toThrow(WireError);
    expect(() => decodeRequest(Buffer.alloc(0), true, 1024)).toThrow(/without a message/);
    const blob = frame(new SignalRequest({ message: { case: 'storeDataBlobRequest', value: new StoreDataBlobRequest({}) } }));
    expect(() => decodeRequest(blob, true, 1024)).toThrow(/not supported/);
  });
});

describe('encodeResponse()', () => {
  it('writes a SignalResponse livekit-client can read', () => {
    const bytes = encodeResponse({ case: 'join', value: new JoinResponse({ serverVersion: '1.9.0', pingInterval: 5, pingTimeout: 15 }) });
    const back = SignalResponse.fromBinary(bytes);
    expect(back.message.case).toBe('join');
    expect(back.message.case === 'join' && back.message.value.serverVersion).toBe('1.9.0');
  });
});

describe('participantSid()', () => {
  it('is stable per conference and participant, and differs between them', () => {
    expect(participantSid('!room:x', '@a:x:D')).toBe(participantSid('!room:x', '@a:x:D'));
    expect(participantSid('!room:x', '@a:x:D')).not.toBe(participantSid('!other:x', '@a:x:D'));
    expect(participantSid('!room:x', '@a:x:D')).toMatch(/^PA_[A-Za-z0-9_-]{16}$/);
  });
});

describe('nextParticipantVersion()', () => {
  it('grows across calls and with time, so a reconnected client never sees an older version', () => {
    const a = nextParticipantVersion(1_800_000_000_000);
    const b = nextParticipantVersion(1_800_000_000_000);
    const c = nextParticipantVersion(1_800_000_060_000);
    expect(b).toBeGreaterThan(a);
    expect(c).toBeGreaterThan(b);
    expect(c).toBeLessThan(2 ** 32);
  });
});
