// Entry of the E2EE frame-transform Worker (bundled to dist/client/e2ee-worker.js): binds
// CryptorWorker to the worker scope. Transforms arrive two ways: `rtctransform` events from
// RTCRtpScriptTransform (the standard API), and `attachStreams` messages carrying the streams of
// Chromium's createEncodedStreams() (the fallback). Both pipe frames through a FrameCryptor.
// Never logs keys or frame contents.

import { STATS_INTERVAL_MS } from './constants.ts';
import { CryptorWorker } from './CryptorWorker.ts';
import type { FrameCryptor } from './FrameCryptor.ts';
import { parseTransformOptions } from './messages.ts';
import type { WorkerEvent } from './types.ts';

declare const self: DedicatedWorkerGlobalScope;

function post(event: WorkerEvent): void {
  self.postMessage(event);
}

/** Frames go through `cryptor` one at a time, in order; a dropped frame is simply not enqueued. */
function pipe(readable: ReadableStream, writable: WritableStream, cryptor: FrameCryptor): void {
  readable
    .pipeThrough(
      new TransformStream<RTCEncodedVideoFrame | RTCEncodedAudioFrame, RTCEncodedVideoFrame | RTCEncodedAudioFrame>({
        async transform(frame, controller) {
          const out = await cryptor.transform(frame);
          if (out) controller.enqueue(out);
        },
      }),
    )
    .pipeTo(writable)
    // The pipe ends when its sender or receiver goes away; nothing is lost but this transform.
    .catch((error: unknown) => console.debug('[e2ee] transform ended', cryptor.side, error instanceof Error ? error.name : ''));
}

const worker = new CryptorWorker({
  post,
  pipeStreams: (readable, writable, cryptor) => {
    if (!(readable instanceof ReadableStream) || !(writable instanceof WritableStream)) {
      post({ kind: 'error', message: 'attachStreams needs a ReadableStream and a WritableStream' });
      return;
    }
    pipe(readable, writable, cryptor);
  },
});

self.onmessage = (event: MessageEvent<unknown>) => {
  void worker.handle(event.data);
};

self.onrtctransform = (event: RTCTransformEvent) => {
  const transformer = event.transformer;
  const options = parseTransformOptions(transformer.options);
  if (!options.ok) {
    // Not piping leaves the track silent: better than sending or decoding unencrypted media.
    post({ kind: 'error', message: `refused transform: ${options.faults.join('; ')}` });
    return;
  }
  const requestKeyFrame =
    options.value.side === 'send'
      ? () => void transformer.generateKeyFrame().catch((error: unknown) => console.debug('[e2ee] generateKeyFrame failed', String(error)))
      : () => void transformer.sendKeyFrameRequest().catch((error: unknown) => console.debug('[e2ee] sendKeyFrameRequest failed', String(error)));
  pipe(transformer.readable, transformer.writable, worker.createCryptor(options.value, requestKeyFrame));
};

setInterval(() => post({ kind: 'stats', stats: worker.stats() }), STATS_INTERVAL_MS);
