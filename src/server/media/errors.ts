// Maps mediasoup's own error classes onto our vocabulary, so the edges never
// need to know mediasoup. TypeError from mediasoup means the peer sent
// parameters it rejected (bad RTP parameters, unknown codec payload type).

import mediasoup from 'mediasoup';
import { InvalidStateError, ProtocolError, SfuError, UnsupportedError } from '../../common/lib/errors.ts';

/** Our error for a mediasoup error, or undefined when it is not one of mediasoup's. */
export function fromMediasoupError(error: unknown): SfuError | undefined {
  if (error instanceof SfuError) return error;
  if (error instanceof mediasoup.types.UnsupportedError) {
    return new UnsupportedError('not supported by the media server', { cause: error });
  }
  if (error instanceof mediasoup.types.InvalidStateError) {
    return new InvalidStateError('media object is closed', 'INVALID_STATE', { cause: error });
  }
  if (error instanceof TypeError) {
    return new ProtocolError('BAD_REQUEST', 'parameters refused by the media server', { cause: error });
  }
  return undefined;
}
