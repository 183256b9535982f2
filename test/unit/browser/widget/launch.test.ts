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
      intent: undefined,
      skipLobby: true,
      theme: undefined,
      audioOnly: false,
      preload: false,
      returnToLobby: false,
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
      theme: undefined,
    });
    expect(parseLaunch('?homeserver=javascript:alert(1)&roomId=nope', ORIGIN)).toMatchObject({ homeserverUrl: undefined, roomId: undefined });
  });

  it('reads Element Call\'s parameters from the #? fragment first, then the query (widgetId and parentUrl stay in the query)', () => {
    const fragment = `#?${new URLSearchParams({ roomId: '!frag:example.org', userId: '@anna:example.org', deviceId: 'DEV9', baseUrl: 'https://matrix.example.org', lang: 'sv', theme: 'light' })}`;
    const launch = parseLaunch(`?${new URLSearchParams({ widgetId: 'w1', parentUrl: 'https://app.element.io/', roomId: '!query:example.org' })}`, ORIGIN, fragment);
    expect(launch).toMatchObject({ mode: 'widget', roomId: '!frag:example.org', deviceId: 'DEV9', lang: 'sv', theme: 'light' });
    // Element Web's own path form `#/room?…` also works: only the part after the first `?` counts.
    expect(parseLaunch('', ORIGIN, '#/room/x?homeserver=https://m.example.org&theme=dark')).toMatchObject({ mode: 'standalone', homeserverUrl: 'https://m.example.org', theme: 'dark' });
  });

  it('presets skipLobby and perParticipantE2EE from intent as Element Call does; explicit flags win', () => {
    expect(parseLaunch(widgetQuery({ intent: 'start_call' }), ORIGIN)).toMatchObject({ intent: 'start_call', skipLobby: false, e2ee: true, audioOnly: false });
    expect(parseLaunch(widgetQuery({ intent: 'join_existing_voice' }), ORIGIN)).toMatchObject({ skipLobby: false, audioOnly: true });
    expect(parseLaunch(widgetQuery({ intent: 'join_existing_dm' }), ORIGIN)).toMatchObject({ skipLobby: true });
    expect(parseLaunch(widgetQuery({ intent: 'join_existing', skipLobby: 'true', perParticipantE2EE: 'false' }), ORIGIN)).toMatchObject({ skipLobby: true, e2ee: false });
    expect(parseLaunch(widgetQuery({ skipLobby: 'false' }), ORIGIN)).toMatchObject({ intent: undefined, skipLobby: false, e2ee: false });
    expect(parseLaunch(widgetQuery({ skipLobby: '' }), ORIGIN)).toMatchObject({ skipLobby: true });
    expect(parseLaunch(widgetQuery({ intent: 'make_coffee' }), ORIGIN)).toMatchObject({ intent: undefined, skipLobby: true, e2ee: false });
    expect(parseLaunch(widgetQuery({ preload: 'true', skipLobby: 'true' }), ORIGIN)).toMatchObject({ preload: true, skipLobby: true });
    expect(parseLaunch(widgetQuery({ returnToLobby: 'true' }), ORIGIN)).toMatchObject({ returnToLobby: true });
  });

  it('maps theme names to light or dark, and ignores unknown or unsubstituted ones', () => {
    expect(parseLaunch(widgetQuery({ theme: 'light-high-contrast' }), ORIGIN)).toMatchObject({ theme: 'light' });
    expect(parseLaunch(widgetQuery({ theme: 'dark' }), ORIGIN)).toMatchObject({ theme: 'dark' });
    expect(parseLaunch(widgetQuery({ theme: '$org.matrix.msc2873.client_theme' }), ORIGIN)).toMatchObject({ theme: undefined });
    expect(parseLaunch(widgetQuery({ theme: 'sepia' }), ORIGIN)).toMatchObject({ theme: undefined });
  });

  it('widgetUrlTemplate() carries the template variables Element substitutes and our SFU', () => {
    const url = widgetUrlTemplate('https://sfu.example.org/', 'https://sfu.example.org');
    expect(url).toBe(
      'https://sfu.example.org/widget/?roomId=$matrix_room_id&userId=$matrix_user_id&deviceId=$org.matrix.msc3819.matrix_device_id' +
        '&baseUrl=$org.matrix.msc4039.matrix_base_url&widgetId=$matrix_widget_id&lang=$org.matrix.msc2873.client_language&sfu=https%3A%2F%2Fsfu.example.org',
    );
  });
});
