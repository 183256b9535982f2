// Per-frame cost of the E2EE frame cryptor (FrameCryptor through CryptorWorker, exactly the code
// the browser worker runs): encrypt on a camera sender and decrypt on a receiver of VP8 delta
// frames of 1200 B and 30 kB. Runs in two places: bundled as a browser Worker by
// test/e2e/e2ee.test.ts (post `{ sizes, iterations }`, get `FrameBenchResult[]` back), and
// standalone in Node: `node test/bench/e2eeFrame.ts [iterations]`. Prints; asserts nothing.

import { CryptorWorker } from '../../src/browser/e2ee/worker/CryptorWorker.ts';
import type { EncodedFrame } from '../../src/browser/e2ee/worker/FrameCryptor.ts';

/** Frame sizes the issue asks about: a small frame (about one packet) and a large key-frame-sized one. */
export const FRAME_BENCH_SIZES: readonly number[] = [1200, 30_000];

/**
 * Timings of one frame size, in microseconds per frame. Browsers coarsen `performance.now()`
 * (100 µs without cross-origin isolation), so frames are timed in batches of BATCH_FRAMES and
 * the figures are per-frame means of batches: the median batch and the slowest one.
 */
export interface FrameBenchResult {
  readonly bytes: number;
  readonly frames: number;
  readonly encryptMedianUs: number;
  readonly encryptWorstBatchUs: number;
  readonly decryptMedianUs: number;
  readonly decryptWorstBatchUs: number;
}

const WARMUP_FRAMES = 100;
const BATCH_FRAMES = 25;

function frameOf(bytes: Uint8Array): EncodedFrame {
  return { data: bytes.slice().buffer, type: 'delta', getMetadata: () => ({ mimeType: 'video/VP8' }) };
}

function perFrameUs(batchesMs: number[]): { median: number; worst: number } {
  const sorted = batchesMs.map((ms) => (ms * 1000) / BATCH_FRAMES).sort((a, b) => a - b);
  const round = (us: number) => Math.round(us * 10) / 10;
  return { median: round(sorted[Math.floor(sorted.length / 2)] ?? 0), worst: round(sorted[sorted.length - 1] ?? 0) };
}

/**
 * Encrypts then decrypts about `iterations` frames of each size, one at a time as a transform
 * does (each batch encrypts BATCH_FRAMES frames, then decrypts them).
 */
export async function runFrameBench(sizes: readonly number[], iterations: number): Promise<FrameBenchResult[]> {
  const ignore = () => undefined;
  const sender = new CryptorWorker({ post: ignore });
  const receiver = new CryptorWorker({ post: ignore });
  const key = globalThis.crypto.getRandomValues(new Uint8Array(16));
  await sender.handle({ kind: 'setOwnKey', keyIndex: 0, key });
  await receiver.handle({ kind: 'setPeerKey', participantId: 'bench', keyIndex: 0, key });
  const encryptor = sender.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
  const decryptor = receiver.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'bench' });
  const results: FrameBenchResult[] = [];
  for (const bytes of sizes) {
    const plain = new Uint8Array(bytes);
    for (let offset = 0; offset < bytes; offset += 65_536) globalThis.crypto.getRandomValues(plain.subarray(offset, offset + 65_536));
    plain[0] = 0x01; // VP8 delta frame: P bit set, 3-byte clear prefix
    const batches = Math.max(1, Math.round(iterations / BATCH_FRAMES));
    const encryptMs: number[] = [];
    const decryptMs: number[] = [];
    for (let batch = -Math.ceil(WARMUP_FRAMES / BATCH_FRAMES); batch < batches; batch++) {
      const inputs = Array.from({ length: BATCH_FRAMES }, () => frameOf(plain));
      const sealed: Uint8Array[] = [];
      const t0 = performance.now();
      for (const frame of inputs) {
        const out = await encryptor.transform(frame);
        if (!out) throw new Error('encrypt dropped a frame');
        sealed.push(new Uint8Array(out.data));
      }
      const t1 = performance.now();
      const received = sealed.map(frameOf);
      const t2 = performance.now();
      for (const frame of received) {
        const out = await decryptor.transform(frame);
        if (!out || out.data.byteLength !== bytes) throw new Error('decrypt dropped a frame');
      }
      const t3 = performance.now();
      if (batch < 0) continue;
      encryptMs.push(t1 - t0);
      decryptMs.push(t3 - t2);
    }
    const enc = perFrameUs(encryptMs);
    const dec = perFrameUs(decryptMs);
    results.push({
      bytes,
      frames: batches * BATCH_FRAMES,
      encryptMedianUs: enc.median,
      encryptWorstBatchUs: enc.worst,
      decryptMedianUs: dec.median,
      decryptWorstBatchUs: dec.worst,
    });
  }
  return results;
}

/** One line per frame size. */
export function formatFrameBench(where: string, results: readonly FrameBenchResult[]): string[] {
  return results.map(
    (r) =>
      `${where}: ${r.bytes} B x${r.frames}: encrypt ${r.encryptMedianUs} µs/frame (slowest batch ${r.encryptWorstBatchUs}), ` +
      `decrypt ${r.decryptMedianUs} µs/frame (slowest batch ${r.decryptWorstBatchUs})`,
  );
}

interface WorkerScope {
  onmessage: ((event: { readonly data: { sizes?: number[]; iterations?: number } }) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as { WorkerGlobalScope?: unknown; process?: { argv: string[] } };
if (scope.WorkerGlobalScope !== undefined) {
  const worker = globalThis as unknown as WorkerScope;
  worker.onmessage = (event) => {
    runFrameBench(event.data.sizes ?? FRAME_BENCH_SIZES, event.data.iterations ?? 500).then(
      (results) => worker.postMessage({ ok: true, results }),
      (error: unknown) => worker.postMessage({ ok: false, error: String(error) }),
    );
  };
} else if (scope.process?.argv[1]?.endsWith('e2eeFrame.ts')) {
  const iterations = Number(scope.process.argv[2] ?? 2000);
  for (const line of formatFrameBench('node', await runFrameBench(FRAME_BENCH_SIZES, iterations))) console.log(line);
}
