import { describe, expect, it } from 'vitest';
import { parseRequest, peekRequestId } from '../../../../src/server/signalling/parseFrame.ts';
import { MAX_RESUME_BATCH, REQUEST_METHODS } from '../../../../src/common/protocol/messages.ts';

const frame = (value: unknown): string => JSON.stringify(value);

describe('parseRequest()', () => {
  it('parses a valid createTransport request into a typed value', () => {
    const { request, error } = parseRequest(frame({ type: 'request', id: 7, method: 'createTransport', data: { direction: 'recv' } }));
    expect(error).toBeUndefined();
    expect(request).toEqual({ id: 7, method: 'createTransport', data: { direction: 'recv' } });
  });

  it('refuses text that is not JSON with BAD_FRAME', () => {
    expect(parseRequest('{nope').error?.code).toBe('BAD_FRAME');
  });

  it.each([
    ['an array', [1, 2]],
    ['a number', 5],
    ['a missing id', { type: 'request', method: 'leave' }],
    ['a negative id', { type: 'request', id: -1, method: 'leave' }],
    ['a wrong type', { type: 'response', id: 1, method: 'leave' }],
    ['an extra envelope field', { type: 'request', id: 1, method: 'leave', extra: true }],
  ])('refuses %s with BAD_FRAME', (_name, value) => {
    expect(parseRequest(frame(value)).error?.code).toBe('BAD_FRAME');
  });

  it('refuses an unknown method with UNKNOWN_METHOD, and prototype names too', () => {
    expect(parseRequest(frame({ type: 'request', id: 1, method: 'dropTables' })).error?.code).toBe('UNKNOWN_METHOD');
    expect(parseRequest(frame({ type: 'request', id: 1, method: '__proto__' })).error?.code).toBe('UNKNOWN_METHOD');
    expect(parseRequest(frame({ type: 'request', id: 1, method: 'toString' })).error?.code).toBe('UNKNOWN_METHOD');
  });

  it('refuses unknown data fields, wrong types and out-of-range values with BAD_REQUEST listing each', () => {
    const { error } = parseRequest(
      frame({ type: 'request', id: 1, method: 'setConsumerPreferredLayers', data: { consumerId: 'c', spatialLayer: 9, evil: 1 } }),
    );
    expect(error?.code).toBe('BAD_REQUEST');
    expect(error?.message).toContain('data.evil: unknown field');
    expect(error?.message).toContain('data.spatialLayer: out of range');
  });

  it('accepts produce with encrypted: true (E2EE on) and refuses a non-boolean encrypted', () => {
    const produce = (encrypted: unknown) =>
      parseRequest(
        frame({
          type: 'request',
          id: 1,
          method: 'produce',
          data: { transportId: 't', kind: 'audio', source: 'microphone', encrypted, rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }] } },
        }),
      );
    expect(produce(true).error).toBeUndefined();
    expect(produce('yes').error?.message).toContain('encrypted');
  });

  it('refuses produce with malformed rtpParameters (payload type out of range, bad mime type)', () => {
    const { error } = parseRequest(
      frame({
        type: 'request',
        id: 1,
        method: 'produce',
        data: {
          transportId: 't',
          kind: 'video',
          source: 'camera',
          rtpParameters: { codecs: [{ mimeType: 'video VP8', payloadType: 300, clockRate: 90000 }] },
        },
      }),
    );
    expect(error?.code).toBe('BAD_REQUEST');
    expect(error?.message).toContain('payloadType');
    expect(error?.message).toContain('mimeType');
  });

  it('bounds ids and strings (transportId with spaces or 10 kB long)', () => {
    expect(parseRequest(frame({ type: 'request', id: 1, method: 'restartIce', data: { transportId: 'a b' } })).error?.code).toBe('BAD_REQUEST');
    expect(parseRequest(frame({ type: 'request', id: 1, method: 'restartIce', data: { transportId: 'a'.repeat(10_000) } })).error?.code).toBe('BAD_REQUEST');
  });

  it('treats missing data as {} for methods without fields', () => {
    expect(parseRequest(frame({ type: 'request', id: 3, method: 'leave' })).request).toEqual({ id: 3, method: 'leave', data: {} });
  });

  it('peekRequestId() recovers a usable id for error replies only when it is a safe integer', () => {
    expect(peekRequestId({ id: 4 })).toBe(4);
    expect(peekRequestId({ id: '4' })).toBeNull();
    expect(peekRequestId(null)).toBeNull();
  });

  it('parses resumeConsumers with up to MAX_RESUME_BATCH ids and refuses a longer list with BAD_REQUEST', () => {
    const ids = Array.from({ length: MAX_RESUME_BATCH }, (_, i) => `c${i}`);
    expect(parseRequest(frame({ type: 'request', id: 1, method: 'resumeConsumers', data: { consumerIds: ids } })).request?.data).toEqual({ consumerIds: ids });
    const tooMany = parseRequest(frame({ type: 'request', id: 2, method: 'resumeConsumers', data: { consumerIds: [...ids, 'x'] } }));
    expect(tooMany.error?.code).toBe('BAD_REQUEST');
  });

  it('every catalogue method has a handler', async () => {
    const { HANDLERS } = await import('../../../../src/server/signalling/handlers.ts');
    expect(Object.keys(HANDLERS).sort()).toEqual([...REQUEST_METHODS].sort());
  });
});
