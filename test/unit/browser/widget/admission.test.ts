// Admission at /sfu/get: the request body, retries while the SFU has not seen the membership
// yet (403/503), one fresh OpenID token after a 401, 429 waited out (Retry-After, then
// jittered exponential back-off, bounded), and the errors the UI explains.

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

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});



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
    const fetchMock = stubFetch(reply(400, { errcode: 'M_BAD_JSON' }));
    const bad = await admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => token, retryDelayMs: 1 }).catch((error: unknown) => error);
    expect(((bad as WidgetError).cause as MatrixRequestError).errcode).toBe('M_BAD_JSON');
    expect(fetchMock).toHaveBeenCalledOnce();
  });

  it('waits out a 429 for as long as Retry-After says, then succeeds', async () => {
    vi.useFakeTimers();
    const limited = new Response(JSON.stringify({ errcode: 'M_LIMIT_EXCEEDED' }), { status: 429, headers: { 'retry-after': '7' } });
    const fetchMock = stubFetch(limited, reply(200, { url: 'wss://sfu/ws', jwt: 'j' }));
    const times: number[] = [];
    const start = Date.now();
    fetchMock.mockImplementation(async () => {
      times.push(Date.now() - start);
      return times.length === 1 ? limited : reply(200, { url: 'wss://sfu/ws', jwt: 'j' });
    });
    const onRetry = vi.fn();
    const admitted = admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => token, onRetry });
    await vi.advanceTimersByTimeAsync(6_999);
    expect(times).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    await expect(admitted).resolves.toEqual({ url: 'wss://sfu/ws', jwt: 'j' });
    expect(times).toEqual([0, 7000]);
    expect(onRetry).toHaveBeenCalledWith(7000);
  });

  it('backs off exponentially with jitter after a 429 without a hint, and gives up after rateLimitAttempts', async () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const start = Date.now();
    const fetchMock = stubFetch();
    fetchMock.mockImplementation(async () => {
      times.push(Date.now() - start);
      return reply(429, { errcode: 'M_LIMIT_EXCEEDED' });
    });
    // random() = 0.5: each pause is 3/4 of its ceiling (1 s, 2 s, 4 s).
    const result = admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => token, rateLimitAttempts: 4, random: () => 0.5 }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(60_000);
    const error = await result;
    expect(times).toEqual([0, 750, 750 + 1500, 750 + 1500 + 3000]);
    expect((error as WidgetError).code).toBe('ADMISSION_FAILED');
    expect(((error as WidgetError).cause as MatrixRequestError).status).toBe(429);
  });

  it('honours retry_after_ms from the homeserver when the OpenID token is rate limited', async () => {
    vi.useFakeTimers();
    stubFetch(reply(200, { url: 'wss://sfu/ws', jwt: 'j' }));
    const getOpenIdToken = vi
      .fn<() => Promise<typeof token>>()
      .mockRejectedValueOnce(new MatrixRequestError('OpenID token', 429, 'M_LIMIT_EXCEEDED', { retryAfterMs: 2500 }))
      .mockResolvedValue(token);
    const admitted = admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken });
    await vi.advanceTimersByTimeAsync(2499);
    expect(getOpenIdToken).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(1);
    await expect(admitted).resolves.toEqual({ url: 'wss://sfu/ws', jwt: 'j' });
    expect(getOpenIdToken).toHaveBeenCalledTimes(2);
  });

  it('reads a relayed widget-API 429 (matrix_api_error) as rate limiting too', async () => {
    vi.useFakeTimers();
    stubFetch(reply(200, { url: 'wss://sfu/ws', jwt: 'j' }));
    const relayed = Object.assign(new Error('host said no'), { data: { matrix_api_error: { http_status: 429, response: { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 1200 } } } });
    const getOpenIdToken = vi.fn<() => Promise<typeof token>>().mockRejectedValueOnce(relayed).mockResolvedValue(token);
    const admitted = admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken });
    await vi.advanceTimersByTimeAsync(1200);
    await expect(admitted).resolves.toEqual({ url: 'wss://sfu/ws', jwt: 'j' });
  });

  it('backs off after a 503 (the SFU cannot check memberships right now), honouring its Retry-After', async () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const start = Date.now();
    const answers = [
      () => reply(503, { errcode: 'M_UNKNOWN' }),
      () => new Response(JSON.stringify({ errcode: 'M_UNKNOWN' }), { status: 503, headers: { 'retry-after': '3' } }),
      () => reply(200, { url: 'wss://sfu/ws', jwt: 'j' }),
    ];
    const fetchMock = stubFetch();
    fetchMock.mockImplementation(async () => {
      times.push(Date.now() - start);
      return (answers.shift() as () => Response)();
    });
    const admitted = admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => token, retryDelayMs: 500, random: () => 0 });
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(admitted).resolves.toEqual({ url: 'wss://sfu/ws', jwt: 'j' });
    expect(times).toEqual([0, 250, 3250]);
  });

  it('fails with OPENID_DENIED when the host gives no token', async () => {
    stubFetch();
    const error = await admitToSfu({ sfuServiceUrl: 'https://sfu', roomId: '!r:x', deviceId: 'D', getOpenIdToken: async () => Promise.reject(new Error('declined')) }).catch((e: unknown) => e);
    expect((error as WidgetError).code).toBe('OPENID_DENIED');
  });
});
