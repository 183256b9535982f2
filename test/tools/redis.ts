// A real Redis (Debian's redis-server) for cluster tests: started on a port the OS gave
// out, loopback only, no persistence, in its own temporary directory; it can be killed
// and started again on the same port (a Redis outage and its recovery).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';

/** Answers PING over a plain TCP connection (no client library), within a second. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** One redis-server process for a test file. */
export class RedisProcess {
  readonly port: number;
  readonly #dir: string;
  #child: ChildProcess | undefined;
  output = '';

  private constructor(port: number) {
    this.port = port;
    this.#dir = mkdtempSync(join(tmpdir(), 'sfu-redis-'));
  }

  /** Starts redis-server on a free port and waits until it answers PING. */
  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await findFreePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server on the same port. */
  async restart(): Promise<void> {
    if (this.#child && this.#running(this.#child)) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir, '--protected-mode', 'yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.#child = child;
    await waitFor(async () => (this.#running(child) ? await pings(this.port) : Promise.reject(new Error(`redis-server exited:\n${this.output}`))), {
      timeoutMs: 10_000,
      description: 'redis-server answering',
    });
  }

  /** Kills the server (SIGKILL) and waits for its exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || !this.#running(child)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  #running(child: ChildProcess): boolean {
    return child.exitCode === null && child.signalCode === null;
  }

  /** Kills the server and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
