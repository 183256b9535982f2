// The signalling edge against a real SFU node on loopback: subprotocol,
// admission, error codes, abuse limits, oversize frames, join timeout,
// replacement and drain, each seen from a ws client.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { CLOSE_CODES } from '../../src/common/protocol/closeCodes.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { TestClient } from '../tools/wsClient.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const logLines: string[] = [];
let node: SfuNode;

function url(query: string): string {
  return `${node.wsUrl}?${query}`;
}

async function joined(conference: string, participant: string): Promise<TestClient> {
  const client = await TestClient.open(url(`conference=${conference}&participant=${participant}`));
  const reply = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES });
  expect(reply.ok).toBe(true);
  return client;
}

beforeAll(async () => {
  const config = loadConfig({
    overrides: {
      server: { port: 0 },
      auth: { mode: 'none' },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      signalling: { maxFrameBytes: 4096, ratePerSecond: 20, rateBurst: 40, maxProtocolFaults: 5, joinTimeoutMs: 1000 },
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }) });
});

afterAll(async () => {
  await node?.stop();
});

describe('signalling over WebSocket', () => {
  it('GET /healthz and /readyz answer 200 while workers are up', async () => {
    const base = node.wsUrl.replace('ws://', 'http://').replace('/ws', '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, problems: [] });
  });

  it('a socket without a subprotocol is closed with 4008; one offering only another protocol fails the handshake', async () => {
    const client = await TestClient.open(url('conference=a'), []);
    expect(await client.closed()).toBe(CLOSE_CODES.UNSUPPORTED_PROTOCOL);
    expect(client.closeReason).toBe('use subprotocol matrix-sfu.v1');
    await expect(TestClient.open(url('conference=a'), ['matrix-sfu.v0'])).rejects.toThrow('Server sent no subprotocol');
  });

  it('admission refuses malformed conference names with 4001', async () => {
    const client = await TestClient.open(url('conference=' + encodeURIComponent('bad name with spaces')));
    expect(await client.closed()).toBe(CLOSE_CODES.UNAUTHORIZED);
  });

  it('a request before join is answered NOT_JOINED; join returns the participant id; leave closes normally', async () => {
    const client = await TestClient.open(url('conference=c1&participant=p1'));
    const early = await client.request('createTransport', { direction: 'send' });
    expect(early).toMatchObject({ ok: false, error: { code: 'NOT_JOINED' } });
    const caps = await client.request('getRouterRtpCapabilities');
    expect(caps.ok).toBe(true);
    const join = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES, displayName: 'Anna' });
    expect(join).toMatchObject({ ok: true, data: { participantId: 'p1', peers: [] } });
    expect((await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES })).error?.code).toBe('ALREADY_JOINED');
    expect((await client.request('leave')).ok).toBe(true);
    expect(await client.closed()).toBe(CLOSE_CODES.NORMAL);
  });

  it('malformed frames get stable error codes, and too many faults close the socket with 4002', async () => {
    const client = await TestClient.open(url('conference=c2&participant=p2'));
    client.sendRaw('not json');
    client.sendRaw(JSON.stringify({ type: 'request', id: 1, method: 'nope' }));
    client.sendRaw(JSON.stringify({ type: 'request', id: 2, method: 'restartIce', data: { transportId: 5 } }));
    client.sendRaw(Buffer.from([1, 2, 3]));
    await waitFor(() => client.replies.length === 4, { description: 'four error replies' });
    expect(client.replies.map((r) => r.error?.code)).toEqual(['BAD_FRAME', 'UNKNOWN_METHOD', 'BAD_REQUEST', 'BAD_FRAME']);
    expect(client.replies.map((r) => r.id)).toEqual([null, 1, 2, null]);
    for (let i = 0; i < 5; i++) client.sendRaw('{');
    expect(await client.closed()).toBe(CLOSE_CODES.PROTOCOL_ABUSE);
  });

  it('a frame over signalling.maxFrameBytes closes the socket with 1009 before parsing', async () => {
    const client = await TestClient.open(url('conference=c3'));
    client.sendRaw(JSON.stringify({ type: 'request', id: 1, method: 'leave', data: { pad: 'x'.repeat(5000) } }));
    expect(await client.closed()).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
  });

  it('a flood beyond the rate limit is answered RATE_LIMITED and then closed with 4003', async () => {
    const client = await TestClient.open(url('conference=c4'));
    for (let i = 0; i < 150 && client.closeCode === undefined; i++) {
      client.sendRaw(JSON.stringify({ type: 'request', id: i, method: 'getRouterRtpCapabilities' }));
    }
    expect(await client.closed()).toBe(CLOSE_CODES.RATE_LIMITED);
    expect(client.replies.some((r) => r.error?.code === 'RATE_LIMITED')).toBe(true);
  });

  it('a socket that does not join within joinTimeoutMs is closed with 4007', async () => {
    const client = await TestClient.open(url('conference=c5'));
    expect(await client.closed(4000)).toBe(CLOSE_CODES.TIMEOUT);
  });

  it('peers see each other join and leave; a second session of the same participant replaces the first (4005)', async () => {
    const a = await joined('c6', 'alice');
    const b = await joined('c6', 'bob');
    await waitFor(() => a.notifications.find((n) => n.method === 'peerJoined'));
    const b2 = await joined('c6', 'bob');
    expect(await b.closed()).toBe(CLOSE_CODES.REPLACED);
    await waitFor(() => a.notifications.filter((n) => n.method === 'peerJoined').length === 2, { description: 'second peerJoined' });
    b2.close();
    await waitFor(() => a.notifications.filter((n) => n.method === 'peerLeft').length >= 2, { description: 'peerLeft' });
    a.close();
  });

  it('a conference closed by the server closes its joined sessions with 4010', async () => {
    const a = await joined('c7', 'alice');
    node.registry.get('c7' as ConferenceId)!.close();
    expect(await a.closed()).toBe(CLOSE_CODES.CONFERENCE_CLOSED);
    expect(a.closeReason).toBe('conference-closed');
  });

  it('resumeConsumers acknowledges up to 64 consumers in one request, answered per id, without touching the rate limit', async () => {
    const client = await joined('c8', 'alice');
    const consumerIds = Array.from({ length: 64 }, (_, i) => `consumer-${i}`);
    const reply = await client.request('resumeConsumers', { consumerIds });
    expect(reply.ok).toBe(true);
    const results = (reply.data as { results: Array<{ consumerId: string; ok: boolean; code?: string }> }).results;
    expect(results).toHaveLength(64);
    expect(new Set(results.map((r) => r.code))).toEqual(new Set(['NOT_FOUND']));
    const tooMany = await client.request('resumeConsumers', { consumerIds: [...consumerIds, 'one-more'] });
    expect(tooMany.error?.code).toBe('BAD_REQUEST');
    client.close();
  });

  it('no log line carries an SDP body or a JWT', () => {
    const text = logLines.join('\n');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    expect(text).not.toContain('a=fingerprint');
  });
});

describe('graceful drain', () => {
  it('drain(): readiness false at once, joined sessions told to move, new sessions refused with 4006, then closed', async () => {
    const a = await joined('d1', 'alice');
    const draining = node.drain(1500);
    await waitFor(() => a.notifications.find((n) => n.method === 'reconnectRequested'), { description: 'reconnectRequested' });
    expect(a.notifications.find((n) => n.method === 'reconnectRequested')?.data).toEqual({ reason: 'draining' });
    const base = node.wsUrl.replace('ws://', 'http://').replace('/ws', '');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, problems: ['draining'] });
    const late = await TestClient.open(url('conference=d1&participant=late'));
    expect(await late.closed()).toBe(CLOSE_CODES.DRAINING);
    await draining;
    expect(await a.closed()).toBe(CLOSE_CODES.DRAINING);
  });
});
