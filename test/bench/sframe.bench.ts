// Micro-benchmark of per-frame SFrame cost on WebCrypto: encrypt and decrypt of 1200-byte and
// 30 kB frames under suites 4 (AES-128-GCM) and 1 (AES-128-CTR + HMAC-SHA256-80), one frame at a
// time as a frame transform would. Prints a table; asserts nothing (timings are reports).
// Run: node_modules/.bin/node test/bench/sframe.bench.ts [iterations]

import { AES_128_CTR_HMAC_SHA256_80, AES_128_GCM_SHA256_128 } from '../../src/common/e2ee/constants.ts';
import { decryptFrame, encryptFrame } from '../../src/common/e2ee/frame.ts';
import { deriveSFrameKey, sframeDecrypt, sframeEncrypt } from '../../src/common/e2ee/sframe.ts';

const FRAME_BYTES = [1200, 30_000] as const;
const SUITES = [
  { id: AES_128_GCM_SHA256_128, name: '4 AES_128_GCM_SHA256_128' },
  { id: AES_128_CTR_HMAC_SHA256_80, name: '1 AES_128_CTR_HMAC_SHA256_80' },
] as const;
const ITERATIONS = Number(process.argv[2] ?? 2000);
const WARMUP = 200;

const ROUNDS = 10;

interface Stats {
  minUs: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

function stats(samplesMs: number[]): Stats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 1000;
  return { minUs: at(0), meanUs: (samplesMs.reduce((a, b) => a + b, 0) / samplesMs.length) * 1000, p50Us: at(0.5), p99Us: at(0.99) };
}

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) globalThis.crypto.getRandomValues(out.subarray(offset, offset + 65_536));
  return out;
}

interface Case {
  readonly suite: string;
  readonly bytes: number;
  readonly operation: string;
  readonly run: (i: number) => Promise<unknown>;
  readonly samplesMs: number[];
}

const cases: Case[] = [];
for (const suite of SUITES) {
  const key = await deriveSFrameKey(suite.id, randomBytes(16), 1n);
  const lookup = () => key;
  for (const bytes of FRAME_BYTES) {
    // A VP8 delta frame: P bit set, so the clear prefix is 3 bytes.
    const frame = randomBytes(bytes);
    frame[0] = 0x01;
    const metadata = frame.subarray(0, 3);
    const sealed = await sframeEncrypt(key, 0n, metadata, frame.subarray(3));
    const framed = await encryptFrame(key, 0n, 'video/VP8', frame);
    const add = (operation: string, run: (i: number) => Promise<unknown>) =>
      cases.push({ suite: suite.name, bytes, operation, run, samplesMs: [] });
    add('sframeEncrypt', (i) => sframeEncrypt(key, BigInt(i + 1), metadata, frame.subarray(3)));
    add('sframeDecrypt', () => sframeDecrypt(lookup, metadata, sealed));
    add('encryptFrame (VP8)', (i) => encryptFrame(key, BigInt(i + 1), 'video/VP8', frame));
    add('decryptFrame (VP8)', () => decryptFrame(lookup, 'video/VP8', framed));
  }
}

// Cases take turns in rounds, so background load spreads over all of them rather than one.
for (const c of cases) for (let i = 0; i < WARMUP; i++) await c.run(i);
const perRound = Math.ceil(ITERATIONS / ROUNDS);
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    for (let i = 0; i < perRound; i++) {
      const start = performance.now();
      await c.run(WARMUP + round * perRound + i);
      c.samplesMs.push(performance.now() - start);
    }
  }
}

const rows = cases.map((c) => {
  const s = stats(c.samplesMs);
  return [c.suite, String(c.bytes), c.operation, s.minUs.toFixed(1), s.p50Us.toFixed(1), s.meanUs.toFixed(1), s.p99Us.toFixed(1)];
});

const head = ['suite', 'bytes', 'operation', 'min µs', 'p50 µs', 'mean µs', 'p99 µs'];
const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
const line = (cells: string[]) => cells.map((cell, c) => (c >= 3 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join('  ');
console.log(`SFrame per-frame cost, Node ${process.version}: ${perRound * ROUNDS} frames per row after ${WARMUP} warm-up, one at a time, rows interleaved in ${ROUNDS} rounds`);
console.log(line(head));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));
