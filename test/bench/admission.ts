// Bench: Matrix admission latency on a real loopback Synapse. One device with
// a live call membership asks for a JWT N times: fresh OpenID token from its
// homeserver, then POST /sfu/get (federation userinfo + membership check +
// signing). Also measures WebSocket admission (JWT verify + live membership).
// Prints p50/p95/max; asserts nothing.
//
// Run: node test/bench/admission.ts [requests]   (Node 24; needs the Synapse venv of native-config/setup)

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { startSynapse } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { registerUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { membershipStateKey } from '../../src/server/matrix/callMembership.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { TestClient } from '../tools/wsClient.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const requests = Math.max(100, Number(process.argv[2] ?? 120));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(label: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(
    `${label.padEnd(36)} n=${sorted.length}  p50=${percentile(sorted, 50).toFixed(1)} ms  p95=${percentile(sorted, 95).toFixed(1)} ms  max=${sorted[sorted.length - 1]!.toFixed(1)} ms`,
  );
}

const dataDir = await mkdtemp(join(tmpdir(), 'sfu-bench-synapse-'));
const synapse = await startSynapse({ dataDir });
let node: SfuNode | undefined;
try {
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, 'sfubench', 'pw');
  const user = await registerUser(synapse.baseUrl, synapse.sharedSecret, 'alicebench', 'pw');
  const http = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user });
  const roomId = await http.createRoom({ invite: [bot.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  node = await SfuNode.start({
    config: loadConfig({
      overrides: {
        server: { port: 0, dataDir: join(dataDir, 'sfu') },
        media: { numWorkers: 1, basePort: await freeMediaBasePort() },
        ...loopbackMatrixOverrides(synapse, bot, 5000),
      },
    }),
    logger: silentLogger(),
  });
  const sfu = node;
  await waitFor(() => sfu.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', { timeoutMs: 15_000 });
  await http.sendState(roomId, 'org.matrix.msc3401.call.member', membershipStateKey(user.userId, user.deviceId), {
    application: 'm.call',
    call_id: '',
    scope: 'm.room',
    device_id: user.deviceId,
    focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
    foci_preferred: [sfu.matrix!.focus],
  });
  await waitFor(() => sfu.matrix!.watcher.check(roomId, user.userId, user.deviceId).ok, { timeoutMs: 15_000 });

  const openIdMs: number[] = [];
  const sfuGetMs: number[] = [];
  const totalMs: number[] = [];
  const wsAdmitMs: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    const openid = await http.requestOpenIdToken();
    const t1 = performance.now();
    const response = await fetch(`${sfu.publicUrl}/sfu/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: roomId, device_id: user.deviceId, openid_token: openid }),
    });
    const body = (await response.json()) as { url?: string; jwt?: string };
    const t2 = performance.now();
    if (!response.ok || !body.jwt) throw new Error(`request ${i} refused: ${response.status}`);
    openIdMs.push(t1 - t0);
    sfuGetMs.push(t2 - t1);
    totalMs.push(t2 - t0);
    if (i % 4 === 0) {
      const t3 = performance.now();
      const client = await TestClient.open(`${body.url}?jwt=${body.jwt}`);
      const reply = await client.request('getRouterRtpCapabilities');
      wsAdmitMs.push(performance.now() - t3);
      if (!reply.ok) throw new Error('session not admitted');
      client.close();
    }
    // Stay under the per-address limit of /sfu/get (5/s sustained, burst 20).
    await new Promise((resolve) => setTimeout(resolve, 210));
  }
  console.log(`Matrix admission on loopback Synapse (${requests} requests)`);
  report('OpenID token from homeserver', openIdMs);
  report('POST /sfu/get (userinfo→JWT)', sfuGetMs);
  report('OpenID → JWT total', totalMs);
  report('WebSocket open + admitted + reply', wsAdmitMs);
} finally {
  await node?.stop();
  await synapse.stop();
  await rm(dataDir, { recursive: true, force: true });
}
