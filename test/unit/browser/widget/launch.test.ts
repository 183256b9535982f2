// Parsing the widget URL: widget mode with every required parameter, every fault reported at
// once (unsubstituted template variables count as missing), standalone pre-fills, and the
// URL template an operator puts in the room.

import { describe, expect, it } from 'vitest';
import { WidgetError } from '../../../../src/browser/widget/errors.ts';
import { parseLaunch, widgetUrlTemplate } from '../../../../src/browser/widget/launch.ts';

const ORIGIN = 'https://sfu.example.org';
const widgetQuery = (overrides: Record<string, string | undefined> = {}): string => {
  const params: Record<string, string | undefined> = {
    widgetId: 'w1',
    parentUrl: 'https://app.element.io/#/room/x',
    roomId: '!room:example.org',
    userId: '@anna:example.org',
    deviceId: 'DEV1',
    baseUrl: 'https://matrix.example.org/',
    ...overrides,
  };
  return `?${new URLSearchParams(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined))}`;
};

function faultsOf(search: string): readonly string[] {
  try {
    parseLaunch(search, ORIGIN);
  } catch (error) {
    expect(error).toBeInstanceOf(WidgetError);
    expect((error as WidgetError).code).toBe('CONFIGURATION');
    return (error as WidgetError).details;
  }
  throw new Error('parseLaunch() accepted it');
}

describe('parseLaunch()', () => {
  it('reads widget mode: parent origin, ids, homeserver without trailing slash, the SFU defaulting to our origin', () => {
    expect(parseLaunch(widgetQuery({ lang: 'sv' }), ORIGIN)).toEqual({
      mode: 'widget',
      widgetId: 'w1',
      parentOrigin: 'https://app.element.io',
      roomId: '!room:example.org',
      userId: '@anna:example.org',
      deviceId: 'DEV1',
      baseUrl: 'https://matrix.example.org',
      sfuServiceUrl: ORIGIN,
      lang: 'sv',
      e2ee: false,
    });
  });

  it('takes sfu= and perParticipantE2EE=true', () => {
    const launch = parseLaunch(widgetQuery({ sfu: 'https://rtc.example.org/', perParticipantE2EE: 'true' }), ORIGIN);
    expect(launch).toMatchObject({ sfuServiceUrl: 'https://rtc.example.org', e2ee: true });
  });

  it('reports every missing or malformed parameter at once', () => {
    expect(faultsOf(widgetQuery({ roomId: undefined, userId: 'anna', deviceId: '$org.matrix.msc3819.matrix_device_id', baseUrl: 'ftp://x', sfu: 'nope' }))).toEqual([
      'sfu: not an http(s) URL: nope',
      'roomId: missing',
      'userId: not a user id (@user:server)',
      'deviceId: missing',
      'baseUrl: not an http(s) URL',
    ]);
  });

  it('is standalone without widgetId and parentUrl, with only valid pre-fills kept', () => {
    expect(parseLaunch('?homeserver=https://matrix.example.org&user=@anna:example.org&roomId=!r:example.org&lang=en', ORIGIN)).toEqual({
      mode: 'standalone',
      sfuServiceUrl: ORIGIN,
      lang: 'en',
      homeserverUrl: 'https://matrix.example.org',
      user: '@anna:example.org',
      roomId: '!r:example.org',
    });
    expect(parseLaunch('?homeserver=javascript:alert(1)&roomId=nope', ORIGIN)).toMatchObject({ homeserverUrl: undefined, roomId: undefined });
  });

  it('widgetUrlTemplate() carries the template variables Element substitutes and our SFU', () => {
    const url = widgetUrlTemplate('https://sfu.example.org/', 'https://sfu.example.org');
    expect(url).toBe(
      'https://sfu.example.org/widget/?roomId=$matrix_room_id&userId=$matrix_user_id&deviceId=$org.matrix.msc3819.matrix_device_id' +
        '&baseUrl=$org.matrix.msc4039.matrix_base_url&widgetId=$matrix_widget_id&lang=$org.matrix.msc2873.client_language&sfu=https%3A%2F%2Fsfu.example.org',
    );
  });
});
