// GET /metrics of a real SFU node during a call: two participants publishing
// and consuming through the Conference API (no browser), one more over the
// signalling WebSocket and one over the LiveKit edge (sessions and participants by `edge`). The scrape must pass `promtool check metrics` with no
// lint warning, carry the call's gauges, and never carry an id as a label.

import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { Conference } from '../../src/server/conference/Conference.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { joinAs } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS, RECEIVER_RTP_CAPABILITIES, VIDEO_SIMULCAST_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { checkMetrics, describeResult, parseSamples } from '../tools/promtool.ts';
import { TestClient } from '../tools/wsClient.ts';
import { LiveKitWsClient } from '../tools/liveKitWsClient.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const logLines: string[] = [];
let node: SfuNode;

function baseUrl(): string {
  return node.wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '');
}

async function scrape(): Promise<{ status: number; contentType: string | null; body: string }> {
  const response = await fetch(`${baseUrl()}/metrics`);
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
}

async function publishAndSubscribe(conference: Conference, id: string, media: Array<'audio' | 'video'>) {
  const participant = await joinAs(conference, id);
  const send = await participant.handle.createTransport({ direction: 'send' });
  for (const kind of media) {
    await participant.handle.produce({
      transportId: send.transportId,
      kind,
      source: kind === 'audio' ? 'microphone' : 'camera',
      rtpParameters: structuredClone(kind === 'audio' ? AUDIO_RTP_PARAMETERS : VIDEO_SIMULCAST_RTP_PARAMETERS) as never,
    });
  }
  await participant.handle.createTransport({ direction: 'recv' });
  return participant;
}

beforeAll(async () => {
  const config = loadConfig({
    overrides: {
      server: { port: 0 },
      auth: { mode: 'none' },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => logLines.push(line) }) });
});

afterAll(async () => {
  await node?.stop();
});

beforeEach(() => {
  const from = logLines.length;
  onTestFailed(() => {
    console.error(`--- SFU log of the failed test ---\n${logLines.slice(from).slice(-80).join('\n')}`);
  });
});

describe('GET /metrics', () => {
  it('a scrape taken during a call passes promtool check metrics without lint warnings and shows the call', async () => {
    const conference = await node.registry.getOrCreate('metrics-room' as ConferenceId);
    const alice = await publishAndSubscribe(conference, 'alice-metrics', ['audio', 'video']);
    const bob = await publishAndSubscribe(conference, 'bob-metrics', ['audio']);
    // Both receive transports exist before or after the producers: either way each gets the other's tracks.
    await waitFor(() => alice.sink.of('consumerCreated').length === 1 && bob.sink.of('consumerCreated').length === 2, {
      description: 'consumers for both participants',
    });
    const consumerId = bob.sink.of('consumerCreated')[0]!.consumerId;
    await bob.handle.reportFirstMedia(consumerId, 640);

    const client = await TestClient.open(`${node.wsUrl}?conference=metrics-ws-room&participant=carol-metrics`);
    expect((await client.request('getRouterRtpCapabilities')).ok).toBe(true);
    expect((await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES })).ok).toBe(true);
    expect((await client.request('resumeConsumer', { consumerId: 'nope' })).ok).toBe(false);
    // The livekit edge (development admission: an unsigned token naming room and identity).
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const lkToken = `${part({ alg: 'none' })}.${part({ sub: 'dora-metrics', video: { room: 'metrics-lk-room', roomJoin: true } })}.`;
    const lk = await LiveKitWsClient.connect(baseUrl(), lkToken);
    if (!lk.ok) throw new Error(`livekit upgrade refused: ${lk.status}`);
    await lk.client.next('join');
    await waitFor(() => node.registry.get('metrics-lk-room' as ConferenceId)?.participantCount === 1 || undefined, { description: 'dora joined' });

    const cycle = await node.metrics.pollStats();
    expect(cycle.polled).toBeGreaterThan(0);
    const { status, contentType, body } = await scrape();
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);

    const lint = await checkMetrics(body);
    expect(lint.exitCode, describeResult(lint)).toBe(0);

    const samples = parseSamples(body);
    expect(samples.get('sfu_worker_up{slot="0"}')).toBe(1);
    expect(samples.get('sfu_worker_cpu_seconds_total{slot="0",mode="user"}')).toBeGreaterThan(0);
    expect(samples.get('sfu_worker_max_rss_bytes{slot="0"}')).toBeGreaterThan(1024 * 1024);
    expect(samples.get('sfu_conferences')).toBe(3);
    expect(samples.get('sfu_participants{edge="native"}')).toBe(3);
    expect(samples.get('sfu_participants{edge="livekit"}')).toBe(1);
    expect(samples.get('sfu_participant_joins_total{edge="livekit"}')).toBe(1);
    expect(samples.get('sfu_routers')).toBe(3);
    expect(samples.get('sfu_transports')).toBe(5);
    expect(samples.get('sfu_producers{kind="audio"}')).toBe(2);
    expect(samples.get('sfu_producers{kind="video"}')).toBe(1);
    expect(samples.get('sfu_consumers{kind="audio"}')).toBe(2);
    expect(samples.get('sfu_consumers{kind="video"}')).toBe(1);
    expect(samples.get('sfu_websocket_sessions{edge="native"}')).toBe(1);
    expect(samples.get('sfu_websocket_sessions{edge="livekit"}')).toBe(1);
    expect(samples.get('sfu_signalling_requests_total{method="join",outcome="ok",code="none"}')).toBe(1);
    expect(samples.get('sfu_signalling_requests_total{method="resumeConsumer",outcome="error",code="NOT_FOUND"}')).toBe(1);
    expect(samples.get('sfu_first_media_seconds_count')).toBe(1);
    expect(samples.get('sfu_first_media_seconds_sum')).toBeCloseTo(0.64);
    expect(samples.get('sfu_process_resident_memory_bytes')).toBeGreaterThan(0);
    // Bounded cardinality and privacy: no conference or participant id is a label value.
    for (const id of ['metrics-room', 'metrics-ws-room', 'metrics-lk-room', 'alice-metrics', 'bob-metrics', 'carol-metrics', 'dora-metrics']) {
      expect(body).not.toContain(id);
    }

    client.close();
    await client.closed();
    lk.client.send({ case: 'leave', value: {} as never });
    await lk.client.closed();
    conference.close();
  });

  it('after the calls end the media gauges are back at zero and a closed socket is counted by close code', async () => {
    await waitFor(() => node.registry.size === 0, { description: 'conferences closed' });
    const samples = parseSamples((await scrape()).body);
    expect(samples.get('sfu_conferences')).toBe(0);
    expect(samples.get('sfu_participants{edge="native"}')).toBe(0);
    expect(samples.get('sfu_participants{edge="livekit"}')).toBe(0);
    expect(samples.get('sfu_routers')).toBe(0);
    expect(samples.get('sfu_transports')).toBe(0);
    expect(samples.get('sfu_producers{kind="audio"}')).toBe(0);
    expect(samples.get('sfu_consumers{kind="video"}')).toBe(0);
    expect(samples.get('sfu_websocket_sessions{edge="native"}')).toBe(0);
    expect(samples.get('sfu_websocket_sessions{edge="livekit"}')).toBe(0);
    for (const edge of ['native', 'livekit']) {
      expect(samples.get(`sfu_participant_joins_total{edge="${edge}"}`)).toBe(samples.get(`sfu_participant_leaves_total{edge="${edge}"}`));
    }
    expect(samples.get('sfu_websocket_closes_total{code="1005"}')).toBe(1);
  });

  it('a killed mediasoup worker is counted as a death and its replacement brings the slot back up', async () => {
    const deadPid = node.pool.slots[0]!.worker.pid;
    process.kill(deadPid, 'SIGKILL');
    await waitFor(() => node.pool.slots[0] !== undefined && node.pool.slots[0].worker.pid !== deadPid, {
      description: 'replacement worker',
    });
    const samples = parseSamples((await scrape()).body);
    expect(samples.get('sfu_worker_deaths_total{slot="0"}')).toBe(1);
    expect(samples.get('sfu_worker_up{slot="0"}')).toBe(1);
  });

  it('POST /metrics is refused with 405', async () => {
    const response = await fetch(`${baseUrl()}/metrics`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });
});
