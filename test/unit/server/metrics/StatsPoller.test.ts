// StatsPoller on fakes: counters grow by the delta of cumulative mediasoup
// totals per object and RTP stream, never twice; the loop is bounded by
// concurrency and a per-cycle budget; its timer is cleared by close().

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { createMetricDefinitions } from '../../../../src/server/metrics/definitions.ts';
import { StatsPoller, type PollTargets, type StatsPollerOptions } from '../../../../src/server/metrics/StatsPoller.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { parseSamples } from '../../../tools/promtool.ts';
import { FakeRtpObject, FakeTransport, FakeWorker, rtpStat } from './fakes.ts';

interface Setup {
  registry: Registry;
  poller: StatsPoller;
  targets: { workers: Array<{ slot: number; worker: FakeWorker }>; transports: FakeTransport[]; producers: FakeRtpObject[]; consumers: FakeRtpObject[] };
  samples: () => Promise<Map<string, number>>;
}

const pollers: StatsPoller[] = [];

function setup(options: Partial<Pick<StatsPollerOptions, 'intervalMs' | 'concurrency' | 'budgetMs' | 'maxRequestsPerCycle' | 'maxConsumerRequestsPerCycle'>> = {}): Setup {
  const registry = new Registry();
  const targets: Setup['targets'] = { workers: [], transports: [], producers: [], consumers: [] };
  const poller = new StatsPoller({
    ...options,
    targets: () => targets as unknown as PollTargets,
    metrics: createMetricDefinitions(registry),
    logger: silentLogger(),
  });
  pollers.push(poller);
  return { registry, poller, targets, samples: async () => parseSamples(await registry.metrics()) };
}

afterEach(() => {
  for (const poller of pollers.splice(0)) poller.close();
  vi.useRealTimers();
});

describe('StatsPoller', () => {
  it('pollOnce() adds the delta of cumulative producer (in) and consumer (out) totals per RTP stream, by kind', async () => {
    const { poller, targets, samples } = setup();
    const producer = new FakeRtpObject('video');
    const consumer = new FakeRtpObject('audio');
    targets.producers.push(producer);
    targets.consumers.push(consumer);
    producer.stats = [
      rtpStat('inbound-rtp', 1, { byteCount: 1000, packetCount: 10, packetsLost: 1, nackCount: 2, pliCount: 3, firCount: 4 }),
      rtpStat('inbound-rtp', 2, { byteCount: 500, packetCount: 5 }),
    ];
    // A consumer's stats also carry its producer's inbound-rtp entries: only outbound-rtp counts as out.
    consumer.stats = [rtpStat('outbound-rtp', 7, { byteCount: 300, packetCount: 3, packetsLost: 1 }), rtpStat('inbound-rtp', 9, { byteCount: 99999 })];
    await poller.pollOnce();
    producer.stats = [
      rtpStat('inbound-rtp', 1, { byteCount: 1600, packetCount: 16, packetsLost: 1, nackCount: 5, pliCount: 3, firCount: 4 }),
      rtpStat('inbound-rtp', 2, { byteCount: 700, packetCount: 7 }),
    ];
    consumer.stats = [rtpStat('outbound-rtp', 7, { byteCount: 450, packetCount: 4, packetsLost: 2 })];
    await poller.pollOnce();

    const s = await samples();
    expect(s.get('sfu_rtp_bytes_total{direction="in",kind="video"}')).toBe(2300);
    expect(s.get('sfu_rtp_packets_total{direction="in",kind="video"}')).toBe(23);
    expect(s.get('sfu_rtp_packets_lost_total{direction="in",kind="video"}')).toBe(1);
    expect(s.get('sfu_rtp_nacks_total{direction="in",kind="video"}')).toBe(5);
    expect(s.get('sfu_rtp_plis_total{direction="in",kind="video"}')).toBe(3);
    expect(s.get('sfu_rtp_firs_total{direction="in",kind="video"}')).toBe(4);
    expect(s.get('sfu_rtp_bytes_total{direction="out",kind="audio"}')).toBe(450);
    expect(s.get('sfu_rtp_packets_lost_total{direction="out",kind="audio"}')).toBe(2);
    expect(s.get('sfu_rtp_bytes_total{direction="in",kind="audio"}')).toBe(0);
  });

  it('a cumulative total that goes down (RTCP loss counts can) is never counted twice', async () => {
    const { poller, targets, samples } = setup();
    const producer = new FakeRtpObject('video');
    targets.producers.push(producer);
    for (const lost of [10, 7, 9, 12]) {
      producer.stats = [rtpStat('inbound-rtp', 1, { packetsLost: lost })];
      await poller.pollOnce();
    }
    expect((await samples()).get('sfu_rtp_packets_lost_total{direction="in",kind="video"}')).toBe(12);
  });

  it('closed objects are not polled, and forget() drops an object’s baseline', async () => {
    const { poller, targets, samples } = setup();
    const producer = new FakeRtpObject('audio');
    targets.producers.push(producer);
    producer.stats = [rtpStat('inbound-rtp', 1, { byteCount: 100 })];
    await poller.pollOnce();
    poller.forget(producer.id);
    producer.stats = [rtpStat('inbound-rtp', 1, { byteCount: 150 })];
    await poller.pollOnce();
    expect((await samples()).get('sfu_rtp_bytes_total{direction="in",kind="audio"}')).toBe(250);
    producer.closed = true;
    await poller.pollOnce();
    expect(producer.calls).toBe(2);
  });

  it('worker usage: CPU ms become seconds by mode, ru_maxrss KiB become bytes, a new pid in the slot counts from zero', async () => {
    const { poller, targets, samples } = setup();
    const first = new FakeWorker(101);
    targets.workers.push({ slot: 0, worker: first });
    first.usage = { ru_utime: 1500, ru_stime: 500, ru_maxrss: 2048 };
    await poller.pollOnce();
    first.usage = { ru_utime: 2500, ru_stime: 750, ru_maxrss: 4096 };
    await poller.pollOnce();
    let s = await samples();
    expect(s.get('sfu_worker_cpu_seconds_total{slot="0",mode="user"}')).toBe(2.5);
    expect(s.get('sfu_worker_cpu_seconds_total{slot="0",mode="system"}')).toBe(0.75);
    expect(s.get('sfu_worker_max_rss_bytes{slot="0"}')).toBe(4096 * 1024);
    const replacement = new FakeWorker(102);
    replacement.usage = { ru_utime: 100, ru_stime: 0, ru_maxrss: 1024 };
    targets.workers.splice(0, 1, { slot: 0, worker: replacement });
    await poller.pollOnce();
    s = await samples();
    expect(s.get('sfu_worker_cpu_seconds_total{slot="0",mode="user"}')).toBe(2.6);
    expect(s.get('sfu_worker_max_rss_bytes{slot="0"}')).toBe(1024 * 1024);
  });

  it('transport bytes are counted by direction and consumer scores observed once per consumer per cycle', async () => {
    const { poller, targets, samples } = setup();
    const transport = new FakeTransport();
    const consumer = new FakeRtpObject('video');
    targets.transports.push(transport);
    targets.consumers.push(consumer);
    transport.stats = [{ type: 'webrtc-transport', bytesReceived: 1000, bytesSent: 4000 }];
    consumer.stats = [rtpStat('outbound-rtp', 1, { score: 7 })];
    await poller.pollOnce();
    transport.stats = [{ type: 'webrtc-transport', bytesReceived: 1200, bytesSent: 4000 }];
    consumer.stats = [rtpStat('outbound-rtp', 1, { score: 3 })];
    await poller.pollOnce();
    const s = await samples();
    expect(s.get('sfu_transport_bytes_total{direction="in"}')).toBe(1200);
    expect(s.get('sfu_transport_bytes_total{direction="out"}')).toBe(4000);
    expect(s.get('sfu_consumer_score_count{kind="video"}')).toBe(2);
    expect(s.get('sfu_consumer_score_sum{kind="video"}')).toBe(10);
    expect(s.get('sfu_consumer_score_bucket{le="3",kind="video"}')).toBe(1);
  });

  it('caps transport/producer and consumer requests per cycle apart, polls workers every cycle, and reaches every object in turn with exact totals', async () => {
    const { poller, targets, samples } = setup({ maxRequestsPerCycle: 2, maxConsumerRequestsPerCycle: 4 });
    const producers = Array.from({ length: 3 }, () => new FakeRtpObject('video'));
    targets.producers.push(...producers);
    const worker = new FakeWorker(201);
    targets.workers.push({ slot: 0, worker });
    worker.usage = { ru_utime: 0, ru_stime: 0, ru_maxrss: 1 };
    let workerCalls = 0;
    const usage = worker.getResourceUsage.bind(worker);
    worker.getResourceUsage = () => {
      workerCalls++;
      return usage();
    };
    const consumers = Array.from({ length: 10 }, () => new FakeRtpObject('audio'));
    targets.consumers.push(...consumers);
    for (const consumer of consumers) consumer.stats = [rtpStat('outbound-rtp', 1, { packetCount: 10 })];
    const first = await poller.pollOnce();
    expect(first).toMatchObject({ polled: 7, skipped: 7 });
    expect(consumers.map((c) => c.calls)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    await poller.pollOnce();
    await poller.pollOnce();
    expect(consumers.map((c) => c.calls)).toEqual([2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(workerCalls).toBe(3);
    expect(producers.map((p) => p.calls)).toEqual([2, 2, 2]);
    expect((await samples()).get('sfu_rtp_packets_total{direction="out",kind="audio"}')).toBe(100);
  });

  it('keeps at most `concurrency` stats requests in flight', async () => {
    const { poller, targets } = setup({ concurrency: 3 });
    let inFlight = 0;
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      const producer = new FakeRtpObject('audio');
      producer.getStats = async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        return [];
      };
      targets.producers.push(producer);
    }
    const result = await poller.pollOnce();
    expect(result.polled).toBe(20);
    expect(peak).toBe(3);
  });

  it('a cycle ends at its budget: unanswered requests are skipped, late answers ignored, a pending object skipped next cycle', async () => {
    const { poller, targets, samples } = setup({ concurrency: 1, budgetMs: 40 });
    const stuck = new FakeRtpObject('video');
    const fine = new FakeRtpObject('video');
    let release!: () => void;
    stuck.gate = new Promise<void>((resolve) => (release = resolve));
    stuck.stats = [rtpStat('inbound-rtp', 1, { byteCount: 1000 })];
    fine.stats = [rtpStat('inbound-rtp', 2, { byteCount: 10 })];
    targets.producers.push(stuck, fine);

    const first = await poller.pollOnce();
    expect(first).toMatchObject({ polled: 0, skipped: 1 });
    expect(first.durationMs).toBeLessThan(1000);
    // The rotation starts where the budget cut off: `fine` first, then `stuck` (still pending: skipped).
    const second = await poller.pollOnce();
    expect(second).toMatchObject({ polled: 1, skipped: 1 });
    expect(stuck.calls).toBe(1);
    release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    let s = await samples();
    expect(s.get('sfu_rtp_bytes_total{direction="in",kind="video"}')).toBe(10);
    expect(s.get('sfu_stats_poll_skipped_total')).toBe(2);
    stuck.gate = undefined;
    await poller.pollOnce();
    s = await samples();
    expect(s.get('sfu_rtp_bytes_total{direction="in",kind="video"}')).toBe(1010);
  });

  it('start() polls every intervalMs after the previous cycle, and close() clears the timer', async () => {
    vi.useFakeTimers();
    const { poller, targets } = setup({ intervalMs: 1000 });
    const producer = new FakeRtpObject('audio');
    targets.producers.push(producer);
    poller.start();
    poller.start();
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(producer.calls).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(producer.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(producer.calls).toBe(2);
    poller.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(producer.calls).toBe(2);
    expect(await poller.pollOnce()).toEqual({ polled: 0, skipped: 0, durationMs: 0 });
  });

  it('new StatsPoller() throws TypeError for a non-positive interval, budget or concurrency', () => {
    expect(() => setup({ intervalMs: 0 })).toThrow(TypeError);
    expect(() => setup({ concurrency: 0 })).toThrow(TypeError);
    expect(() => setup({ concurrency: 1.5 })).toThrow(TypeError);
    expect(() => setup({ budgetMs: -1 })).toThrow(TypeError);
  });
});
