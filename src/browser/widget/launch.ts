// How the widget was opened, parsed from its URL (README.md, "MatrixRTC widget mode"). Widget mode when
// `widgetId` and `parentUrl` are present (a host such as Element Web embeds us); standalone
// mode otherwise (login form, room picker). Every fault is reported at once, in one
// WidgetError CONFIGURATION, so an operator fixes the widget URL in one go.

import { WidgetError } from './errors.ts';

/** Our transport type in `foci_preferred` (README "Matrix integration"). */
export const SFU_FOCUS_TYPE = 'org.matrix_sfu.mediasoup';

/** Opened by a widget host. */
export interface WidgetLaunch {
  readonly mode: 'widget';
  readonly widgetId: string;
  /** Origin of the host page; widget API messages from elsewhere are ignored. */
  readonly parentOrigin: string;
  readonly roomId: string;
  readonly userId: string;
  readonly deviceId: string;
  /** The user's homeserver (client API base); js-sdk reads /versions there. */
  readonly baseUrl: string;
  /** `sfu_service_url` of our transport: the base of POST /sfu/get. */
  readonly sfuServiceUrl: string;
  /** The `lang` parameter, if any. */
  readonly lang: string | undefined;
  /**
   * `perParticipantE2EE=true` (Element Call's name): end-to-end encrypt media with keys over
   * Olm to-device. Every participant of the call must then encrypt. Default false.
   */
  readonly e2ee: boolean;
}

/** Opened directly (no host): the person signs in. Parameters only pre-fill the form. */
export interface StandaloneLaunch {
  readonly mode: 'standalone';
  readonly sfuServiceUrl: string;
  readonly lang: string | undefined;
  /** Pre-filled homeserver URL (`homeserver`). */
  readonly homeserverUrl: string | undefined;
  /** Pre-filled user (`user`). */
  readonly user: string | undefined;
  /** Room to join right after signing in (`roomId`), skipping the picker. */
  readonly roomId: string | undefined;
}

/** Either way of starting. */
export type Launch = WidgetLaunch | StandaloneLaunch;

const USER_ID = /^@[^:\s]+:[^\s]+$/;
const ROOM_ID = /^![^:\s]+(:[^\s]+)?$/;
const DEVICE_ID = /^[^\s]{1,255}$/;

function httpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A URL without its trailing slash. */
function base(url: URL): string {
  return url.href.replace(/\/+$/, '');
}

/**
 * Parses the widget's URL query. `origin` is the origin serving the widget, the default SFU.
 * @throws WidgetError CONFIGURATION listing every fault (an unsubstituted `$matrix_…`
 * template variable counts as missing).
 */
export function parseLaunch(search: string, origin: string): Launch {
  const params = new URLSearchParams(search);
  const faults: string[] = [];
  const get = (name: string): string | undefined => {
    const value = params.get(name)?.trim();
    return value && !value.startsWith('$') ? value : undefined;
  };
  const sfuParam = get('sfu');
  const sfuUrl = httpUrl(sfuParam ?? origin);
  if (!sfuUrl) faults.push(`sfu: not an http(s) URL: ${sfuParam ?? origin}`);
  const sfuServiceUrl = sfuUrl ? base(sfuUrl) : '';
  const lang = get('lang');

  if (!params.has('widgetId') && !params.has('parentUrl')) {
    if (faults.length > 0) throw new WidgetError('CONFIGURATION', 'bad widget URL', { details: faults });
    const homeserver = get('homeserver');
    return {
      mode: 'standalone',
      sfuServiceUrl,
      lang,
      homeserverUrl: homeserver && httpUrl(homeserver) ? homeserver : undefined,
      user: get('user'),
      roomId: get('roomId') && ROOM_ID.test(get('roomId') ?? '') ? get('roomId') : undefined,
    };
  }

  const required = (name: string, pattern: RegExp | undefined, what: string): string => {
    const value = get(name);
    if (value === undefined) faults.push(`${name}: missing`);
    else if (pattern && !pattern.test(value)) faults.push(`${name}: not ${what}`);
    return value ?? '';
  };
  const widgetId = required('widgetId', undefined, '');
  const roomId = required('roomId', ROOM_ID, 'a room id (!…)');
  const userId = required('userId', USER_ID, 'a user id (@user:server)');
  const deviceId = required('deviceId', DEVICE_ID, 'a device id');
  const parentUrl = required('parentUrl', undefined, '');
  const parent = parentUrl ? httpUrl(parentUrl) : undefined;
  if (parentUrl && !parent) faults.push('parentUrl: not an http(s) URL');
  const baseUrlValue = required('baseUrl', undefined, '');
  const baseUrl = baseUrlValue ? httpUrl(baseUrlValue) : undefined;
  if (baseUrlValue && !baseUrl) faults.push('baseUrl: not an http(s) URL');
  if (faults.length > 0 || !parent || !baseUrl) throw new WidgetError('CONFIGURATION', 'bad widget URL', { details: faults });
  const e2ee = get('perParticipantE2EE') === 'true' || get('perParticipantE2EE') === '1';
  return { mode: 'widget', widgetId, parentOrigin: parent.origin, roomId, userId, deviceId, baseUrl: base(baseUrl), sfuServiceUrl, lang, e2ee };
}

/**
 * The widget URL template an operator adds to a room (README of src/browser/widget). Element Web
 * appends `widgetId` and `parentUrl` itself (StopGapWidget), so the template does not carry them.
 */
export function widgetUrlTemplate(widgetBaseUrl: string, sfuServiceUrl: string): string {
  const query = [
    'roomId=$matrix_room_id',
    'userId=$matrix_user_id',
    'deviceId=$org.matrix.msc3819.matrix_device_id',
    'baseUrl=$org.matrix.msc4039.matrix_base_url',
    'widgetId=$matrix_widget_id',
    'lang=$org.matrix.msc2873.client_language',
    `sfu=${encodeURIComponent(sfuServiceUrl)}`,
  ].join('&');
  return `${widgetBaseUrl.replace(/\/+$/, '')}/widget/?${query}`;
}
