// The system under load, run as its own Node process (forked with an IPC channel) so its
// CPU is measured apart from the generator: `sfu` starts a real SfuNode (auth.mode none,
// port 0, workers from --workers) and `baseline` starts the bare-mediasoup server of
// baseline.ts. Sends one `ready` message with the WebSocket URL, its own pid and its
// worker pids; answers `memory` with process.memoryUsage() after a GC (the parent runs it
// with --expose-gc); answers `layers` with the worker's own view of every simulcast
// consumer (consumer.dump(): preferred and current spatial layer, found through mediasoup's
// observer, so it works the same for both targets); stops when the channel closes or on
// SIGTERM. Logs warnings and errors to stderr.
//
// Usage (by LoadRun): fork test/load/target.ts sfu|baseline --workers N --base-port P [--max-worker-load F] [--stats-interval-ms MS]

import { createLogger } from '../../src/common/lib/logger.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { SfuMetrics } from '../../src/server/metrics/SfuMetrics.ts';
import { startBaseline } from './baseline.ts';
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
    readonly routers: Array<{ readonly slotIndex: number; readonly participants: number; readonly pipeTransports: number; readonly primary: boolean }>;
    /** Each participant's worker slot (null while it moves) and producer ids. */
    readonly participants: Array<{ readonly id: string; readonly slotIndex: number | null; readonly producers: string[] }>;
  }>;
  /** Packets sent by every pipe consumer so far (closed ones included), over all workers. */
  readonly pipedPackets: number;
  /** Pipe consumers open now. */
  readonly pipeConsumers: number;
}

/**
 * Packets sent by the pipe consumers of every worker (found through mediasoup's observer):
 * the open ones are asked (consumer.getStats()), a closed one counts with its last answer.
 */
class PipeCounter {
  readonly #open = new Set<Consumer>();
  readonly #lastCount = new Map<Consumer, number>();
  #closedPackets = 0;

  constructor() {
    mediasoup.observer.on('newworker', (worker) =>
      worker.observer.on('newrouter', (router) =>
        router.observer.on('newtransport', (transport) => {
          if (transport.type !== 'pipe') return;
          transport.observer.on('newconsumer', (consumer) => {
            this.#open.add(consumer);
            consumer.observer.once('close', () => {
              this.#open.delete(consumer);
              this.#closedPackets += this.#lastCount.get(consumer) ?? 0;
              this.#lastCount.delete(consumer);
            });
          });
        }),
      ),
    );
  }

  get open(): number {
    return this.#open.size;
  }

  /** Packets every pipe consumer sent so far. */
  async packets(): Promise<number> {
    let total = this.#closedPackets;
    for (const consumer of [...this.#open]) {
      const stats = await consumer.getStats().catch((error: unknown) => {
        process.stderr.write(`pipe consumer stats failed: ${String(error)}\n`);
        return [];
      });
      const packets = stats.reduce((sum, stat) => sum + (stat.type === 'outbound-rtp' ? stat.packetCount : 0), 0);
      this.#lastCount.set(consumer, packets);
      total += packets;
    }
    return total;
  }
}

/** First line a target prints once it accepts sessions. */
export interface TargetReady {
  readonly ready: true;
  readonly kind: 'sfu' | 'baseline';
  readonly wsUrl: string;
  readonly pid: number;
  readonly workerPids: number[];
  readonly mediasoupVersion: string;
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
  if (kind === 'sfu') {
    const maxWorkerLoad = arg('--max-worker-load', -1);
    const spreadConsumersPerWorker = arg('--spread-consumers', -1);
    const spreadWorkerLoad = arg('--spread-worker-load', -1);
    const config = loadConfig({
      env: {},
      overrides: {
        server: { port: 0 },
        auth: { mode: 'none' },
        media: { numWorkers: workers, basePort, ...(maxWorkerLoad >= 0 ? { maxWorkerLoad } : {}) },
        conference: {
          maxParticipants: 1000,
          maxConsumersPerParticipant: 2000,
          ...(spreadConsumersPerWorker >= 0 ? { spreadConsumersPerWorker } : {}),
          ...(spreadWorkerLoad >= 0 ? { spreadWorkerLoad } : {}),
        },
        signalling: { ratePerSecond: 1000, rateBurst: 2000, joinTimeoutMs: 60_000 },
      },
    });
    const statsIntervalMs = arg('--stats-interval-ms', -1);
    const metrics = statsIntervalMs > 0 ? new SfuMetrics({ logger, stats: { intervalMs: statsIntervalMs } }) : undefined;
    const node = await SfuNode.start({ config, logger, ...(metrics ? { metrics } : {}) });
    ready = {
      ready: true,
      kind,
      wsUrl: node.wsUrl,
      pid: process.pid,
      workerPids: node.pool.slots.map((slot) => slot.worker.pid),
      mediasoupVersion,
    };
    stop = () => node.stop();
    conferences = () =>
      node.registry.list().map((conference) => {
        const dump = conference.dump();
        return {
          id: dump.id,
          routers: dump.routers.map(({ slotIndex, participants, pipeTransports, primary }) => ({ slotIndex, participants, pipeTransports, primary })),
          participants: dump.participants.map(({ id, slotIndex, producers }) => ({ id, slotIndex, producers })),
        };
      });
  } else if (kind === 'baseline') {
    const baseline = await startBaseline({ basePort, logger });
    ready = { ready: true, kind, wsUrl: baseline.wsUrl, pid: process.pid, workerPids: [baseline.workerPid], mediasoupVersion };
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
        (pipedPackets) => process.send?.({ placement: { conferences: conferences(), pipedPackets, pipeConsumers: pipes.open } satisfies PlacementDump }),
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
