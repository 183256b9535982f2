// The SFU target's nodes: one SfuNode (no cluster, as before), or with `--nodes 2` a real
// redis-server (RedisProcess: port from the OS, loopback) and two SfuNodes in cluster mode
// on it (distinct node ids, short heartbeats, pipe ports below 32768), each with its own
// workers and media ports. A room whose participants join both nodes then runs a conference
// on each, linked by the cascade (SRTP pipe transports). Used by target.ts only.

import type { Logger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { SfuMetrics } from '../../src/server/metrics/SfuMetrics.ts';
import { RedisProcess } from '../tools/redis.ts';
import { childPidsNamed } from './procStat.ts';

/** What the target's nodes are started with. */
export interface SfuNodesOptions {
  readonly nodes: number;
  readonly workers: number;
  /** First media port; node k takes basePort + k × workers … (+ workers − 1). */
  readonly basePort: number;
  readonly maxWorkerLoad?: number;
  readonly spreadConsumersPerWorker?: number;
  readonly spreadWorkerLoad?: number;
  readonly logger: Logger;
  /** Metrics per node (its own registry), e.g. with another stats interval. */
  readonly metrics?: () => SfuMetrics;
}

/** Cascade pipe ports of every node: below the ephemeral range, as every test port. */
const PIPE_MIN_PORT = 20_000;
const PIPE_MAX_PORT = 29_999;

/** The started nodes (and Redis for a cluster). */
export interface SfuNodes {
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly node: SfuNode }>;
  /** The redis-server's pid (cluster runs). */
  readonly redisPid: number | undefined;
  stop(): Promise<void>;
}

/** Starts the nodes; with more than one, Redis first and every node seeing the others before it returns. */
export async function startSfuNodes(options: SfuNodesOptions): Promise<SfuNodes> {
  const redis = options.nodes > 1 ? await RedisProcess.start() : undefined;
  const started: Array<{ id: string; node: SfuNode }> = [];
  const stop = async (): Promise<void> => {
    for (const { id, node } of started) {
      await node.stop().catch((error: unknown) => options.logger.warn('load target: node stop failed', { nodeId: id, error }));
    }
    await redis?.stop();
  };
  try {
    for (let index = 0; index < options.nodes; index++) {
      const id = `load-node-${index + 1}`;
      const config = loadConfig({
        env: {},
        overrides: {
          server: { port: 0 },
          auth: { mode: 'none' },
          media: {
            numWorkers: options.workers,
            basePort: options.basePort + index * options.workers,
            ...(options.maxWorkerLoad !== undefined ? { maxWorkerLoad: options.maxWorkerLoad } : {}),
          },
          conference: {
            maxParticipants: 1000,
            maxConsumersPerParticipant: 2000,
            ...(options.spreadConsumersPerWorker !== undefined ? { spreadConsumersPerWorker: options.spreadConsumersPerWorker } : {}),
            ...(options.spreadWorkerLoad !== undefined ? { spreadWorkerLoad: options.spreadWorkerLoad } : {}),
          },
          signalling: { ratePerSecond: 1000, rateBurst: 2000, joinTimeoutMs: 60_000 },
          ...(redis
            ? { cluster: { redisUrl: redis.url, nodeId: id, heartbeatMs: 300, nodeTimeoutMs: 1200, commandTimeoutMs: 500, pipeMinPort: PIPE_MIN_PORT, pipeMaxPort: PIPE_MAX_PORT } }
            : {}),
        },
      });
      const metrics = options.metrics?.();
      const node = await SfuNode.start({ config, logger: options.logger.child({ nodeId: id }), ...(metrics ? { metrics } : {}) });
      started.push({ id, node });
    }
    if (redis) {
      await waitFor(() => started.every(({ node }) => node.cluster?.liveNodeIds.length === options.nodes) || undefined, {
        timeoutMs: 15_000,
        description: `every node sees ${options.nodes} nodes`,
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  // RedisProcess keeps its child to itself: the redis-server child of this process is it.
  return { nodes: started, redisPid: redis ? childPidsNamed(process.pid, 'redis-server')[0] : undefined, stop };
}
