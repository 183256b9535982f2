// The system under load, run as its own Node process (forked with an IPC channel) so its
// CPU is measured apart from the generator: `sfu` starts real SfuNodes (auth.mode none,
// port 0, workers from --workers; with --nodes 2 a redis-server and two nodes in cluster
// mode, see sfuNodes.ts) and `baseline` starts the bare-mediasoup server of baseline.ts.
// Sends one `ready` message with every node's WebSocket URL, its own pid, every worker pid
// (node by node) and the redis-server's pid; answers `memory` with process.memoryUsage()
// after a GC (the parent runs it with --expose-gc); answers `layers` with the worker's own
// view of every simulcast consumer (consumer.dump(): preferred and current spatial layer,
// found through mediasoup's observer, so it works the same for both targets); answers
// `placement` with where the conferences live on every node, the cascade's links, and the
// packets pipe consumers sent, worker-to-worker pipes apart from node-to-node (cascade)
// ones; stops when the channel closes or on SIGTERM. Logs warnings and errors to stderr.
//
// Usage (by LoadRun): fork test/load/target.ts sfu|baseline --workers N --base-port P [--nodes N] [--max-worker-load F] [--stats-interval-ms MS]

import { createLogger } from '../../src/common/lib/logger.ts';
import { SfuMetrics } from '../../src/server/metrics/SfuMetrics.ts';
import { startBaseline } from './baseline.ts';
import { startSfuNodes } from './sfuNodes.ts';
import mediasoup from 'mediasoup';
import type { Consumer } from '../../src/server/media/types.ts';

/** The worker's view of the simulcast consumers, counted by spatial layer ("-1": none yet). */
export interface ConsumerLayersDump {
  readonly simulcastConsumers: number;
  /** Consumers dumped (at most MAX_DUMPED_CONSUMERS, the rest are counted only). */
  readonly dumped: number;
  readonly preferredSpatial: Record<string, number>;
  readonly currentSpatial: Record<string, number>;
  /** Dumped consumers whose current spatial layer is their preferred one. */
  readonly currentIsPreferred: number;
}

/** Most consumers dumped per `layers` request (each dump is a worker round trip). */
const MAX_DUMPED_CONSUMERS = 300;

/** Every open simulcast consumer of every worker, from mediasoup's observer. */
function watchSimulcastConsumers(): Set<Consumer> {
  const consumers = new Set<Consumer>();
  mediasoup.observer.on('newworker', (worker) =>
    worker.observer.on('newrouter', (router) =>
      router.observer.on('newtransport', (transport) =>
        transport.observer.on('newconsumer', (consumer) => {
          if (consumer.type !== 'simulcast') return;
          consumers.add(consumer);
          consumer.observer.once('close', () => consumers.delete(consumer));
        }),
      ),
    ),
  );
  return consumers;
}

async function dumpLayers(consumers: ReadonlySet<Consumer>): Promise<ConsumerLayersDump> {
  const preferredSpatial: Record<string, number> = {};
  const currentSpatial: Record<string, number> = {};
  let currentIsPreferred = 0;
  let dumped = 0;
  for (const consumer of [...consumers].slice(0, MAX_DUMPED_CONSUMERS)) {
    const dump = (await consumer.dump().catch(() => undefined)) as { preferredSpatialLayer?: number; currentSpatialLayer?: number } | undefined;
    if (!dump || dump.preferredSpatialLayer === undefined || dump.currentSpatialLayer === undefined) continue;
    dumped++;
    preferredSpatial[dump.preferredSpatialLayer] = (preferredSpatial[dump.preferredSpatialLayer] ?? 0) + 1;
    currentSpatial[dump.currentSpatialLayer] = (currentSpatial[dump.currentSpatialLayer] ?? 0) + 1;
    if (dump.currentSpatialLayer === dump.preferredSpatialLayer) currentIsPreferred++;
  }
  return { simulcastConsumers: consumers.size, dumped, preferredSpatial, currentSpatial, currentIsPreferred };
}

/** Where the conferences live and what crossed pipes, answered to `placement`. */
export interface PlacementDump {
  readonly conferences: Array<{
    readonly id: string;
    /** The node (index in `ready.nodes`) this conference runs on. */
    readonly node: number;
    readonly routers: Array<{ readonly slotIndex: number; readonly participants: number; readonly pipeTransports: number; readonly primary: boolean }>;
    /** Each participant's worker slot (null while it moves, and for another node's), producer ids, and the node id it sits on when not this one. */
    readonly participants: Array<{ readonly id: string; readonly slotIndex: number | null; readonly producers: string[]; readonly remoteNode?: string }>;
  }>;
  /** Packets sent by every worker-to-worker pipe consumer so far (closed ones included), over all workers. */
  readonly pipedPackets: number;
  /** Worker-to-worker pipe consumers open now. */
  readonly pipeConsumers: number;
  /** Packets sent so far by the cascade's pipe consumers (node to node), per sending node. */
  readonly cascadePacketsByNode: number[];
  /** Cascade pipe consumers open now. */
  readonly cascadeConsumers: number;
  /** Per node: its cascade's links (`node.cascade.summary()`); empty without a cluster. */
  readonly nodes: Array<{ readonly index: number; readonly nodeId: string; readonly linksUp: number; readonly linksOffered: number; readonly roomsSpanning: number }>;
}

/** A pipe consumer and what it pipes: between two workers of a node, or to another node (the cascade). */
interface PipeConsumer {
  readonly consumer: Consumer;
  readonly cascade: boolean;
  readonly workerPid: number;
}

/**
 * Packets sent by the pipe consumers of every worker (found through mediasoup's observer),
 * worker-to-worker pipes apart from the cascade's (pipe transports with appData `cascade`),
 * by worker pid: the open ones are asked (consumer.getStats()), a closed one counts with its
 * last answer.
 */
class PipeCounter {
  readonly #open = new Set<PipeConsumer>();
  readonly #lastCount = new Map<PipeConsumer, number>();
  /** Packets of closed consumers: worker pipes under key "worker", cascade ones by worker pid. */
  readonly #closed = new Map<string, number>();

  constructor() {
    mediasoup.observer.on('newworker', (worker) =>
      worker.observer.on('newrouter', (router) =>
        router.observer.on('newtransport', (transport) => {
          if (transport.type !== 'pipe') return;
          const cascade = typeof (transport.appData as { cascade?: unknown }).cascade === 'string';
          transport.observer.on('newconsumer', (consumer) => {
            const entry: PipeConsumer = { consumer, cascade, workerPid: worker.pid };
            this.#open.add(entry);
            consumer.observer.once('close', () => {
              this.#open.delete(entry);
              const key = PipeCounter.#key(entry);
              this.#closed.set(key, (this.#closed.get(key) ?? 0) + (this.#lastCount.get(entry) ?? 0));
              this.#lastCount.delete(entry);
            });
          });
        }),
      ),
    );
  }

  static #key(entry: PipeConsumer): string {
    return entry.cascade ? String(entry.workerPid) : 'worker';
  }

  /** Open consumers: worker-to-worker and cascade. */
  get open(): { worker: number; cascade: number } {
    let cascade = 0;
    for (const entry of this.#open) if (entry.cascade) cascade++;
    return { worker: this.#open.size - cascade, cascade };
  }

  /** Packets every pipe consumer sent so far: worker pipes in total, cascade pipes by worker pid. */
  async packets(): Promise<{ worker: number; cascadeByWorkerPid: Map<number, number> }> {
    const totals = new Map(this.#closed);
    for (const entry of [...this.#open]) {
      const stats = await entry.consumer.getStats().catch((error: unknown) => {
        process.stderr.write(`pipe consumer stats failed: ${String(error)}\n`);
        return [];
      });
      const packets = stats.reduce((sum, stat) => sum + (stat.type === 'outbound-rtp' ? stat.packetCount : 0), 0);
      this.#lastCount.set(entry, packets);
      const key = PipeCounter.#key(entry);
      totals.set(key, (totals.get(key) ?? 0) + packets);
    }
    const cascadeByWorkerPid = new Map<number, number>();
    for (const [key, packets] of totals) if (key !== 'worker') cascadeByWorkerPid.set(Number(key), packets);
    return { worker: totals.get('worker') ?? 0, cascadeByWorkerPid };
  }
}

/** First line a target prints once it accepts sessions. */
export interface TargetReady {
  readonly ready: true;
  readonly kind: 'sfu' | 'baseline';
  /** The first node's WebSocket URL. */
  readonly wsUrl: string;
  readonly pid: number;
  /** Every worker of every node, node by node. */
  readonly workerPids: number[];
  readonly mediasoupVersion: string;
  /** Every node: id, WebSocket URL, worker pids (one entry for the baseline and a single node). */
  readonly nodes: Array<{ readonly nodeId: string; readonly wsUrl: string; readonly workerPids: number[] }>;
  /** The redis-server of a cluster run. */
  readonly redisPid?: number;
}

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value)) throw new Error(`${name} needs a number`);
  return value;
}

async function main(): Promise<void> {
  const kind = process.argv[2];
  const workers = arg('--workers', 1);
  const basePort = arg('--base-port', 0);
  const mediasoupVersion = mediasoup.version;
  const logger = createLogger({ level: 'warn', sink: (line) => process.stderr.write(line + '\n') });
  const simulcastConsumers = watchSimulcastConsumers();
  const pipes = new PipeCounter();
  let stop: () => Promise<void>;
  let ready: TargetReady;
  let conferences: () => PlacementDump['conferences'] = () => [];
  let cascades: () => PlacementDump['nodes'] = () => [];
  if (kind === 'sfu') {
    const maxWorkerLoad = arg('--max-worker-load', -1);
    const spreadConsumersPerWorker = arg('--spread-consumers', -1);
    const spreadWorkerLoad = arg('--spread-worker-load', -1);
    const statsIntervalMs = arg('--stats-interval-ms', -1);
    const started = await startSfuNodes({
      nodes: arg('--nodes', 1),
      workers,
      basePort,
      logger,
      ...(maxWorkerLoad >= 0 ? { maxWorkerLoad } : {}),
      ...(spreadConsumersPerWorker >= 0 ? { spreadConsumersPerWorker } : {}),
      ...(spreadWorkerLoad >= 0 ? { spreadWorkerLoad } : {}),
      ...(statsIntervalMs > 0 ? { metrics: () => new SfuMetrics({ logger, stats: { intervalMs: statsIntervalMs } }) } : {}),
    });
    const nodes = started.nodes.map(({ id, node }) => ({ nodeId: id, wsUrl: node.wsUrl, workerPids: node.pool.slots.map((slot) => slot.worker.pid) }));
    ready = {
      ready: true,
      kind,
      wsUrl: nodes[0]!.wsUrl,
      pid: process.pid,
      workerPids: nodes.flatMap((node) => node.workerPids),
      mediasoupVersion,
      nodes,
      ...(started.redisPid !== undefined ? { redisPid: started.redisPid } : {}),
    };
    stop = () => started.stop();
    conferences = () =>
      started.nodes.flatMap(({ node }, index) =>
        node.registry.list().map((conference) => {
          const dump = conference.dump();
          return {
            id: dump.id,
            node: index,
            routers: dump.routers.map(({ slotIndex, participants, pipeTransports, primary }) => ({ slotIndex, participants, pipeTransports, primary })),
            participants: dump.participants.map(({ id, slotIndex, producers, remoteLink }) => ({ id, slotIndex, producers, ...(remoteLink !== undefined ? { remoteNode: remoteLink } : {}) })),
          };
        }),
      );
    cascades = () =>
      started.nodes.flatMap(({ id, node }, index) => {
        if (!node.cascade) return [];
        const summary = node.cascade.summary();
        return [{ index, nodeId: id, linksUp: summary.links.up, linksOffered: summary.links.offered, roomsSpanning: summary.roomsSpanningNodes }];
      });
  } else if (kind === 'baseline') {
    const baseline = await startBaseline({ basePort, logger });
    ready = {
      ready: true,
      kind,
      wsUrl: baseline.wsUrl,
      pid: process.pid,
      workerPids: [baseline.workerPid],
      mediasoupVersion,
      nodes: [{ nodeId: 'baseline', wsUrl: baseline.wsUrl, workerPids: [baseline.workerPid] }],
    };
    stop = () => baseline.stop();
  } else {
    throw new Error(`unknown target ${String(kind)} (sfu or baseline)`);
  }
  process.on('message', (message) => {
    if (message === 'layers') {
      dumpLayers(simulcastConsumers).then(
        (layers) => process.send?.({ layers }),
        (error: unknown) => process.stderr.write(`layers dump failed: ${String(error)}\n`),
      );
      return;
    }
    if (message === 'placement') {
      pipes.packets().then(
        ({ worker, cascadeByWorkerPid }) => {
          const open = pipes.open;
          const cascadePacketsByNode = ready.nodes.map((node) => node.workerPids.reduce((sum, pid) => sum + (cascadeByWorkerPid.get(pid) ?? 0), 0));
          const placement: PlacementDump = {
            conferences: conferences(),
            pipedPackets: worker,
            pipeConsumers: open.worker,
            cascadePacketsByNode,
            cascadeConsumers: open.cascade,
            nodes: cascades(),
          };
          process.send?.({ placement });
        },
        (error: unknown) => process.stderr.write(`placement dump failed: ${String(error)}\n`),
      );
      return;
    }
    if (message !== 'memory') return;
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ memory: process.memoryUsage() });
  });
  process.send?.(ready);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('disconnect', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`target failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
