// The process under load as seen from the generator: forks target.ts (our SFU or the
// bare-mediasoup baseline) with an IPC channel, keeps the tail of its stderr (and writes
// all of it to a log file), and asks it for its readiness, its memory after a GC, the
// worker's view of its simulcast consumers' layers, and where its conferences live (routers,
// pipe transports, packets that crossed pipes between workers and between nodes).

import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConsumerLayersDump, PlacementDump, TargetReady } from './target.ts';

/** What the target process is started with. */
export interface TargetOptions {
  readonly target: 'sfu' | 'baseline';
  /** mediasoup workers per node. */
  readonly workers: number;
  /** SfuNodes of the SFU target (more than one: a cluster on a redis-server of its own). */
  readonly nodes?: number;
  readonly maxWorkerLoad?: number;
  readonly sfuStatsIntervalMs?: number;
  /** conference.spreadConsumersPerWorker of the SFU target (0 = a conference stays on one worker). */
  readonly spreadConsumersPerWorker?: number;
  /** conference.spreadWorkerLoad of the SFU target. */
  readonly spreadWorkerLoad?: number;
  readonly mediasoupDir?: string;
  readonly targetLogFile?: string;
}

/** Runs the target as a child process and talks to it over IPC. */
export class TargetProcess {
  readonly child: ChildProcess;
  readonly stderrTail: string[] = [];
  ready: TargetReady | undefined;

  constructor(options: TargetOptions, basePort: number) {
    const script = fileURLToPath(new URL('./target.ts', import.meta.url));
    const args = [options.target, '--workers', String(options.workers), '--base-port', String(basePort)];
    if ((options.nodes ?? 1) > 1) args.push('--nodes', String(options.nodes));
    if (options.maxWorkerLoad !== undefined) args.push('--max-worker-load', String(options.maxWorkerLoad));
    if (options.sfuStatsIntervalMs !== undefined) args.push('--stats-interval-ms', String(options.sfuStatsIntervalMs));
    if (options.spreadConsumersPerWorker !== undefined) args.push('--spread-consumers', String(options.spreadConsumersPerWorker));
    if (options.spreadWorkerLoad !== undefined) args.push('--spread-worker-load', String(options.spreadWorkerLoad));
    const env = { ...process.env };
    const execArgv = ['--expose-gc'];
    // LOADTEST_TARGET_CPU_PROF=DIR: V8 CPU profile of the target process (where its control-plane time goes).
    const profileDir = process.env['LOADTEST_TARGET_CPU_PROF'];
    if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
    delete env['LOADTEST_MEDIASOUP_DIR'];
    if (options.mediasoupDir) {
      env['LOADTEST_MEDIASOUP_DIR'] = options.mediasoupDir;
      delete env['MEDIASOUP_WORKER_BIN']; // that package's own worker
      execArgv.push('--import', fileURLToPath(new URL('./mediasoupHook.ts', import.meta.url)));
    }
    this.child = fork(script, args, { execArgv, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const log = options.targetLogFile ? createWriteStream(options.targetLogFile, { flags: 'a' }) : undefined;
    this.child.stderr?.on('data', (chunk: Buffer) => {
      log?.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.stderrTail.push(line.slice(0, 300));
        if (this.stderrTail.length > 20) this.stderrTail.shift();
      }
    });
    this.child.on('exit', () => log?.end());
  }

  waitReady(timeoutMs: number): Promise<TargetReady> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`target not ready within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        reject(new Error(`${error.message}; target stderr: ${this.stderrTail.join(' | ')}`));
      };
      const onMessage = (message: unknown): void => {
        if (typeof message === 'object' && message !== null && (message as { ready?: unknown }).ready === true) {
          clearTimeout(timer);
          this.child.off('message', onMessage);
          this.ready = message as TargetReady;
          resolve(this.ready);
        }
      };
      this.child.on('message', onMessage);
      this.child.once('exit', (code) => fail(new Error(`target exited with ${code}`)));
    });
  }

  /** Sends `request` and resolves with the `key` field of the first answer carrying it. */
  #ask<T>(request: string, key: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error(`target did not answer a ${request} request`));
      }, timeoutMs);
      const onMessage = (message: unknown): void => {
        if (typeof message !== 'object' || message === null || !(key in message)) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve((message as Record<string, T>)[key]!);
      };
      this.child.on('message', onMessage);
      this.child.send(request);
    });
  }

  memory(): Promise<NodeJS.MemoryUsage> {
    return this.#ask('memory', 'memory', 10_000);
  }

  /** The worker's view of the simulcast consumers (consumer.dump(): preferred and current spatial layer). */
  layers(): Promise<ConsumerLayersDump> {
    return this.#ask('layers', 'layers', 15_000);
  }

  /** Where the conferences live and the packets pipe consumers sent so far. */
  placement(): Promise<PlacementDump> {
    return this.#ask('placement', 'placement', 15_000);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

