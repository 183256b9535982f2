// SfuMetrics counts WebRTC transports by the path of their selected ICE tuple: relay when the
// remote address is a TURN relay (TurnService.isRelayAddress), direct otherwise; once per
// transport, and again when the path changes. Also the credentials-issued counter per edge.

import { afterEach, describe, expect, it } from 'vitest';
import { SfuMetrics } from '../../../../src/server/metrics/SfuMetrics.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { parseSamples } from '../../../tools/promtool.ts';
import { FakePool } from '../metrics/fakes.ts';

const created: SfuMetrics[] = [];
afterEach(() => {
  for (const metrics of created.splice(0)) metrics.close();
});

async function samples(metrics: SfuMetrics): Promise<Map<string, number>> {
  return parseSamples(await metrics.scrape());
}

describe('sfu_transport_ice_paths_total', () => {
  it('counts a transport as relay when its selected tuple comes from a relay address, and again only when the path changes', async () => {
    const metrics = new SfuMetrics({ logger: silentLogger(), collectDefaultMetrics: false });
    created.push(metrics);
    metrics.classifyIcePaths((ip) => ip === '127.0.0.2');
    const pool = new FakePool();
    metrics.watchWorkerPool(pool);
    const router = pool.start(0).createRouter();
    const relayed = router.createTransport();
    const direct = router.createTransport();
    let s = await samples(metrics);
    expect(s.get('sfu_transport_ice_paths_total{path="relay"}')).toBe(0);
    expect(s.get('sfu_transport_ice_paths_total{path="direct"}')).toBe(0);

    relayed.observer.emit('iceselectedtuplechange', { localIp: '127.0.0.1', remoteIp: '127.0.0.2', remotePort: 24001, protocol: 'udp' });
    relayed.observer.emit('iceselectedtuplechange', { localIp: '127.0.0.1', remoteIp: '127.0.0.2', remotePort: 24002, protocol: 'udp' });
    direct.observer.emit('iceselectedtuplechange', { localIp: '127.0.0.1', remoteIp: '127.0.0.1', remotePort: 50000, protocol: 'udp' });
    s = await samples(metrics);
    expect(s.get('sfu_transport_ice_paths_total{path="relay"}')).toBe(1);
    expect(s.get('sfu_transport_ice_paths_total{path="direct"}')).toBe(1);

    // An ICE restart that moves the relayed transport onto a direct path counts it once more.
    relayed.observer.emit('iceselectedtuplechange', { localIp: '127.0.0.1', remoteIp: '192.0.2.9', remotePort: 50001, protocol: 'udp' });
    expect((await samples(metrics)).get('sfu_transport_ice_paths_total{path="direct"}')).toBe(2);
  });

  it('counts every tuple as direct while TURN is off, and credentials per edge', async () => {
    const metrics = new SfuMetrics({ logger: silentLogger(), collectDefaultMetrics: false });
    created.push(metrics);
    const pool = new FakePool();
    metrics.watchWorkerPool(pool);
    pool.start(0).createRouter().createTransport().observer.emit('iceselectedtuplechange', { remoteIp: '127.0.0.2' });
    metrics.recordTurnCredentialIssued('native');
    metrics.recordTurnCredentialIssued('livekit');
    metrics.recordTurnCredentialIssued('livekit');
    const s = await samples(metrics);
    expect(s.get('sfu_transport_ice_paths_total{path="direct"}')).toBe(1);
    expect(s.get('sfu_turn_credentials_issued_total{edge="native"}')).toBe(1);
    expect(s.get('sfu_turn_credentials_issued_total{edge="livekit"}')).toBe(2);
  });
});
