// SfuMetrics' domain verbs and watchers, each on a fresh registry: label
// mapping onto closed sets, units, the observers of the pool, the conference
// registry and the signalling edge, and a promtool-clean exposition.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { register as globalRegistry } from 'prom-client';
import { SfuMetrics } from '../../../../src/server/metrics/SfuMetrics.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { checkMetrics, describeResult, parseSamples } from '../../../tools/promtool.ts';
import { FakeConferenceRegistry, FakePool } from './fakes.ts';

const created: SfuMetrics[] = [];

function newMetrics(options: { collectDefaultMetrics?: boolean } = {}): SfuMetrics {
  const metrics = new SfuMetrics({ logger: silentLogger(), collectDefaultMetrics: options.collectDefaultMetrics ?? false });
  created.push(metrics);
  return metrics;
}

async function samplesOf(metrics: SfuMetrics): Promise<Map<string, number>> {
  return parseSamples(await metrics.scrape());
}

afterEach(() => {
  for (const metrics of created.splice(0)) metrics.close();
  vi.useRealTimers();
});

describe('SfuMetrics', () => {
  it('each SfuMetrics has its own registry, and prom-client’s global registry stays empty', async () => {
    const a = newMetrics();
    const b = newMetrics();
    a.recordEviction('kicked');
    expect((await samplesOf(a)).get('sfu_evictions_total{reason="kicked"}')).toBe(1);
    expect((await samplesOf(b)).get('sfu_evictions_total{reason="kicked"}')).toBe(0);
    expect(globalRegistry.getMetricsAsArray().filter((metric) => metric.name.startsWith('sfu_'))).toEqual([]);
  });

  it('recordSignallingRequest() maps methods outside the catalogue to unknown, codes to the wire set, ms to seconds', async () => {
    const metrics = newMetrics();
    metrics.recordSignallingRequest('join', 'ok', undefined, 250);
    metrics.recordSignallingRequest('produce', 'error', 'NOT_JOINED', 1);
    metrics.recordSignallingRequest('hackTheServer', 'error', 'NOT_A_CODE', 2);
    metrics.recordSignallingRequest('produce', 'ok', 'IGNORED_ON_SUCCESS', Number.NaN);
    const s = await samplesOf(metrics);
    expect(s.get('sfu_signalling_requests_total{method="join",outcome="ok",code="none"}')).toBe(1);
    expect(s.get('sfu_signalling_requests_total{method="produce",outcome="error",code="NOT_JOINED"}')).toBe(1);
    expect(s.get('sfu_signalling_requests_total{method="unknown",outcome="error",code="other"}')).toBe(1);
    expect(s.get('sfu_signalling_requests_total{method="produce",outcome="ok",code="none"}')).toBe(1);
    expect(s.get('sfu_signalling_request_duration_seconds_sum{method="join",outcome="ok"}')).toBe(0.25);
    expect(s.get('sfu_signalling_request_duration_seconds_bucket{le="0.25",method="join",outcome="ok"}')).toBe(1);
    expect(s.has('sfu_signalling_request_duration_seconds_count{method="produce",outcome="ok"}')).toBe(false);
  });

  it('signallingObserver() counts requests, open sessions and closes by known close code', async () => {
    const metrics = newMetrics();
    const observer = metrics.signallingObserver();
    observer.request('leave', 'ok', undefined, 3);
    observer.sessionsChanged(4);
    observer.sessionsChanged(3);
    observer.closed(4004);
    observer.closed(1006);
    observer.closed(3999);
    metrics.liveKitSessionsObserver().sessionsChanged(2);
    metrics.liveKitSessionsObserver().resume('resumed');
    metrics.liveKitSessionsObserver().resume('expired');
    metrics.liveKitSessionsObserver().resume('resumed');
    const s = await samplesOf(metrics);
    expect(s.get('sfu_livekit_resumes_total{outcome="resumed"}')).toBe(2);
    expect(s.get('sfu_livekit_resumes_total{outcome="expired"}')).toBe(1);
    expect(s.get('sfu_signalling_requests_total{method="leave",outcome="ok",code="none"}')).toBe(1);
    expect(s.get('sfu_websocket_sessions{edge="native"}')).toBe(3);
    expect(s.get('sfu_websocket_sessions{edge="livekit"}')).toBe(2);
    expect(s.get('sfu_websocket_closes_total{code="4004"}')).toBe(1);
    expect(s.get('sfu_websocket_closes_total{code="1006"}')).toBe(1);
    expect(s.get('sfu_websocket_closes_total{code="other"}')).toBe(1);
  });

  it('recordAdmission() labels granted as ok and refusals by their closed reason, else other, by edge (native by default); durations in seconds', async () => {
    const metrics = newMetrics();
    metrics.recordAdmission('granted', 'whatever', 20);
    metrics.recordAdmission('refused', 'jwt_expired', 2);
    metrics.recordAdmission('refused', '!room:example.org', 2);
    metrics.recordAdmission('refused', 'ok');
    metrics.recordAdmission('granted', 'ok', 30, 'livekit');
    const s = await samplesOf(metrics);
    expect(s.get('sfu_admissions_total{outcome="granted",reason="ok",edge="native"}')).toBe(1);
    expect(s.get('sfu_admissions_total{outcome="refused",reason="jwt_expired",edge="native"}')).toBe(1);
    expect(s.get('sfu_admissions_total{outcome="refused",reason="other",edge="native"}')).toBe(2);
    expect(s.get('sfu_admissions_total{outcome="refused",reason="membership_ended",edge="native"}')).toBe(0);
    expect(s.get('sfu_admissions_total{outcome="granted",reason="ok",edge="livekit"}')).toBe(1);
    expect(s.get('sfu_admission_duration_seconds_count{outcome="refused",edge="native"}')).toBe(2);
    expect(s.get('sfu_admission_duration_seconds_sum{outcome="granted",edge="native"}')).toBe(0.02);
    expect(s.get('sfu_admission_duration_seconds_sum{outcome="granted",edge="livekit"}')).toBe(0.03);
  });

  it('admissionObserver() feeds admissions and evictions; recordEviction() maps unknown reasons to other', async () => {
    const metrics = newMetrics();
    const observer = metrics.admissionObserver();
    observer.admission('refused', 'not_joined', 5);
    metrics.admissionObserver('livekit').admission('refused', 'jwt_replayed', 1);
    observer.eviction('banned');
    metrics.recordEviction('@mallory:example.org');
    const s = await samplesOf(metrics);
    expect(s.get('sfu_admissions_total{outcome="refused",reason="not_joined",edge="native"}')).toBe(1);
    expect(s.get('sfu_admissions_total{outcome="refused",reason="jwt_replayed",edge="livekit"}')).toBe(1);
    expect(s.get('sfu_evictions_total{reason="banned"}')).toBe(1);
    expect(s.get('sfu_evictions_total{reason="other"}')).toBe(1);
    expect(s.get('sfu_evictions_total{reason="membership-expired"}')).toBe(0);
  });

  it('observeFirstMedia() records seconds and ignores negative or non-finite reports', async () => {
    const metrics = newMetrics();
    metrics.observeFirstMedia(640);
    metrics.observeFirstMedia(-1);
    metrics.observeFirstMedia(Number.POSITIVE_INFINITY);
    const s = await samplesOf(metrics);
    expect(s.get('sfu_first_media_seconds_count')).toBe(1);
    expect(s.get('sfu_first_media_seconds_sum')).toBe(0.64);
    expect(s.get('sfu_first_media_seconds_bucket{le="0.75"}')).toBe(1);
    expect(s.get('sfu_first_media_seconds_bucket{le="0.5"}')).toBe(0);
  });

  it('setMatrixSyncLag() sets the gauge; watchMatrixSyncLag() reads its source at every scrape', async () => {
    const metrics = newMetrics();
    metrics.setMatrixSyncLag(2.5);
    metrics.setMatrixSyncLag(-3);
    expect((await samplesOf(metrics)).get('sfu_matrix_sync_lag_seconds')).toBe(2.5);
    let lag = 7;
    metrics.watchMatrixSyncLag(() => lag);
    expect((await samplesOf(metrics)).get('sfu_matrix_sync_lag_seconds')).toBe(7);
    lag = 31;
    expect((await samplesOf(metrics)).get('sfu_matrix_sync_lag_seconds')).toBe(31);
  });

  it('watchConferences() keeps conference and participant gauges in step, including a close with people inside', async () => {
    const metrics = newMetrics();
    const registry = new FakeConferenceRegistry();
    const early = registry.create(2);
    metrics.watchConferences(registry);
    let s = await samplesOf(metrics);
    expect(s.get('sfu_conferences')).toBe(1);
    expect(s.get('sfu_participants{edge="native"}')).toBe(2);
    expect(s.get('sfu_conferences_created_total')).toBe(0);

    const call = registry.create();
    call.join('a');
    call.join('b');
    call.join('k', 'livekit');
    call.leave('a');
    call.observer.safeEmit('firstMediaReported', 1200);
    call.observer.safeEmit('rebuilt');
    s = await samplesOf(metrics);
    expect(s.get('sfu_conferences')).toBe(2);
    expect(s.get('sfu_conferences_created_total')).toBe(1);
    expect(s.get('sfu_participants{edge="native"}')).toBe(3);
    expect(s.get('sfu_participants{edge="livekit"}')).toBe(1);
    expect(s.get('sfu_participant_joins_total{edge="native"}')).toBe(2);
    expect(s.get('sfu_participant_joins_total{edge="livekit"}')).toBe(1);
    expect(s.get('sfu_participant_leaves_total{edge="native"}')).toBe(1);
    expect(s.get('sfu_first_media_seconds_sum')).toBe(1.2);
    expect(s.get('sfu_conference_rebuilds_total')).toBe(1);

    registry.close(call);
    registry.close(early);
    call.join('late');
    s = await samplesOf(metrics);
    expect(s.get('sfu_conferences')).toBe(0);
    expect(s.get('sfu_participants{edge="native"}')).toBe(0);
    expect(s.get('sfu_participants{edge="livekit"}')).toBe(0);
    expect(s.get('sfu_participant_leaves_total{edge="native"}')).toBe(4);
    expect(s.get('sfu_participant_leaves_total{edge="livekit"}')).toBe(1);
    expect(s.get('sfu_participant_joins_total{edge="native"}')).toBe(2);
  });

  it('watchWorkerPool() follows slots, deaths, replacements and the media objects below each worker', async () => {
    const metrics = newMetrics();
    const pool = new FakePool();
    const first = pool.start(0);
    metrics.watchWorkerPool(pool);
    pool.start(1);
    const transport = first.createRouter().createTransport();
    transport.produce('audio');
    transport.consume('video');
    let s = await samplesOf(metrics);
    expect(s.get('sfu_worker_up{slot="0"}')).toBe(1);
    expect(s.get('sfu_worker_up{slot="1"}')).toBe(1);
    expect(s.get('sfu_producers{kind="audio"}')).toBe(1);
    expect(s.get('sfu_consumers{kind="video"}')).toBe(1);

    pool.kill(0);
    s = await samplesOf(metrics);
    expect(s.get('sfu_worker_up{slot="0"}')).toBe(0);
    expect(s.get('sfu_worker_deaths_total{slot="0"}')).toBe(1);
    expect(s.get('sfu_routers')).toBe(0);
    expect(s.get('sfu_producers{kind="audio"}')).toBe(0);
    pool.start(0);
    expect((await samplesOf(metrics)).get('sfu_worker_up{slot="0"}')).toBe(1);
  });

  it('close() stops the stats loop timer and detaches from the pool and the conference registry', async () => {
    vi.useFakeTimers();
    const metrics = newMetrics();
    const pool = new FakePool();
    const registry = new FakeConferenceRegistry();
    metrics.watchWorkerPool(pool);
    metrics.watchConferences(registry);
    expect(vi.getTimerCount()).toBe(1);
    metrics.close();
    metrics.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(pool.observer.listenerCount('workerStarted')).toBe(0);
    expect(registry.observer.listenerCount('conferenceCreated')).toBe(0);
    registry.create(1);
    expect((await samplesOf(metrics)).get('sfu_conferences')).toBe(0);
  });

  it('pre-creates the series of small closed label sets at zero', async () => {
    const s = await samplesOf(newMetrics());
    expect(s.get('sfu_admissions_total{outcome="granted",reason="ok",edge="native"}')).toBe(0);
    expect(s.get('sfu_admissions_total{outcome="refused",reason="jwt_expired",edge="livekit"}')).toBe(0);
    expect(s.has('sfu_admissions_total{outcome="granted",reason="jwt_expired",edge="native"}')).toBe(false);
    expect(s.get('sfu_websocket_sessions{edge="livekit"}')).toBe(0);
    expect(s.get('sfu_participant_joins_total{edge="livekit"}')).toBe(0);
    expect(s.get('sfu_evictions_total{reason="left-room"}')).toBe(0);
    expect(s.get('sfu_rtp_packets_lost_total{direction="out",kind="video"}')).toBe(0);
    expect(s.get('sfu_producers{kind="video"}')).toBe(0);
  });

  it('a scrape with every verb used and the process defaults on passes promtool check metrics with no lint problem', async () => {
    const metrics = newMetrics({ collectDefaultMetrics: true });
    metrics.recordSignallingRequest('join', 'ok', undefined, 3);
    metrics.recordSignallingRequest('produce', 'error', 'INTERNAL', 3);
    metrics.signallingObserver().closed(1000);
    metrics.recordAdmission('refused', 'jwt_expired', 1);
    metrics.recordEviction('kicked');
    metrics.observeFirstMedia(900);
    metrics.setMatrixSyncLag(1);
    const pool = new FakePool();
    pool.start(0).createRouter().createTransport().produce('video');
    metrics.watchWorkerPool(pool);
    await metrics.pollStats();
    const scrape = await metrics.scrape();
    expect(scrape).toContain('sfu_process_cpu_seconds_total');
    expect(scrape).not.toContain('sfu_nodejs_active_handles_total');
    const result = await checkMetrics(scrape);
    expect(result.exitCode, describeResult(result)).toBe(0);
  });
});
