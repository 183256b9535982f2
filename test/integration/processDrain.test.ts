// The real process (node src/server/main.ts) under SIGTERM: readiness false at once,
// joined clients told to move, new sessions refused with 4006, sessions closed
// after the grace period, exit 0; a second signal exits at once.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import './synapse/context.ts';
import { registerUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { CLOSE_CODES } from '../../src/common/protocol/closeCodes.ts';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { TestClient } from '../tools/wsClient.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
let child: ChildProcess | undefined;
let output = '';

async function startProcess(graceMs: number, extraEnv: Record<string, string> = { SFU_AUTH_MODE: 'none' }): Promise<{ port: number; exit: Promise<number | null> }> {
  const port = await findFreePort();
  output = '';
  child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env['PATH'] ?? '',
      SFU_SERVER_PORT: String(port),
      SFU_MEDIA_NUM_WORKERS: '1',
      SFU_MEDIA_BASE_PORT: String(await freeMediaBasePort()),
      SFU_DRAIN_GRACE_PERIOD_MS: String(graceMs),
      ...extraEnv,
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

  it('refuses cross-field faults (wildcard host without publicUrl, matrix mode without allowed servers) with exit code 2', async () => {
    const bad = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env['PATH'] ?? '', SFU_SERVER_HOST: '0.0.0.0', SFU_MATRIX_HOMESERVER_URL: 'https://matrix.example.org', SFU_MATRIX_USER_ID: '@sfu:example.org', SFU_MATRIX_ACCESS_TOKEN: 'x' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    bad.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => bad.once('exit', resolve));
    expect(code).toBe(2);
    expect(text).toContain('server.publicUrl: must be set when server.host is a wildcard address');
    expect(text).toContain('auth.allowedServers: must list at least one homeserver');
  }, 20_000);

  it('serves /demo/dev.json (demo passwords) only with the embedded dev homeserver: 404 with a configured one', async () => {
    const synapse = inject('synapse');
    const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfu${Date.now()}`, 'pw-sfu');
    const { port } = await startProcess(1000, {
      SFU_AUTH_MODE: 'matrix',
      SFU_MATRIX_HOMESERVER_URL: synapse.baseUrl,
      SFU_MATRIX_USER_ID: bot.userId,
      SFU_MATRIX_ACCESS_TOKEN: bot.accessToken,
      SFU_MATRIX_SYNC_TIMEOUT_MS: '5000',
      SFU_AUTH_ALLOWED_SERVERS: synapse.serverName,
      SFU_AUTH_SERVER_URL_OVERRIDES: JSON.stringify({ [synapse.serverName]: synapse.baseUrl }),
      SFU_SERVER_DATA_DIR: mkdtempSync(join(tmpdir(), 'sfu-process-')),
    });
    const response = await fetch(`http://127.0.0.1:${port}/demo/dev.json`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('password');
    expect(output).not.toContain('DEVELOPMENT HOMESERVER');
  }, 60_000);
});
