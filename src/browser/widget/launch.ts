// How the widget was opened, parsed from its URL (README.md, "MatrixRTC widget mode"). Widget mode when
// `widgetId` and `parentUrl` are present (a host such as Element Web embeds us); standalone
// mode otherwise (login form, room picker). Every fault is reported at once, in one
// WidgetError CONFIGURATION, so an operator fixes the widget URL in one go.
//
// Parameters are read as Element Call reads them: from the fragment after `#?` first (a host
// that launches Element Call puts them there, so they never reach a server log), then from
// the query string (Element Web appends `widgetId` and `parentUrl` to the query). Element
// Call's `intent` presets `skipLobby` and `perParticipantE2EE`; an explicit parameter wins.

import { WidgetError } from './errors.ts';

/** Our transport type in `foci_preferred` (README "Matrix integration"). */
export const SFU_FOCUS_TYPE = 'org.matrix_sfu.mediasoup';

/** Element Call's `intent` values (what the person pressed in the host: start or join, video or voice, DM or room). */
export const CALL_INTENTS = Object.freeze([
  'start_call',
  'join_existing',
  'start_call_voice',
  'join_existing_voice',
  'start_call_dm',
  'start_call_dm_voice',
  'join_existing_dm',
  'join_existing_dm_voice',
] as const);

/** One of them. */
export type CallIntent = (typeof CALL_INTENTS)[number];

/** The widget's colour scheme. */
export type WidgetTheme = 'light' | 'dark';

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
  /** Element Call's `intent`, when the host named a known one. */
  readonly intent: CallIntent | undefined;
  /**
   * Join at once, without the pre-join screen. `skipLobby` when given; else from `intent`
   * as Element Call presets it (`start_call`/`join_existing`[`_voice`]: false, the `_dm`
   * intents: true); without either, true (this widget's behaviour before it had a lobby).
   */
  readonly skipLobby: boolean;
  /** `theme` (`light`, `dark`, or their `-high-contrast` forms); undefined: the host said nothing (dark). */
  readonly theme: WidgetTheme | undefined;
  /** A voice intent (`*_voice`): join with the camera off. */
  readonly audioOnly: boolean;
  /**
   * `preload`: the host loads the widget ahead and says when to join (`io.element.join`). The
   * lobby is shown meanwhile (so the person may also press Join), whatever `skipLobby` says.
   */
  readonly preload: boolean;
  /**
   * `returnToLobby` (Element Web sets it for video rooms): after a leave, show the lobby again
   * and do not ask the host to close the widget.
   */
  readonly returnToLobby: boolean;
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
  /** `theme`, as in widget mode. */
  readonly theme: WidgetTheme | undefined;
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

/** The URL's parameters, Element Call's way: the fragment's `?…` part first, then the query. */
export class LaunchParams {
  readonly #fragment: URLSearchParams;
  readonly #query: URLSearchParams;

  constructor(search: string, hash = '') {
    this.#query = new URLSearchParams(search);
    const start = hash.indexOf('?');
    this.#fragment = new URLSearchParams(start === -1 ? '' : hash.slice(start));
  }

  /** Whether either part names `name`. */
  has(name: string): boolean {
    return this.#fragment.has(name) || this.#query.has(name);
  }

  /** The trimmed value (fragment first); undefined when absent, empty or an unsubstituted `$template` variable. */
  get(name: string): string | undefined {
    const value = (this.#fragment.get(name) ?? this.#query.get(name))?.trim();
    return value && !value.startsWith('$') ? value : undefined;
  }

  /** Element Call's flags: absent → undefined; present → true unless `false` (`0` counts as false too). */
  flag(name: string): boolean | undefined {
    const value = this.get(name);
    if (value === undefined) return this.has(name) && !this.#isTemplate(name) ? true : undefined;
    return value !== 'false' && value !== '0';
  }

  #isTemplate(name: string): boolean {
    return ((this.#fragment.get(name) ?? this.#query.get(name)) ?? '').trim().startsWith('$');
  }
}

/** Element's theme names (`light`, `dark`, their `-high-contrast` forms, `black`) → ours; anything else undefined. */
export function themeOf(value: unknown): WidgetTheme | undefined {
  if (value === 'light' || value === 'light-high-contrast') return 'light';
  if (value === 'dark' || value === 'dark-high-contrast' || value === 'black') return 'dark';
  return undefined;
}

/** Element Call's preset for an intent: whether the lobby is skipped. */
function intentSkipsLobby(intent: CallIntent): boolean {
  return intent.includes('_dm');
}

/**
 * Parses the widget's URL: `search` (the query) and `hash` (the fragment; its `?…` part wins).
 * `origin` is the origin serving the widget, the default SFU.
 * @throws WidgetError CONFIGURATION listing every fault (an unsubstituted `$matrix_…`
 * template variable counts as missing).
 */
export function parseLaunch(search: string, origin: string, hash = ''): Launch {
  const params = new LaunchParams(search, hash);
  const faults: string[] = [];
  const get = (name: string): string | undefined => params.get(name);
  const sfuParam = get('sfu');
  const sfuUrl = httpUrl(sfuParam ?? origin);
  if (!sfuUrl) faults.push(`sfu: not an http(s) URL: ${sfuParam ?? origin}`);
  const sfuServiceUrl = sfuUrl ? base(sfuUrl) : '';
  const lang = get('lang');
  const theme = themeOf(get('theme'));

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
      theme,
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
  const intentValue = get('intent');
  const intent = CALL_INTENTS.find((known) => known === intentValue);
  // Element Call's intents all preset per-participant E2EE; without an intent it stays off unless asked for.
  const e2ee = params.flag('perParticipantE2EE') ?? intent !== undefined;
  const skipLobby = params.flag('skipLobby') ?? (intent ? intentSkipsLobby(intent) : true);
  const audioOnly = intent?.endsWith('_voice') ?? false;
  const preload = params.flag('preload') ?? false;
  const returnToLobby = params.flag('returnToLobby') ?? false;
  return { mode: 'widget', widgetId, parentOrigin: parent.origin, roomId, userId, deviceId, baseUrl: base(baseUrl), sfuServiceUrl, lang, e2ee, intent, skipLobby, theme, audioOnly, preload, returnToLobby };
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
