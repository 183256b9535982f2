// What a person sees of `node src/server/main.ts`: readable lines under a pseudo-terminal
// (util-linux `script` gives the process a pty), JSON lines through a pipe, and `GET /` as a
// plain status page without the dev homeserver, a redirect to the demo with it.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { DEFAULT_SYNAPSE_PYTHON, findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeMediaBasePort } from '../tools/ports.ts';

const MAIN = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));
const SCRIPT = '/usr/bin/script';
let child: ChildProcess | undefined;

async function start(tty: boolean, extraEnv: Record<string, string> = { SFU_AUTH_MODE: 'none' }): Promise<{ port: number; output: () => string }> {
  const port = await findFreePort();
  const env = {
    PATH: process.env['PATH'] ?? '',
    SFU_SERVER_PORT: String(port),
    SFU_MEDIA_NUM_WORKERS: '1',
    SFU_MEDIA_BASE_PORT: String(await freeMediaBasePort()),
    SFU_DRAIN_GRACE_PERIOD_MS: '0',
    TERM: 'dumb',
    ...extraEnv,
  };
  // `script -q -e -c CMD /dev/null` runs CMD on a new pseudo-terminal and copies its output to ours.
  const [command, args] = tty ? [SCRIPT, ['-q', '-e', '-c', `'${process.execPath}' '${MAIN}'`, '/dev/null']] : [process.execPath, [MAIN]];
  let text = '';
  child = spawn(command, args as string[], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { timeoutMs: 60_000, description: 'process ready' });
  // The lines written after listen() (the "ready" explanation) follow readiness closely.
  await waitFor(() => text.includes('listening'), { timeoutMs: 5000, description: 'listening line' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { port, output: () => text };
}

afterEach(async () => {
  // SIGTERM first: the node drains and stops the dev homeserver it started. Then SIGKILL our
  // own process group only (detached above: script and the node under it).
  if (child?.pid !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => process.kill(-child!.pid!, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  child = undefined;
});

describe('the console of node src/server/main.ts', () => {
  it.skipIf(!existsSync(SCRIPT))('on a terminal prints readable lines: what started, the URL to open, warnings in words', async () => {
    const { port, output } = await start(true);
    const lines = output().split(/\r?\n/).filter((line) => line.trim() !== '');
    console.log(`console on a pseudo-terminal:\n${lines.join('\n')}`);
    expect(lines.some((line) => line.trimStart().startsWith('{'))).toBe(false);
    expect(lines.some((line) => /^\d\d:\d\d:\d\d info  \[main\] starting {2}authMode=none/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes(`ready: http://127.0.0.1:${port}/ shows this node's status`))).toBe(true);
    expect(lines.some((line) => line.includes('WARN ') && line.includes('AUTH DISABLED'))).toBe(true);
    expect(lines.some((line) => line.includes('Ctrl+C'))).toBe(true);
    expect(output()).not.toContain('"msg":"effective configuration"');
  }, 40_000);

  it('through a pipe prints JSON lines only, and GET / is a plain status page', async () => {
    const { port, output } = await start(false);
    const lines = output().split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(output()).toContain('"msg":"effective configuration"');
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('matrix-sfu is running');
    expect(html).toContain(`http://127.0.0.1:${port}/sfu/get`);
    expect(html).toContain('href="/readyz"');
    expect((await fetch(`http://127.0.0.1:${port}/`, { method: 'POST' })).status).toBe(405);
  }, 40_000);

  it.skipIf(!existsSync(DEFAULT_SYNAPSE_PYTHON))('with the embedded dev homeserver GET / leads to the demo', async () => {
    // Through a pipe: the node gets the SIGTERM itself and stops the Synapse it started.
    const { port } = await start(false, { SFU_SERVER_DATA_DIR: mkdtempSync(join(tmpdir(), 'sfu-console-')) });
    const response = await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/demo/');
    // The widget's sign-in with a user id finds the dev homeserver, which its CSP allows.
    const dev = (await (await fetch(`http://127.0.0.1:${port}/demo/dev.json`)).json()) as { homeserverUrl: string };
    const discovered = await fetch(`http://127.0.0.1:${port}/widget/homeserver?server=${encodeURIComponent('@alice:synapse.test')}`);
    expect(await discovered.json()).toEqual({ base_url: dev.homeserverUrl, allowed: true, discovered: false });
  }, 90_000);
});
