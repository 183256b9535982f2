// The real process (node src/server/main.ts) under SIGTERM: readiness false at once,
// joined clients told to move, new sessions refused with 4006, sessions closed
// after the grace period, exit 0; a second signal exits at once.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { CLOSE_CODES } from '../../src/common/protocol/closeCodes.ts';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { TestClient } from '../tools/wsClient.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
let child: ChildProcess | undefined;
let output = '';

async function startProcess(graceMs: number): Promise<{ port: number; exit: Promise<number | null> }> {
  const port = await findFreePort();
  output = '';
  child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env['PATH'] ?? '',
      SFU_AUTH_MODE: 'none',
      SFU_SERVER_PORT: String(port),
      SFU_MEDIA_NUM_WORKERS: '1',
      SFU_MEDIA_BASE_PORT: String(await freeMediaBasePort()),
      SFU_DRAIN_GRACE_PERIOD_MS: String(graceMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, {
    timeoutMs: 20_000,
    description: 'process ready',
  });
  return { port, exit };
}

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

describe('node src/server/main.ts', () => {
  it('drains on SIGTERM: readyz 503, reconnectRequested, new sessions 4006, then exit 0', async () => {
    const { port, exit } = await startProcess(1500);
    const client = await TestClient.open(`ws://127.0.0.1:${port}/ws?conference=drain&participant=alice`);
    expect((await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES })).ok).toBe(true);
    expect(output).toContain('AUTH DISABLED');
    expect(output).toContain('"msg":"effective configuration"');

    child!.kill('SIGTERM');
    await waitFor(() => client.notifications.find((n) => n.method === 'reconnectRequested'), { description: 'reconnectRequested' });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    const late = await TestClient.open(`ws://127.0.0.1:${port}/ws?conference=drain&participant=bob`);
    expect(await late.closed()).toBe(CLOSE_CODES.DRAINING);
    expect(await client.closed(5000)).toBe(CLOSE_CODES.DRAINING);
    expect(await exit).toBe(0);
  }, 40_000);

  it('a second signal exits at once with a non-zero code', async () => {
    const { port, exit } = await startProcess(60_000);
    const client = await TestClient.open(`ws://127.0.0.1:${port}/ws?conference=drain&participant=carol`);
    expect((await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES })).ok).toBe(true);
    child!.kill('SIGTERM');
    await waitFor(() => client.notifications.find((n) => n.method === 'reconnectRequested'));
    const started = Date.now();
    child!.kill('SIGINT');
    expect(await exit).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 40_000);

  it('refuses an invalid configuration with every fault and exit code 2', async () => {
    const bad = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env['PATH'] ?? '', SFU_SERVER_PORT: 'x', SFU_MEDIA_LISTEN_IP: 'nope', SFU_TYPO: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    bad.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => bad.once('exit', resolve));
    expect(code).toBe(2);
    expect(text).toContain('server.port: must be a number');
    expect(text).toContain('environment SFU_TYPO: unknown key');
  }, 20_000);
});
