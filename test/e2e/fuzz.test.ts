// A bounded fuzz of the WebSocket endpoint while a real two-party call runs:
// random bytes, garbage text, huge frames, wrong types, requests before join
// and unknown ids. The server must stay up, answer every parseable request
// with a stable error code, and the concurrent call must keep decoding.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { REQUEST_METHODS, WIRE_ERROR_CODES } from '../../src/common/protocol/messages.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { startDevNode } from '../tools/e2eHarness.ts';
import { openParticipant, receivesFrom, type Participant } from '../tools/callPage.ts';
import { TestClient } from '../tools/wsClient.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { waitForExit } from '../tools/workerPid.ts';

const FUZZ_DURATION_LIMIT_MS = 30_000;
const serverLog: string[] = [];
let node: SfuNode;
let browser: BrowserHandle;
let pids: number[] = [];
let pageUrl = '';

/** Deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261129;
const random = prng(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

function randomValue(depth = 0): unknown {
  const kinds = depth > 2 ? ['num', 'str', 'bool', 'null'] : ['num', 'str', 'bool', 'null', 'arr', 'obj'];
  switch (pick(kinds)) {
    case 'num':
      return pick([0, -1, 1e308, 3.5, Number.MAX_SAFE_INTEGER + 2, 127, 128]);
    case 'str':
      return pick(['', 'x', '__proto__', 'constructor', 'a'.repeat(300), 'send', 'recv', '💥', '../../etc']);
    case 'bool':
      return random() < 0.5;
    case 'null':
      return null;
    case 'arr':
      return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 4) }, () => [pick(['transportId', 'producerId', 'consumerId', 'kind', 'rtpParameters', 'direction', 'dtlsParameters', '__proto__', 'x']), randomValue(depth + 1)]),
      );
  }
}

beforeAll(async () => {
  ({ node, workerPids: pids, pageUrl } = await startDevNode(serverLog, { signalling: { maxFrameBytes: 16_384, maxProtocolFaults: 50 } }, 'info'));
  browser = await launchBrowser();
});


afterAll(async () => {
  await browser?.close();
  await node?.stop();
  await waitForExit(pids);
});

describe('WebSocket fuzz during a call', () => {
  it(`the server stays up and the call keeps decoding (seed ${SEED})`, async () => {
    const alice: Participant = await openParticipant(browser, pageUrl, 'alice');
    const bob: Participant = await openParticipant(browser, pageUrl, 'bob');
    await alice.join({ conference: 'fuzzcall', video: { width: 320, height: 240 }, simulcast: false });
    await bob.join({ conference: 'fuzzcall', video: { width: 320, height: 240 }, simulcast: false });
    await waitFor(() => receivesFrom(alice, 'bob'), { timeoutMs: 45_000, description: 'alice decodes bob' });
    await waitFor(() => receivesFrom(bob, 'alice'), { timeoutMs: 45_000, description: 'bob decodes alice' });
    const before = await receivesFrom(alice, 'bob');

    const deadline = Date.now() + FUZZ_DURATION_LIMIT_MS;
    const clients: TestClient[] = [];
    const open = async (query: string): Promise<TestClient> => {
      const client = await TestClient.open(`${node.wsUrl}?${query}`);
      clients.push(client);
      return client;
    };
    let sent = 0;

    // 1. Random bytes (binary) and garbage text: each fault is answered BAD_FRAME, then the socket is closed for abuse.
    for (let round = 0; round < 4 && Date.now() < deadline; round++) {
      const client = await open('conference=fuzzcall');
      for (let i = 0; i < 60; i++, sent++) {
        if (i % 2 === 0) client.sendRaw(randomBytes(1 + Math.floor(random() * 2000)));
        else client.sendRaw(randomBytes(1 + Math.floor(random() * 200)).toString('latin1'));
      }
      expect(await client.closed(10_000)).toBe(4002);
    }

    // 2. Huge frames: closed with 1009 before parsing.
    for (let i = 0; i < 5; i++, sent++) {
      const client = await open('conference=fuzzcall');
      client.sendRaw('{"type":"request","id":1,"method":"join","data":' + JSON.stringify('x'.repeat(20_000)) + '}');
      expect(await client.closed(10_000)).toBe(1009);
    }

    // 3. Well-framed requests of every method with random data, before and after join, unknown ids.
    const replies: Array<{ code?: string; ok: boolean }> = [];
    for (let round = 0; round < 6 && Date.now() < deadline; round++) {
      const client = await open(`conference=fuzzcall&participant=fuzzer${round}`);
      if (round % 2 === 1) {
        const joined = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES, autoSubscribe: round % 4 === 1 });
        expect(joined.ok).toBe(true);
        await client.request('createTransport', { direction: 'recv' });
      }
      for (let i = 0; i < 30 && client.closeCode === undefined; i++, sent++) {
        const method = random() < 0.1 ? pick(['nope', 'toString', '__proto__', '']) : pick(REQUEST_METHODS.filter((m) => m !== 'leave'));
        const data = random() < 0.2 ? { transportId: 'unknown-id', producerId: 'unknown-id', consumerId: 'unknown-id' } : randomValue();
        try {
          const reply = await client.request(method, data, 5000);
          replies.push({ ok: reply.ok, ...(reply.error ? { code: reply.error.code } : {}) });
        } catch {
          break; // closed for abuse: a new client follows
        }
      }
    }
    console.log(`[fuzz] ${sent} frames sent, ${replies.length} replies, ${clients.length} sockets`);
    for (const reply of replies.filter((r) => !r.ok)) {
      expect(WIRE_ERROR_CODES).toContain(reply.code);
    }
    expect(replies.some((r) => r.code === 'BAD_REQUEST')).toBe(true);
    expect(replies.some((r) => r.code === 'NOT_JOINED' || r.code === 'UNKNOWN_METHOD')).toBe(true);
    for (const client of clients) client.close();

    // The server is up and the call still decodes new frames.
    const health = await fetch(`http://127.0.0.1:${node.port}/healthz`);
    expect(health.status).toBe(200);
    await waitFor(
      async () => {
        const now = await receivesFrom(alice, 'bob');
        return now.framesDecoded > before.framesDecoded + 30 ? now : undefined;
      },
      { timeoutMs: 20_000, description: 'alice keeps decoding bob after the fuzz' },
    );
    await waitFor(() => receivesFrom(bob, 'alice'), { timeoutMs: 10_000, description: 'bob still decodes alice' });
    expect(serverLog.some((line) => line.includes('"level":"error"') && line.includes('request failed unexpectedly'))).toBe(false);
    await alice.leave();
    await bob.leave();
  });
});
