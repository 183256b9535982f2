// GET /widget/homeserver: which client-API base URL a sign-in input means (URL, server name,
// user id) and whether the widget's CSP allows it, with a fake .well-known lookup.

import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHomeserverDiscoveryRoute } from '../../../../src/server/matrix/homeserverDiscovery.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const wellKnown: Record<string, unknown> = {
  'example.org': { 'm.homeserver': { base_url: 'https://matrix.example.org/' } },
  'other.org': { 'm.homeserver': { base_url: 'https://matrix.other.org' } },
  'broken.org': { 'm.homeserver': { base_url: 'javascript:alert(1)' } },
};
const lookups: string[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  const route = createHomeserverDiscoveryRoute({
    allowedUrls: ['http://127.0.0.1:8008', 'https://matrix.example.org'],
    serverUrlOverrides: { 'synapse.test': 'http://127.0.0.1:38000' },
    timeoutMs: 1000,
    logger: silentLogger(),
    fetchWellKnown: async (name) => {
      lookups.push(name);
      if (name === 'down.org') throw new Error('ECONNREFUSED');
      return wellKnown[name];
    },
  });
  server = createServer((request, response) => void route(request, response, new URL(request.url ?? '/', 'http://x')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/widget/homeserver`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function ask(input: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}?server=${encodeURIComponent(input)}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('GET /widget/homeserver', () => {
  it('a user id is resolved through its server .well-known and checked against the CSP list', async () => {
    expect(await ask('@anna:example.org')).toEqual({ status: 200, body: { base_url: 'https://matrix.example.org', allowed: true, discovered: true } });
  });

  it('a bare server name whose homeserver is not in widget.homeserverUrls is allowed: false', async () => {
    expect(await ask('other.org')).toEqual({ status: 200, body: { base_url: 'https://matrix.other.org', allowed: false, discovered: true } });
  });

  it('a URL is taken as typed (normalised); no lookup', async () => {
    const before = lookups.length;
    expect(await ask('http://127.0.0.1:8008/')).toEqual({ status: 200, body: { base_url: 'http://127.0.0.1:8008', allowed: true, discovered: false } });
    expect(lookups.length).toBe(before);
  });

  it('a server in auth.serverUrlOverrides (the dev homeserver) is its override, without a lookup', async () => {
    const before = lookups.length;
    expect((await ask('@alice:synapse.test')).body).toEqual({ base_url: 'http://127.0.0.1:38000', allowed: false, discovered: false });
    expect(lookups.length).toBe(before);
  });

  it('an unreachable or unusable .well-known falls back to https://server; answers are cached', async () => {
    expect((await ask('down.org')).body).toEqual({ base_url: 'https://down.org', allowed: false, discovered: false });
    expect((await ask('broken.org')).body).toEqual({ base_url: 'https://broken.org', allowed: false, discovered: false });
    const before = lookups.length;
    await ask('@bob:other.org');
    expect(lookups.length).toBe(before);
  });

  it('refuses input that is none of URL, server name or user id', async () => {
    expect((await ask('not a server')).status).toBe(400);
    expect((await ask('')).status).toBe(400);
    expect((await ask('ftp://example.org')).status).toBe(400);
  });
});
