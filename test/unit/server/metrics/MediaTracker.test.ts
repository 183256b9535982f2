// MediaTracker on fakes of mediasoup's observer chain: the worker, router,
// transport, producer and consumer gauges follow 'new…' and 'close' events,
// including the close cascade of a dying worker.

import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createMetricDefinitions } from '../../../../src/server/metrics/definitions.ts';
import { MediaTracker } from '../../../../src/server/metrics/MediaTracker.ts';
import { parseSamples } from '../../../tools/promtool.ts';
import { FakeWorker } from './fakes.ts';

function setup() {
  const registry = new Registry();
  const forgotten: string[] = [];
  const tracker = new MediaTracker({ metrics: createMetricDefinitions(registry), onForget: (id) => forgotten.push(id) });
  return { tracker, forgotten, samples: async () => parseSamples(await registry.metrics()) };
}

describe('MediaTracker', () => {
  it('keeps router, transport, producer and consumer gauges (by kind) in step with mediasoup observer events', async () => {
    const { tracker, samples } = setup();
    const worker = new FakeWorker(1);
    tracker.watchWorker(0, worker);
    const router = worker.createRouter();
    const send = router.createTransport();
    const recv = router.createTransport();
    const audio = send.produce('audio');
    send.produce('video');
    recv.consume('audio');
    recv.consume('video');
    recv.consume('video');
    let s = await samples();
    expect(s.get('sfu_worker_up{slot="0"}')).toBe(1);
    expect(s.get('sfu_routers')).toBe(1);
    expect(s.get('sfu_transports')).toBe(2);
    expect(s.get('sfu_producers{kind="audio"}')).toBe(1);
    expect(s.get('sfu_producers{kind="video"}')).toBe(1);
    expect(s.get('sfu_consumers{kind="video"}')).toBe(2);
    expect(tracker.transports()).toHaveLength(2);
    expect(tracker.producers()).toHaveLength(2);
    expect(tracker.consumers()).toHaveLength(3);

    audio.close();
    recv.close();
    s = await samples();
    expect(s.get('sfu_producers{kind="audio"}')).toBe(0);
    expect(s.get('sfu_transports')).toBe(1);
    expect(s.get('sfu_consumers{kind="audio"}')).toBe(0);
    expect(s.get('sfu_consumers{kind="video"}')).toBe(0);
    expect(tracker.consumers()).toHaveLength(0);
  });

  it('a worker close cascade brings every gauge to zero, marks the slot down and forgets every polled object', async () => {
    const { tracker, forgotten, samples } = setup();
    const worker = new FakeWorker(1);
    tracker.watchWorker(2, worker);
    const transport = worker.createRouter().createTransport();
    const producer = transport.produce('video');
    const consumer = transport.consume('audio');
    worker.close();
    const s = await samples();
    expect(s.get('sfu_worker_up{slot="2"}')).toBe(0);
    expect(s.get('sfu_routers')).toBe(0);
    expect(s.get('sfu_transports')).toBe(0);
    expect(s.get('sfu_producers{kind="video"}')).toBe(0);
    expect(s.get('sfu_consumers{kind="audio"}')).toBe(0);
    expect(forgotten.sort()).toEqual([transport.id, producer.id, consumer.id].sort());
    expect(tracker.workers()).toEqual([]);
  });

  it('watchWorker() is idempotent per worker, and a late close of a replaced worker leaves its successor up', async () => {
    const { tracker, samples } = setup();
    const old = new FakeWorker(1);
    tracker.watchWorker(0, old);
    tracker.watchWorker(0, old);
    old.createRouter();
    expect((await samples()).get('sfu_routers')).toBe(1);
    const successor = new FakeWorker(2);
    tracker.watchWorker(0, successor);
    old.close();
    expect((await samples()).get('sfu_worker_up{slot="0"}')).toBe(1);
    expect(tracker.workers().map((w) => w.worker.pid)).toEqual([2]);
    tracker.markSlotDown(0);
    expect((await samples()).get('sfu_worker_up{slot="0"}')).toBe(0);
  });
});
