// POST /get_token (MSC4195) on a loopback HTTP server with a fake federation and a fake
// membership view: publish rights for a member whose focus is us, subscribe-only for a
// multi-SFU member elsewhere while someone publishes here, refusals in the Matrix envelope,
// and the LiveKit claims Element Call decodes.

import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../../../src/server/auth/JwtKeys.ts';
import { SfuTokenService } from '../../../../src/server/auth/SfuToken.ts';
import { createGetTokenEndpoint, type DelayDelegation } from '../../../../src/server/auth/liveKitToken.ts';
import { createTokenEndpoint } from '../../../../src/server/auth/tokenEndpoint.ts';
import { PENDING_MEMBERSHIP } from '../../../../src/server/auth/pendingMembership.ts';
import type { FederationDeps } from '../../../../src/server/auth/openid.ts';
import type { MembershipCheck, MembershipView } from '../../../../src/server/auth/types.ts';
import { federationGet } from '../../../../src/server/auth/federationFetch.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const ISS = 'https://sfu.example.org';
const ROOM = '!call:example.org';

/** userinfo answers `@<access_token>:example.org`. */
const federation: FederationDeps = {
  get: (async (url: string) => {
    const token = new URL(url).searchParams.get('access_token');
    return token === 'bad' ? { status: 401, body: {} } : { status: 200, body: { sub: `@${token}:example.org` } };
  }) as unknown as typeof federationGet,
  resolveSrv: async () => [],
};

/** alice publishes here; bob is a multi-SFU member elsewhere; carol has no membership. */
const membership: MembershipView = {
  check: (_room, userId): MembershipCheck =>
    userId === '@alice:example.org'
      ? { ok: true, membershipId: 'ma' }
      : userId === '@bob:example.org' || userId === '@dave:example.org'
        ? { ok: false, reason: 'membership_other_sfu' }
        : { ok: false, reason: 'no_membership' },
  checkSubscriber: (_room, userId): MembershipCheck =>
    userId === '@bob:example.org' ? { ok: true, membershipId: 'mb' } : { ok: false, reason: 'membership_other_sfu' },
  watch: () => () => undefined,
};

let server: Server;
let base: string;
let tokens: SfuTokenService;
const delegations: DelayDelegation[] = [];

beforeAll(async () => {
  const { key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: mkdtempSync(join(tmpdir(), 'sfu-lkt-')) });
  tokens = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000 });
  const common = {
    tokens,
    membership,
    allowedServers: ['example.org'],
    serverUrlOverrides: { 'example.org': 'http://hs.test' },
    federationTimeoutMs: 1000,
    maxBodyBytes: 8192,
    logger: silentLogger(),
    federationDeps: federation,
    isReady: () => true,
  };
  const getToken = createGetTokenEndpoint({ ...common, liveKitUrl: 'wss://sfu.example.org', onDelegation: (d) => delegations.push(d) });
  const sfuGet = createTokenEndpoint({ ...common, signallingUrl: 'wss://sfu.example.org/ws' });
  server = createServer((request, response) => {
    const handler = request.url === '/get_token' ? getToken : sfuGet;
    void handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function body(user: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    room_id: ROOM,
    slot_id: 'm.call#ROOM',
    openid_token: { access_token: user, token_type: 'Bearer', matrix_server_name: 'example.org', expires_in: 3600 },
    member: { id: `@${user}:example.org:DEV`, claimed_user_id: `@${user}:example.org`, claimed_device_id: 'DEV' },
    ...extra,
  };
}

async function post(path: string, payload: unknown): Promise<{ status: number; json: Record<string, unknown>; cors: string | null }> {
  const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, cors: response.headers.get('access-control-allow-origin') };
}

describe('POST /get_token', () => {
  it('gives a member whose focus is this SFU a publish + subscribe token with the LiveKit claims', async () => {
    const { status, json, cors } = await post('/get_token', body('alice'));
    expect(status).toBe(200);
    expect(cors).toBe('*');
    expect(json['url']).toBe('wss://sfu.example.org');
    const payload = decodeJwt(json['jwt'] as string);
    expect(payload).toMatchObject({
      sub: '@alice:example.org:DEV',
      iss: ISS,
      user: '@alice:example.org',
      device: 'DEV',
      room: ROOM,
      membership: 'ma',
      video: { room: ROOM, roomJoin: true, canPublish: true, canSubscribe: true },
    });
    expect(typeof payload.exp).toBe('number');
    expect(typeof payload.nbf).toBe('number');
    expect(typeof payload.jti).toBe('string');
    const claims = await tokens.verify(json['jwt'] as string);
    expect(claims).toMatchObject({ sub: '@alice:example.org', identity: '@alice:example.org:DEV', canPublish: true, canSubscribe: true });
  });

  it('gives a live member whose focus is elsewhere a subscribe-only token while someone publishes here', async () => {
    const { status, json } = await post('/get_token', body('bob'));
    expect(status).toBe(200);
    expect(decodeJwt(json['jwt'] as string)['video']).toEqual({ room: ROOM, roomJoin: true, canPublish: false, canSubscribe: true });
    expect(await tokens.verify(json['jwt'] as string)).toMatchObject({ canPublish: false, canSubscribe: true, membership: 'mb' });
  });

  it('refuses a member elsewhere when nobody publishes here with M_FORBIDDEN', async () => {
    const { status, json } = await post('/get_token', body('dave'));
    expect(status).toBe(403);
    expect(json).toEqual({ errcode: 'M_FORBIDDEN', error: 'You are not in a call in this room on this SFU.' });
  });

  it('gives a joined user whose device has no membership yet a pending token (Element Call asks before it publishes one)', async () => {
    const { status, json } = await post('/get_token', body('carol'));
    expect(status).toBe(200);
    expect(await tokens.verify(json['jwt'] as string)).toMatchObject({ sub: '@carol:example.org', membership: PENDING_MEMBERSHIP, canPublish: true });
  });

  it('refuses a claimed user that is not the OpenID user, and a bad OpenID token, with M_UNAUTHORIZED', async () => {
    const forged = body('alice', { member: { id: 'x', claimed_user_id: '@mallory:example.org', claimed_device_id: 'DEV' } });
    expect(await post('/get_token', forged)).toMatchObject({ status: 401, json: { errcode: 'M_UNAUTHORIZED' } });
    expect(await post('/get_token', body('bad'))).toMatchObject({ status: 401, json: { errcode: 'M_UNAUTHORIZED' } });
  });

  it('refuses other slots than the room-wide call and malformed bodies', async () => {
    expect(await post('/get_token', body('alice', { slot_id: 'm.call#other' }))).toMatchObject({ status: 403 });
    expect(await post('/get_token', { ...body('alice'), member: undefined })).toMatchObject({ status: 400, json: { errcode: 'M_BAD_JSON' } });
    expect(await post('/get_token', { ...body('alice'), extra: 1 })).toMatchObject({ status: 400 });
  });

  it('hands a granted delay delegation to the edge, and none for a device without a live membership', async () => {
    delegations.length = 0;
    const delay = { delay_id: 'syd_abc', delay_timeout: 10_000, delay_cs_api_url: 'https://matrix.example.org' };
    await post('/get_token', body('carol', delay));
    expect(delegations).toEqual([]);
    expect((await post('/get_token', body('alice', delay))).status).toBe(200);
    expect(delegations).toEqual([
      { roomId: ROOM, userId: '@alice:example.org', deviceId: 'DEV', delayId: 'syd_abc', delayTimeoutMs: 10_000, csApiUrl: 'https://matrix.example.org' },
    ]);
  });

  it('answers the CORS preflight', async () => {
    const response = await fetch(base + '/get_token', { method: 'OPTIONS' });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
  });
});

describe('POST /sfu/get', () => {
  it('carries the LiveKit claims too (publish + subscribe, sub = {user}:{device})', async () => {
    const { status, json } = await post('/sfu/get', {
      room: ROOM,
      openid_token: { access_token: 'alice', matrix_server_name: 'example.org' },
      device_id: 'DEV',
    });
    expect(status).toBe(200);
    expect(json['url']).toBe('wss://sfu.example.org/ws');
    expect(decodeJwt(json['jwt'] as string)).toMatchObject({ sub: '@alice:example.org:DEV', video: { canPublish: true, canSubscribe: true } });
  });
});
