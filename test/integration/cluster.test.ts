// Three SFU nodes on one Redis (real redis-server, real Synapse, real matrix-js-sdk MatrixRTC
// sessions): one node is a real process (node src/server/main.ts) so it can be SIGKILLed,
// two run in this process. Token requests for a room at any node name the node serving
// it; a token opens one session in the whole cluster; a killed node is noticed within
// nodeTimeoutMs and its rooms are placed on the others; while Redis is down token requests
// get a clear 503 and running sessions go on, and tokens flow again once Redis is back;
// the token endpoints' per-user rate limit holds across nodes; a delay delegation given to
// one node reaches the node serving the room over Redis pub/sub; a draining node's rooms go
// elsewhere.
// Times are printed, never asserted.

import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import './synapse/context.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { joinCall, joinedRoom, publishDelayedMembership, requestLiveKitToken, startSdkClient, type SdkUser, testRoomUsers } from '../tools/matrixCall.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { RedisProcess } from '../tools/redis.ts';
import { DisconnectReason, LeaveRequest } from '@livekit/protocol';
import { LiveKitWsClient } from '../tools/liveKitWsClient.ts';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
const synapse = inject('synapse');
const dir = mkdtempSync(join(tmpdir(), 'sfu-cluster-test-'));
const serverLog: string[] = [];
let redis: RedisProcess;
let child: ChildProcess | undefined;
let childOutput = '';
let childPort = 0;
let publicUrl = '';
const nodes: SfuNode[] = [];
let aliceHttp: MatrixTestClient;
let roomId: string;
const { user, sdkUserInRoom, sdkUsers: users } = testRoomUsers({ synapse, room: () => ({ inviter: aliceHttp, roomId }) });

/** Cluster settings shared by every node: fast heartbeats so a death shows within 2 s. */
const clusterSettings = (nodeId: string) => ({ redisUrl: redis.url, nodeId, heartbeatMs: 400, nodeTimeoutMs: 1600, commandTimeoutMs: 500 });

/** POST /get_token at `base` the way Element Call asks. */
function getToken(base: string, sdk: SdkUser): Promise<{ status: number; body: Record<string, unknown> }> {
  return requestLiveKitToken(base, sdk, roomId);
}

const childBase = () => `http://127.0.0.1:${childPort}`;
const nodeBase = (node: SfuNode) => `http://127.0.0.1:${node.port}`;

beforeAll(async () => {
  redis = await RedisProcess.start();
  const keyFile = join(dir, 'jwt.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  const bot = await user('sfu');
  const aliceUser = await user('alice');
  aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...aliceUser });
  roomId = await aliceHttp.createRoom({ invite: [bot.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  const matrix = loopbackMatrixOverrides(synapse, bot, 5000) as { auth: Record<string, unknown>; matrix: Record<string, unknown> };
  childPort = await findFreePort();
  // Every node names the same service URL (what memberships and JWTs carry); each has its own address.
  publicUrl = childBase();
  const settings = async (nodeId: string, port: number) => ({
    server: { port, publicUrl, dataDir: join(dir, nodeId) },
    media: { numWorkers: 1, basePort: await freeMediaBasePort() },
    auth: { ...matrix.auth, jwtPrivateKeyFile: keyFile },
    matrix: matrix.matrix,
    cluster: clusterSettings(nodeId),
  });

  // node-a: a real process (its id sorts first, so idle placement picks it).
  const configFile = join(dir, 'node-a.json');
  writeFileSync(configFile, JSON.stringify(await settings('node-a', childPort)));
  child = spawn(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', SFU_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));

  for (const nodeId of ['node-b', 'node-c']) {
    const config = loadConfig({ overrides: await settings(nodeId, 0) });
    nodes.push(await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }) }));
  }
  await waitFor(async () => (await fetch(`${childBase()}/readyz`)).status === 200, { timeoutMs: 30_000, description: `node-a ready:\n${childOutput}` });
  await waitFor(() => nodes.every((node) => node.cluster!.liveNodeIds.length === 3), { timeoutMs: 10_000, description: 'every node sees three nodes' });
  await waitFor(async () => (await aliceHttp.membershipOf(roomId as never, bot.userId)) === 'join', { timeoutMs: 15_000, description: 'SFU account joined the room' });
  users.push(await startSdkClient(synapse.baseUrl, aliceUser));
  await joinedRoom(users[0]!, roomId);
}, 120_000);

afterAll(async () => {
  for (const sdk of users) sdk.client.stopClient();
  for (const node of nodes) await node.stop();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await redis?.stop();
});

describe('a cluster of three nodes on Redis', () => {
  it('sends every token request for a room to the node serving it, and a token opens one session in the whole cluster', async () => {
    const alice = users[0]!;
    joinCall(alice, alice.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: publicUrl });
    await waitFor(() => nodes.every((node) => node.matrix!.watcher.check(roomId, alice.user.userId, alice.user.deviceId).ok) || undefined, {
      timeoutMs: 15_000,
      description: 'every in-process node sees alice naming the cluster',
    });
    const started = performance.now();
    const replies = [];
    for (const base of [nodeBase(nodes[0]!), nodeBase(nodes[1]!), childBase()]) {
      const reply = await waitFor(async () => {
        const r = await getToken(base, alice);
        return r.status === 200 ? r : undefined;
      }, { timeoutMs: 15_000, description: `a token from ${base}` });
      replies.push(reply);
    }
    console.log(`[cluster] three token requests (one per node) answered in ${Math.round(performance.now() - started)} ms`);
    const urls = new Set(replies.map((r) => r.body['url']));
    expect(urls).toEqual(new Set([childBase().replace(/^http/, 'ws')]));

    // One session per token, cluster-wide: the serving node admits it, another node refuses it.
    const token = replies[0]!.body['jwt'] as string;
    const opened = await LiveKitWsClient.connect(childBase().replace(/^http/, 'ws'), token);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    await opened.client.next('join');
    const again = await LiveKitWsClient.connect(nodeBase(nodes[1]!).replace(/^http/, 'ws'), token);
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.status).toBe(401);
    opened.client.close();
  }, 90_000);

  it('notices a SIGKILLed node within the node timeout and places its rooms on the others', async () => {
    const alice = users[0]!;
    const killedAt = performance.now();
    child!.kill('SIGKILL');
    await waitFor(() => nodes.every((node) => !node.cluster!.liveNodeIds.includes('node-a')), { timeoutMs: 10_000, description: 'node-a seen dead' });
    const noticedMs = Math.round(performance.now() - killedAt);
    const reply = await waitFor(async () => {
      const r = await getToken(nodeBase(nodes[0]!), alice);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 15_000, description: 'a token after node-a died' });
    console.log(`[cluster] node-a SIGKILLed: seen dead after ${noticedMs} ms, room placed anew after ${Math.round(performance.now() - killedAt)} ms`);
    const url = reply.body['url'] as string;
    expect([nodeBase(nodes[0]!), nodeBase(nodes[1]!)].map((base) => base.replace(/^http/, 'ws'))).toContain(url);
    // The participant is back in the call on the new node.
    const opened = await LiveKitWsClient.connect(url, reply.body['jwt'] as string);
    expect(opened.ok).toBe(true);
    if (opened.ok) {
      await opened.client.next('join');
      opened.client.close();
    }
  }, 60_000);

  it('holds the per-user token rate limit across nodes', async () => {
    const alice = users[0]!;
    const openid = await alice.client.getOpenIdToken();
    const statuses: number[] = [];
    // 16 requests at once, alternating over the two live nodes: each node alone would see 8,
    // within its own burst of 10; the shared bucket (burst 10, 1 per second) refuses some.
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        statuses.push((await requestLiveKitToken(nodeBase(nodes[i % 2]!), alice, roomId, { openid })).status);
      }),
    );
    const limited = statuses.filter((status) => status === 429).length;
    console.log(`[cluster] 16 token requests over two nodes: ${statuses.filter((s) => s === 200).length} granted, ${limited} rate-limited`);
    expect(limited).toBeGreaterThanOrEqual(3);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    // Let the bucket refill for the next test.
    await new Promise((resolve) => setTimeout(resolve, 6000));
  }, 60_000);

  it('while Redis is down refuses token requests with a clear 503 and keeps running sessions; recovers when Redis returns', async () => {
    const alice = users[0]!;
    const reply = await getToken(nodeBase(nodes[0]!), alice);
    expect(reply.status).toBe(200);
    const opened = await LiveKitWsClient.connect(reply.body['url'] as string, reply.body['jwt'] as string);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    await opened.client.next('join');

    await redis.kill();
    await waitFor(() => nodes.every((node) => !node.cluster!.available), { timeoutMs: 10_000, description: 'nodes see Redis down' });
    const refused = await getToken(nodeBase(nodes[1]!), alice);
    expect(refused).toEqual({ status: 503, body: { errcode: 'M_UNKNOWN', error: 'The SFU cluster cannot place calls right now; try again shortly.' } });
    const scraped = await nodes[0]!.metrics.scrape();
    expect(scraped).toMatch(/^sfu_cluster_redis_up 0$/m);
    // The running session is untouched: its socket stays open through the outage.
    expect(await opened.client.closed(1500).then(() => 'closed', () => 'open')).toBe('open');

    const restarted = performance.now();
    await redis.restart();
    await waitFor(() => nodes.every((node) => node.cluster!.available && node.cluster!.liveNodeIds.length === 2), {
      timeoutMs: 15_000,
      description: 'nodes reconnected and registered again',
    });
    const back = await waitFor(async () => {
      const r = await getToken(nodeBase(nodes[1]!), alice);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 15_000, description: 'tokens again after Redis returned' });
    console.log(`[cluster] Redis restarted: tokens issued again after ${Math.round(performance.now() - restarted)} ms`);
    // The room's claim was lost with Redis' memory; the node still serving it claims it again.
    expect(back.body['url']).toBe((reply.body['url'] as string));
    opened.client.close();
  }, 60_000);

  it('delivers a delay delegation given to one node to the node serving the room, which keeps the delayed leave alive while the member is connected there', async () => {
    const alice = users[0]!;
    const probe = await getToken(nodeBase(nodes[0]!), alice);
    expect(probe.status).toBe(200);
    const serving = nodes.find((node) => nodeBase(node).replace(/^http/, 'ws') === probe.body['url'])!;
    const other = nodes.find((node) => node !== serving)!;
    // Element Call's order: the delayed leave first, then the membership, then /get_token with the delay id.
    const dora = await sdkUserInRoom('dora');
    const delayMs = 3000;
    const membership = await publishDelayedMembership(synapse.baseUrl, dora, roomId, { focus: { type: 'livekit', livekit_service_url: publicUrl }, delayMs });
    await waitFor(() => nodes.every((node) => node.matrix!.watcher.check(roomId, dora.user.userId, dora.user.deviceId).ok) || undefined, {
      timeoutMs: 15_000,
      description: 'both nodes see dora',
    });
    const held = serving.liveKit!.keeper!.size;
    const reply = await requestLiveKitToken(nodeBase(other), dora, roomId, { extra: { delay_id: membership.delayId, delay_timeout: delayMs, delay_cs_api_url: synapse.baseUrl } });
    expect(reply.status).toBe(200);
    expect(reply.body['url']).toBe(probe.body['url']);
    // Published on the serving node's channel, not kept by the node that answered.
    await waitFor(() => serving.liveKit!.keeper!.size > held || undefined, { timeoutMs: 5000, description: 'the serving node holds the delegation' });
    const opened = await LiveKitWsClient.connect(reply.body['url'] as string, reply.body['jwt'] as string);
    if (!opened.ok) throw new Error(`upgrade refused: ${opened.status}`);
    await opened.client.next('join');
    // Three delays pass while dora is connected to the serving node: it restarted the delayed leave all along.
    await new Promise((resolve) => setTimeout(resolve, 3 * delayMs));
    expect(await membership.live()).toBe(true);
    // Dora hangs up: the serving node has the homeserver send the delayed leave at once.
    const leftAt = performance.now();
    opened.client.send({ case: 'leave', value: new LeaveRequest({ canReconnect: false, reason: DisconnectReason.CLIENT_INITIATED }) });
    await waitFor(async () => !(await membership.live()) || undefined, { timeoutMs: 20_000, intervalMs: 200, description: 'the delayed leave was sent' });
    console.log(`[cluster] delegation given to another node: delayed leave kept alive for ${3 * delayMs} ms, sent ${Math.round(performance.now() - leftAt)} ms after the leave`);
    opened.client.close();
  }, 90_000);

  it('places the rooms of a draining node on another node at their next token request', async () => {
    const alice = users[0]!;
    const before = await getToken(nodeBase(nodes[0]!), alice);
    expect(before.status).toBe(200);
    const serving = nodes.find((node) => nodeBase(node).replace(/^http/, 'ws') === before.body['url'])!;
    const other = nodes.find((node) => node !== serving)!;
    const drained = serving.drain(2000);
    const after = await waitFor(async () => {
      const r = await getToken(nodeBase(other), alice);
      return r.status === 200 && r.body['url'] !== before.body['url'] ? r : undefined;
    }, { timeoutMs: 10_000, description: 'the room placed away from the draining node' });
    expect(after.body['url']).toBe(nodeBase(other).replace(/^http/, 'ws'));
    await drained;
  }, 60_000);
});
