// Maps mediasoup's errors onto our vocabulary, so the edges never need to know
// mediasoup. mediasoup 3.19 throws three kinds (node/lib/errors.js and
// Channel.js): its own UnsupportedError and InvalidStateError (the Node layer:
// closed channel or object; told by name, as 3.19 does not export the classes),
// TypeError (parameters refused by ortc.ts or by
// the worker's MS_THROW_TYPE_ERROR), and plain Error for every other worker
// refusal (MS_THROW_ERROR), told apart only by message. The worker messages we
// map by text are listed in WORKER_REFUSALS below (sources: RtpListener.cpp,
// WebRtcTransport.cpp, Worker.cpp of 3.19.22) and each is exercised with a
// real worker in test/media/mediaErrors.test.ts, so a mediasoup upgrade that
// rewords one fails a test instead of turning a client mistake into INTERNAL.

import { InvalidStateError, ProtocolError, SfuError, UnsupportedError } from '../../common/lib/errors.ts';

/** A worker refusal recognised by its message, and what it means for the client. */
interface WorkerRefusal {
  readonly pattern: RegExp;
  readonly map: (error: Error) => SfuError;
}

/** Worker refusals (plain Error) that are client mistakes or races, not server faults. */
const WORKER_REFUSALS: readonly WorkerRefusal[] = [
  {
    // RtpListener: "ssrc already exists", "RTX ssrc already exists", "MID already exists",
    // "RID already exists ... and no MID is given": the new producer's RTP parameters clash
    // with one already on the transport.
    pattern: /(ssrc|MID|RID) already exists in RTP listener/,
    map: (error) =>
      new ProtocolError('BAD_REQUEST', 'RTP parameters clash with an existing producer (duplicate SSRC, RID or MID)', { cause: error }),
  },
  {
    // WebRtcTransport: connectTransport sent twice for one transport.
    pattern: /connect\(\) already called/,
    map: (error) => new InvalidStateError('transport is already connected', 'INVALID_STATE', { cause: error }),
  },
  {
    // Worker/Router/Transport lookups: the object closed in the worker (producer left, transport
    // closed) before this request reached it. A race, not a fault.
    pattern: /(Channel request handler with ID \S+|Producer|Consumer|Transport|Router|RtpObserver) not found/,
    map: (error) => new SfuError('GONE', 'the media object closed meanwhile', { cause: error }),
  },
];

/** Our error for a mediasoup error, or undefined when it is none we know (the edge answers INTERNAL). */
export function fromMediasoupError(error: unknown): SfuError | undefined {
  if (error instanceof SfuError) return error;
  if (error instanceof Error && error.name === 'UnsupportedError') {
    return new UnsupportedError('not supported by the media server', { cause: error });
  }
  if (error instanceof Error && error.name === 'InvalidStateError') {
    return new InvalidStateError('media object is closed', 'INVALID_STATE', { cause: error });
  }
  if (error instanceof TypeError) {
    return new ProtocolError('BAD_REQUEST', 'parameters refused by the media server', { cause: error });
  }
  if (error instanceof Error) {
    for (const refusal of WORKER_REFUSALS) if (refusal.pattern.test(error.message)) return refusal.map(error);
  }
  return undefined;
}
