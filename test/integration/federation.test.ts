// Federation answers from a hostile (fake) homeserver on loopback, through the real
// federationGet(): an oversized userinfo is cut at the byte cap, a trickling one at the
// deadline, a redirect is not followed, a 5xx or a refused connection is "unavailable" (503
// at /sfu/get, never 401), and a loopback address without an override is never called.

import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FederationFetchError, MAX_FEDERATION_RESPONSE_BYTES, federationGet } from '../../src/server/auth/federationFetch.ts';
import { verifyOpenIdToken } from '../../src/server/auth/openid.ts';
import { AdmissionError } from '../../src/server/auth/errors.ts';
import { createTokenEndpoint } from '../../src/server/auth/tokenEndpoint.ts';
import { SfuTokenService } from '../../src/server/auth/SfuToken.ts';
import { loadSigningKey } from '../../src/server/auth/JwtKeys.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let fake: Server;
let base: string;
let connections = 0;
let bytesSent = 0;
const sockets = new Set<Socket>();

/** Routes of the fake homeserver, by path prefix. */
const ROUTES: Record<string, (response: ServerResponse) => void> = {
  '/huge/': (response) => {
    // An endless answer: write 1 MiB chunks until the client goes away (a 200 MiB answer in the attack).
    response.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const pump = (): void => {
      while (!response.destroyed && bytesSent < 200 * 1024 * 1024) {
        bytesSent += chunk.length;
        if (!response.write(chunk)) {
          response.once('drain', pump);
          return;
        }
      }
      response.end();
    };
    pump();
  },
  '/declared/': (response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(200 * 1024 * 1024) });
    response.write('{');
  },
  '/slow/': (response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => (response.destroyed ? clearInterval(timer) : response.write(' ')), 200);
    response.on('close', () => clearInterval(timer));
  },
  '/redirect/': (response) => {
    response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
    response.end();
  },
  '/broken/': (response) => {
    response.writeHead(502, { 'content-type': 'application/json' });
    response.end('{}');
  },
  '/good/': (response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ sub: '@alice:good.test' }));
  },
  '/refuse/': (response) => {
    response.writeHead(401, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ errcode: 'M_UNKNOWN_TOKEN' }));
  },
};

beforeAll(async () => {
  fake = createServer((request, response) => {
    const route = Object.entries(ROUTES).find(([prefix]) => request.url?.startsWith(prefix));
    if (!route) {
      response.writeHead(404);
      response.end();
      return;
    }
    route[1](response);
  });
  fake.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => fake.close(() => resolve()));
});

const kindOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FederationFetchError) return error.kind;
    throw error;
  }
  return 'none';
};

describe('federationGet() against a hostile server on loopback', () => {
  it('cuts an endless answer at the byte cap and reads no more than about the cap', async () => {
    bytesSent = 0;
    const before = process.memoryUsage().rss;
    expect(await kindOf(federationGet(`${base}/huge/`, { timeoutMs: 10_000, allowPrivate: true }))).toBe('refused');
    const grewMiB = (process.memoryUsage().rss - before) / 1024 / 1024;
    // The server may have pushed a few MiB into socket buffers before the close; far from 200 MiB.
    expect(bytesSent).toBeLessThan(64 * 1024 * 1024);
    console.log(`oversized userinfo: refused after the server wrote ${(bytesSent / 1024 / 1024).toFixed(0)} MiB (cap ${MAX_FEDERATION_RESPONSE_BYTES} bytes), RSS +${grewMiB.toFixed(1)} MiB`);
  });

  it('refuses a declared oversized answer before reading it', async () => {
    expect(await kindOf(federationGet(`${base}/declared/`, { timeoutMs: 5000, allowPrivate: true }))).toBe('refused');
  });

  it('gives up on a trickling answer at the deadline (unavailable)', async () => {
    const started = performance.now();
    expect(await kindOf(federationGet(`${base}/slow/`, { timeoutMs: 1500, allowPrivate: true }))).toBe('unavailable');
    console.log(`trickling userinfo: given up after ${(performance.now() - started).toFixed(0)} ms (deadline 1500 ms)`);
  });

  it('never follows a redirect', async () => {
    expect(await kindOf(federationGet(`${base}/redirect/`, { timeoutMs: 5000, allowPrivate: true }))).toBe('refused');
  });

  it('never connects to loopback without allowPrivate (an override)', async () => {
    const before = connections;
    expect(await kindOf(federationGet(`${base}/good/`, { timeoutMs: 5000, allowPrivate: false }))).toBe('refused');
    const named = federationGet(`http://localhost:${new URL(base).port}/good/`, { timeoutMs: 5000, allowPrivate: false });
    expect(await kindOf(named)).toBe('refused');
    expect(connections).toBe(before);
    expect((await federationGet(`${base}/good/`, { timeoutMs: 5000, allowPrivate: true })).body).toEqual({ sub: '@alice:good.test' });
  });
});

describe('POST /sfu/get with hostile or unreachable homeservers', () => {
  let endpoint: ReturnType<typeof createTokenEndpoint>;
  let server: Server;
  let sfu: string;
  const servers = ['huge.test', 'slow.test', 'redirect.test', 'broken.test', 'down.test', 'good.test', 'refuse.test'];

  beforeAll(async () => {
    const closedPort = await findFreePort();
    const { key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: mkdtempSync(join(tmpdir(), 'sfu-fed-')) });
    const overrides: Record<string, string> = Object.fromEntries(servers.map((name) => [name, `${base}/${name.split('.')[0]}`]));
    overrides['down.test'] = `http://127.0.0.1:${closedPort}`;
    endpoint = createTokenEndpoint({
      tokens: new SfuTokenService({ key, issuer: 'https://sfu.test', audience: 'https://sfu.test', lifetimeMs: 60_000 }),
      membership: { check: () => ({ ok: true, membershipId: 'm' }), watch: () => () => undefined },
      signallingUrl: 'ws://sfu.test/ws',
      allowedServers: [...servers, '127.0.0.1:1'],
      serverUrlOverrides: overrides,
      federationTimeoutMs: 1500,
      maxBodyBytes: 8192,
      logger: silentLogger(),
      isReady: () => true,
    });
    server = createServer((request, response) => void endpoint(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sfu = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function ask(serverName: string): Promise<{ status: number; retryAfter: string | null; errcode: unknown }> {
    const response = await fetch(`${sfu}/sfu/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: '!r:good.test', device_id: 'D', openid_token: { access_token: 'tok', matrix_server_name: serverName } }),
    });
    const body = (await response.json()) as { errcode?: unknown };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), errcode: body.errcode };
  }

  it('answers 503 with Retry-After for an unreachable, failing or trickling homeserver, never 401', async () => {
    for (const name of ['down.test', 'broken.test', 'slow.test']) {
      expect(await ask(name), name).toEqual({ status: 503, retryAfter: '5', errcode: 'M_UNKNOWN' });
    }
  });

  it('answers 401 for a definite refusal and for answers it will not use (oversized, redirect); 200 for a good one', async () => {
    for (const name of ['refuse.test', 'huge.test', 'redirect.test']) {
      expect(await ask(name), name).toMatchObject({ status: 401, errcode: 'M_UNAUTHORIZED' });
    }
    expect((await ask('good.test')).status).toBe(200);
  });

  it('refuses a loopback server name that is not an override, without calling it', async () => {
    const reason = await verifyOpenIdToken('127.0.0.1:1', 'tok', { overrides: {}, timeoutMs: 1000 }).catch((error: unknown) => (error as AdmissionError).reason);
    expect(reason).toBe('federation_refused');
    expect(await ask('127.0.0.1:1')).toMatchObject({ status: 401 });
  });
});
