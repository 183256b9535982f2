// Turns one raw WebSocket frame into a typed request, or a ProtocolError with
// a stable code. The frame size was bounded by ws (maxPayload) before this.

import { ProtocolError } from '../../common/lib/errors.ts';
import { REQUESTS, requestEnvelopeSchema, type RequestData, type RequestMethod } from '../../common/protocol/messages.ts';
import { parseWith } from '../../common/protocol/schema.ts';

/** A parsed request of some method. */
export type ParsedRequest = { [M in RequestMethod]: { id: number; method: M; data: RequestData<M> } }[RequestMethod];

/** Returns the request id if the frame has a usable one, for error replies. */
export function peekRequestId(raw: unknown): number | null {
  if (typeof raw === 'object' && raw !== null && 'id' in raw) {
    const id = (raw as { id: unknown }).id;
    if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  }
  return null;
}

/** Parses JSON text into a request; throws ProtocolError (BAD_FRAME, BAD_REQUEST, UNKNOWN_METHOD). */
export function parseRequest(text: string): { raw: unknown; request?: ParsedRequest; error?: ProtocolError } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { raw: undefined, error: new ProtocolError('BAD_FRAME', 'frame is not valid JSON') };
  }
  const envelope = parseWith(requestEnvelopeSchema, raw, 'frame');
  if (!envelope.ok) {
    return { raw, error: new ProtocolError('BAD_FRAME', `malformed request: ${envelope.faults.join('; ')}`) };
  }
  const { id, method, data } = envelope.value;
  if (!Object.hasOwn(REQUESTS, method)) {
    return { raw, error: new ProtocolError('UNKNOWN_METHOD', `unknown method ${method.slice(0, 64)}`) };
  }
  const schema = REQUESTS[method as RequestMethod];
  const parsed = parseWith(schema, data ?? {}, 'data');
  if (!parsed.ok) {
    return { raw, error: new ProtocolError('BAD_REQUEST', parsed.faults.slice(0, 10).join('; ')) };
  }
  return { raw, request: { id, method, data: parsed.value } as ParsedRequest };
}
