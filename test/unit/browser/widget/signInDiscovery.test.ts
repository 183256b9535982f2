// The standalone sign-in's helpers: resolveHomeserver() asks the SFU node which homeserver a
// URL, server name or user id means and refuses one outside the widget's CSP with its own
// errcode; deviceMemory keeps only device ids, bounded, and tolerates broken storage.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { HOMESERVER_NOT_ALLOWED, NOT_A_SERVER, isFullUserId, resolveHomeserver } from '../../../../src/browser/widget/matrix/discovery.ts';
import { MAX_REMEMBERED_DEVICES, forgetDevice, rememberDevice, rememberedDevice } from '../../../../src/browser/widget/matrix/deviceMemory.ts';
import { MatrixRequestError } from '../../../../src/browser/client/matrix/matrixCall.ts';
import { explain } from '../../../../src/browser/widget/explain.ts';
import { WidgetError } from '../../../../src/browser/widget/errors.ts';

const SFU = 'https://sfu.example.org';

function answering(status: number, body: unknown, asked: string[] = []): typeof fetch {
  return (async (input: string | URL | Request) => {
    asked.push(String(input));
    return new Response(JSON.stringify(body), { status });
  }) as typeof fetch;
}

async function failure(promise: Promise<unknown>): Promise<MatrixRequestError> {
  const error = await promise.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(MatrixRequestError);
  return error as MatrixRequestError;
}

describe('resolveHomeserver', () => {
  it('asks the node with the server field, or with a full user id when the field is empty', async () => {
    const asked: string[] = [];
    const fetchImpl = answering(200, { base_url: 'https://matrix.example.org', allowed: true, discovered: true }, asked);
    expect(await resolveHomeserver(`${SFU}/`, 'example.org', 'anna', fetchImpl)).toBe('https://matrix.example.org');
    expect(await resolveHomeserver(SFU, '', '@anna:example.org', fetchImpl)).toBe('https://matrix.example.org');
    expect(asked).toEqual([`${SFU}/widget/homeserver?server=example.org`, `${SFU}/widget/homeserver?server=%40anna%3Aexample.org`]);
  });

  it('a homeserver outside the CSP is HOMESERVER_NOT_ALLOWED, which the widget explains as such', async () => {
    const error = await failure(resolveHomeserver(SFU, 'other.org', 'anna', answering(200, { base_url: 'https://matrix.other.org', allowed: false, discovered: true })));
    expect(error.errcode).toBe(HOMESERVER_NOT_ALLOWED);
    expect(explain(new WidgetError('LOGIN_FAILED', 'sign-in failed', { cause: error })).key).toBe('err.login.blocked');
  });

  it('input that is no server is NOT_A_SERVER; a node without the route leaves a typed URL as is', async () => {
    expect((await failure(resolveHomeserver(SFU, '', 'anna', answering(200, {})))).errcode).toBe(NOT_A_SERVER);
    expect((await failure(resolveHomeserver(SFU, 'not a server', 'anna', answering(400, { errcode: 'M_INVALID_PARAM' })))).errcode).toBe(NOT_A_SERVER);
    expect(await resolveHomeserver(SFU, 'https://matrix.example.org/', 'anna', answering(404, { errcode: 'M_NOT_FOUND' }))).toBe('https://matrix.example.org');
  });

  it('isFullUserId() accepts @name:server only', () => {
    expect(isFullUserId(' @anna:example.org ')).toBe(true);
    expect(isFullUserId('anna')).toBe(false);
    expect(isFullUserId('@anna')).toBe(false);
  });
});

describe('deviceMemory', () => {
  afterEach(() => vi.unstubAllGlobals());

  function fakeStorage(): Map<string, string> {
    const map = new Map<string, string>();
    vi.stubGlobal('localStorage', {
      getItem: (key: string) => map.get(key) ?? null,
      setItem: (key: string, value: string) => void map.set(key, value),
    });
    return map;
  }

  it('recalls the device of a user by full id or typed localpart on the same homeserver, and forgets it on sign-out', () => {
    const map = fakeStorage();
    rememberDevice('https://hs', '@anna:example.org', 'DEV1');
    expect(rememberedDevice('https://hs', '@anna:example.org')).toBe('DEV1');
    expect(rememberedDevice('https://hs', 'anna')).toBe('DEV1');
    expect(rememberedDevice('https://other', 'anna')).toBeUndefined();
    expect([...map.values()].join()).not.toMatch(/token/i);
    forgetDevice('https://hs', '@anna:example.org');
    expect(rememberedDevice('https://hs', 'anna')).toBeUndefined();
  });

  it(`keeps at most ${MAX_REMEMBERED_DEVICES} sign-ins and survives broken or missing storage`, () => {
    const map = fakeStorage();
    for (let i = 0; i < MAX_REMEMBERED_DEVICES + 5; i++) rememberDevice('https://hs', `@u${i}:example.org`, `D${i}`);
    expect(JSON.parse(map.get('matrix-sfu.widget.devices')!)).toHaveLength(MAX_REMEMBERED_DEVICES);
    expect(rememberedDevice('https://hs', '@u0:example.org')).toBeUndefined();
    map.set('matrix-sfu.widget.devices', '{not json');
    expect(rememberedDevice('https://hs', '@u1:example.org')).toBeUndefined();
    vi.stubGlobal('localStorage', undefined);
    expect(() => rememberDevice('https://hs', '@anna:example.org', 'D')).not.toThrow();
  });
});
