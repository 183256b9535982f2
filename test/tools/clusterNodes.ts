// A cluster of SFU nodes for tests, every part real: one redis-server (test/tools/redis.ts),
// N nodes each a real process (`node src/server/main.ts`, configured through SFU_CONFIG: the
// same JWT key file, Matrix account and service URL on every node, its own id, ports and
// data directory), and in front of them a small loopback load balancer playing the part of
// the README's nginx for `sfu.example.org`: the service URL (`server.publicUrl`) balances
// every HTTP request (/sfu/get, /get_token, /widget/, …) over the nodes whose process runs,
// trying the next node when one refuses the connection. Each node advertises its own address
// (`cluster.advertisedUrl` = http://127.0.0.1:{its port}, the `sfuN.example.org` of the README),
// where clients open their WebSockets directly.
//
// The balancer passes every response on untouched: the widget's Content-Security-Policy names
// the live nodes' WebSocket origins itself (connect-src), so the browser may follow a token
// reply to another node.
// Nodes can be SIGKILLed, drained (SIGTERM) and started again (same id and port). stop() ends
// everything it started (node processes, their mediasoup workers, Redis, the balancer) and is
// idempotent.

import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { freeMediaBasePort } from './ports.ts';
import { RedisProcess } from './redis.ts';
import { pidAlive } from './workerPid.ts';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
/** The cluster's Redis key prefix (the default of cluster.keyPrefix). */
const KEY_PREFIX = 'sfu:';

/** A JSON object merged into each node's configuration. */
export type ExtraConfig = Record<string, unknown>;

/** Options of startClusterNodes(). */
export interface ClusterOptions {
  /** Number of nodes (ids node-1 … node-N). Default 3. */
  readonly count?: number;
  /** The homeserver every node syncs (the run's Synapse). */
  readonly homeserver: { readonly baseUrl: string; readonly serverName: string };
  /** The SFU's Matrix account (password login: each node gets its own device). */
  readonly account: { readonly userId: string; readonly password: string };
  /** Merged (deeply) into every node's configuration, or per node from its id and index (0-based). */
  readonly extraConfig?: ExtraConfig | ((nodeId: string, index: number) => ExtraConfig);
  /** cluster.heartbeatMs / nodeTimeoutMs. Default 400 / 1600 (a death shows within 2 s). */
  readonly heartbeatMs?: number;
  readonly nodeTimeoutMs?: number;
  /** drain.gracePeriodMs. Default 10 000. */
  readonly drainGraceMs?: number;
  /** Wait for each node's /readyz at start. Default 60 000 ms. */
  readonly readyTimeoutMs?: number;
}

/** Deep merge of plain objects (arrays and scalars of `extra` replace). */
function merge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    const bothObjects = typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current);
    out[key] = bothObjects ? merge(current as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return out;
}

/** Pids of the direct children of `pid` (its mediasoup workers), read from /proc. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat, after the parenthesised command name (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process exited while we listed /proc.
      continue;
    }
  }
  return out;
}

/** One node process of the cluster. */
export class ClusterNodeProcess {
  readonly id: string;
  readonly index: number;
  /** The node's HTTP port (kept across restarts). */
  readonly port: number;
  /** Every line the node wrote (JSON log lines), across restarts. */
  readonly log: string[] = [];
  readonly #configDir: string;
  readonly #config: (port: number, basePort: number) => Record<string, unknown>;
  #child: ChildProcess | undefined;
  #workerPids: number[] = [];
  #exit: Promise<void> = Promise.resolve();
  #partial = '';

  constructor(id: string, index: number, port: number, configDir: string, config: (port: number, basePort: number) => Record<string, unknown>) {
    this.id = id;
    this.index = index;
    this.port = port;
    this.#configDir = configDir;
    this.#config = config;
  }

  /** http://127.0.0.1:{port}: the node itself, its cluster.advertisedUrl. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The process runs (it may be draining). */
  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Its mediasoup workers as seen when it became ready. */
  get workerPids(): readonly number[] {
    return this.#workerPids;
  }

  /** Exit of the current process (resolves at once when none runs). */
  get exited(): Promise<void> {
    return this.#exit;
  }

  /** Starts the process (a fresh media port) and waits for /readyz; rejects at once if it exits. */
  async start(readyTimeoutMs: number): Promise<void> {
    if (this.running) throw new Error(`${this.id} already runs`);
    const configFile = join(this.#configDir, `${this.id}.json`);
    writeFileSync(configFile, JSON.stringify(this.#config(this.port, await freeMediaBasePort())));
    const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', SFU_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exit = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.log.push(`[harness] ${this.id} exited (code ${code}, signal ${signal})`);
      resolve();
    }));
    const collect = (chunk: Buffer): void => {
      const lines = (this.#partial + chunk.toString()).split('\n');
      this.#partial = lines.pop() ?? '';
      this.log.push(...lines);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = this.#exit.then(() => Promise.reject(new Error(`${this.id} exited before it was ready:\n${this.log.slice(-20).join('\n')}`)));
    const ready = waitFor(async () => (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200, {
      timeoutMs: readyTimeoutMs,
      intervalMs: 200,
      description: `${this.id} ready`,
    });
    try {
      await Promise.race([ready, exited]);
    } finally {
      // Whichever lost: no unhandled rejection later.
      ready.catch(() => undefined);
      exited.catch(() => undefined);
    }
    this.#workerPids = childPids(child.pid!);
  }

  /** A metric from the node's /metrics, summed over its label sets (`sfu_participants`: every edge); undefined when absent. */
  async metric(name: string): Promise<number | undefined> {
    const text = await (await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const values = text
      .split('\n')
      .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
    return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0);
  }

  /** SIGKILL (no drain, no goodbye to Redis), then waits for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child!.kill('SIGKILL');
    await this.#exit;
  }

  /** SIGTERM: the node drains (see README "Graceful drain"); resolves at once, `exited` when done. */
  drain(): void {
    if (this.running) this.#child!.kill('SIGTERM');
  }

  /** Kills the process if it runs and makes sure its mediasoup workers are gone. */
  async stop(): Promise<void> {
    await this.kill();
    // A worker notices its parent's death through its closed channel; kill the stragglers.
    const left = this.#workerPids.filter(pidAlive);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await waitFor(() => this.#workerPids.every((pid) => !pidAlive(pid)), { timeoutMs: 5000, description: `${this.id}'s workers to exit` });
  }
}

/** A running cluster: Redis, the nodes and the balancer at `serviceUrl`. */
export class ClusterNodes {
  readonly redis: RedisProcess;
  readonly nodes: readonly ClusterNodeProcess[];
  /** The service URL (server.publicUrl of every node): the balancer. */
  readonly serviceUrl: string;
  readonly #balancer: Server;
  readonly #dir: string;
  readonly #readyTimeoutMs: number;
  #next = 0;
  #stopped = false;

  constructor(redis: RedisProcess, nodes: readonly ClusterNodeProcess[], serviceUrl: string, balancer: Server, dir: string, readyTimeoutMs: number) {
    this.redis = redis;
    this.nodes = nodes;
    this.serviceUrl = serviceUrl;
    this.#balancer = balancer;
    this.#dir = dir;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  /** The node with this id. */
  node(id: string): ClusterNodeProcess {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** The node a token reply's `url` (ws://127.0.0.1:{port}/ws) names. */
  nodeOfUrl(url: string): ClusterNodeProcess | undefined {
    const http = url.replace(/^ws/, 'http');
    return this.nodes.find((node) => http === node.url || http.startsWith(`${node.url}/`));
  }

  /** Id of the node Redis says serves `roomId` (its placement claim), if any. */
  async servingNodeOf(roomId: string): Promise<string | undefined> {
    return (await this.#redisCommand((redis) => redis.get(`${KEY_PREFIX}room:${roomId}`))) ?? undefined;
  }

  /** Ids of nodes with a live record in Redis (heartbeat within nodeTimeoutMs). */
  async liveNodeIds(): Promise<string[]> {
    return this.#redisCommand(async (redis) => {
      const ids = await redis.smembers(`${KEY_PREFIX}nodes`);
      const live: string[] = [];
      for (const id of ids) if (await redis.exists(`${KEY_PREFIX}node:${id}`)) live.push(id);
      return live.sort();
    });
  }

  /** Waits until Redis lists exactly the running nodes as live. */
  async waitForRegistry(timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => {
      const live = await this.liveNodeIds();
      const running = this.nodes.filter((node) => node.running).map((node) => node.id).sort();
      if (live.join() !== running.join()) throw new Error(`live ${live.join()} ≠ running ${running.join()}`);
      return true;
    }, { timeoutMs, intervalMs: 200, description: 'every running node registered in Redis' });
  }

  /** Starts a node that was killed or drained again (same id and port, a fresh media port). */
  async restart(id: string): Promise<void> {
    const node = this.node(id);
    await node.stop();
    await node.start(this.#readyTimeoutMs);
  }

  /** Ends everything; idempotent, never throws on a part that is already gone. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const failures: unknown[] = [];
    for (const node of this.nodes) await node.stop().catch((error: unknown) => failures.push(error));
    this.#balancer.closeAllConnections();
    await new Promise<void>((resolve) => this.#balancer.close(() => resolve()));
    await this.redis.stop().catch((error: unknown) => failures.push(error));
    rmSync(this.#dir, { recursive: true, force: true });
    if (failures.length > 0) throw new AggregateError(failures, 'cluster teardown');
  }

  /** One short-lived connection per command: the harness never holds Redis across an outage. */
  async #redisCommand<T>(run: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 2000 });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return await run(redis);
    } finally {
      redis.disconnect();
    }
  }

  /** The running nodes in balancing order (round robin). */
  balancedTargets(): ClusterNodeProcess[] {
    const running = this.nodes.filter((node) => node.running);
    const start = this.#next++ % Math.max(1, running.length);
    return [...running.slice(start), ...running.slice(0, start)];
  }
}

/** Sends one buffered request to `port`; rejects when the connection fails before an answer. */
function forward(port: number, request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.url, headers: { ...request.headers, connection: 'close' }, agent: false }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
      answer.once('end', () => resolve());
      answer.once('error', () => resolve());
    });
    upstream.once('error', reject);
    upstream.end(body);
  });
}

/** The balancer's HTTP handler (see the header comment). */
function handleHttp(cluster: () => ClusterNodes, request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    void (async () => {
      const body = Buffer.concat(chunks);
      for (const node of cluster().balancedTargets()) {
        try {
          await forward(node.port, request, body, response);
          return;
        } catch {
          // Connection refused or reset before an answer: nginx's passive health check tries the next.
          if (response.headersSent) return void response.destroy();
        }
      }
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' }).end('no node answered');
    })();
  });
}

/**
 * Starts Redis, the balancer and `count` node processes on loopback, and waits until every
 * node is ready and registered. On a failure everything started so far is stopped.
 */
export async function startClusterNodes(options: ClusterOptions): Promise<ClusterNodes> {
  const dir = mkdtempSync(join(tmpdir(), 'sfu-cluster-nodes-'));
  const redis = await RedisProcess.start();
  const keyFile = join(dir, 'jwt.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  let cluster: ClusterNodes | undefined;
  const ports: number[] = [];
  for (let i = 0; i < (options.count ?? 3); i++) ports.push(await findFreePort());
  const balancer = createServer((request, response) => handleHttp(() => cluster!, request, response));
  await new Promise<void>((resolve) => balancer.listen(0, '127.0.0.1', resolve));
  const serviceUrl = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}`;
  const matrix = loopbackMatrixOverrides({ baseUrl: options.homeserver.baseUrl, serverName: options.homeserver.serverName }, options.account, 5000) as Record<string, Record<string, unknown>>;
  const nodes = ports.map((nodePort, index) => {
    const id = `node-${index + 1}`;
    const advertisedUrl = `http://127.0.0.1:${nodePort}`;
    const extra = typeof options.extraConfig === 'function' ? options.extraConfig(id, index) : (options.extraConfig ?? {});
    return new ClusterNodeProcess(id, index, nodePort, dir, (port, basePort) =>
      merge(
        {
          server: { port, publicUrl: serviceUrl, dataDir: join(dir, id) },
          media: { numWorkers: 1, basePort },
          auth: { ...matrix['auth'], jwtPrivateKeyFile: keyFile },
          matrix: matrix['matrix'],
          log: { format: 'json' },
          drain: { gracePeriodMs: options.drainGraceMs ?? 10_000 },
          cluster: { redisUrl: redis.url, nodeId: id, advertisedUrl, heartbeatMs: options.heartbeatMs ?? 400, nodeTimeoutMs: options.nodeTimeoutMs ?? 1600, commandTimeoutMs: 500 },
        },
        extra,
      ),
    );
  });
  cluster = new ClusterNodes(redis, nodes, serviceUrl, balancer, dir, options.readyTimeoutMs ?? 60_000);
  // Last resort when the test process ends without stop() (a killed run): no orphaned nodes.
  process.once('exit', () => {
    for (const node of nodes) if (node.pid !== undefined && node.running) process.kill(node.pid, 'SIGKILL');
  });
  try {
    // One at a time: three Matrix logins and worker starts at once crowd a small machine.
    for (const node of nodes) await node.start(options.readyTimeoutMs ?? 60_000);
    await cluster.waitForRegistry();
    return cluster;
  } catch (error) {
    await cluster.stop().catch((teardown: unknown) => console.log(`[cluster] teardown after a failed start: ${String(teardown)}`));
    throw error;
  }
}
