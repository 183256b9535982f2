// Admission at /sfu/get: the request body, retries while the SFU has not seen the membership
// yet (403/503), one fresh OpenID token after a 401, and the errors the UI explains.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { MatrixRequestError } from '../../../../src/browser/client/matrix/matrixCall.ts';
import { WidgetError } from '../../../../src/browser/widget/errors.ts';
import { admitToSfu } from '../../../../src/browser/widget/call/admission.ts';

const token = { access_token: 'tok', token_type: 'Bearer', matrix_server_name: 'example.org', expires_in: 3600 };
const reply = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function stubFetch(...responses: Response[]): ReturnType<typeof vi.fn> {
  const fetchMock = vi.fn(async () => responses.shift() ?? reply(500, {}));
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

afterEach(() => vi.unstubAllGlobals());

describe('admitToSfu()', () => {
  it('posts room, device and OpenID token, retrying while the SFU has not seen the membership', async () => {
    const fetchMock = stubFetch(reply(403, { errcode: 'M_FORBIDDEN' }), reply(503, { errcode: 'M_UNKNOWN' }), reply(200, { url: 'wss://sfu/ws', jwt: 'j' }));
    const getOpenIdToken = vi.fn(async () => token);
    const access = await admitToSfu({ sfuServiceUrl: 'https://sfu.example.org/', roomId: '!r:example.org', deviceId: 'DEV', getOpenIdToken, retryDelayMs: 1 });
    expect(access).toEqual({ url: 'wss://sfu/ws', jwt: 'j' });
    expect(fetchMock).toHaveBeenCalledTimes(3);
    expect(getOpenIdToken).toHaveBeenCalledOnce();
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('https://sfu.example.org/sfu/get');
    expect(JSON.parse(String(init.body))).toEqual({ room: '!r:example.org', device_id: 'DEV', openid_token: token });
  });

  it('asks for one fresh OpenID token after a 401', async () => {
    stubFetch(reply(401, { errcode: 'M_UNAUTHORIZED' }), reply(200, { url: 'wss://sfu/ws', jwt: 'j' }));
    const getOpenIdToken = vi.fn(async () => token);
    await admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken, retryDelayMs: 1 });
    expect(getOpenIdToken).toHaveBeenCalledTimes(2);
  });

  it('fails with ADMISSION_FAILED carrying the errcode after the last try, or at once for other refusals', async () => {
    stubFetch(reply(403, { errcode: 'M_FORBIDDEN' }), reply(403, { errcode: 'M_FORBIDDEN' }));
    const refused = await admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => token, attempts: 2, retryDelayMs: 1 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WidgetError);
    expect((refused as WidgetError).code).toBe('ADMISSION_FAILED');
    expect(((refused as WidgetError).cause as MatrixRequestError).errcode).toBe('M_FORBIDDEN');
    const fetchMock = stubFetch(reply(429, { errcode: 'M_LIMIT_EXCEEDED' }));
    const limited = await admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => token, retryDelayMs: 1 }).catch((error: unknown) => error);
    expect(((limited as WidgetError).cause as MatrixRequestError).errcode).toBe('M_LIMIT_EXCEEDED');
    expect(fetchMock).toHaveBeenCalledOnce();
  });

  it('fails with OPENID_DENIED when the host gives no token', async () => {
    stubFetch();
    const error = await admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => Promise.reject(new Error('declined')) }).catch((e: unknown) => e);
    expect((error as WidgetError).code).toBe('OPENID_DENIED');
  });
});
