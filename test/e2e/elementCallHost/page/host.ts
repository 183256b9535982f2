// A host page that embeds the real Element Call (@element-hq/element-call-embedded) the way
// Element Web embeds it: a matrix-js-sdk client with Rust crypto on a real homeserver, a
// virtual `m.call` widget whose URL carries the call parameters after `#?` (widgetId and
// parentUrl in the query, as Element Web's widget messaging adds them), matrix-widget-api's
// ClientWidgetApi, and a driver that grants the capabilities Element Web grants its own call
// widget and answers what Element Call asks: room state, state and to-device sends (to-device
// encrypted with Olm), delayed events, OpenID, the homeserver's RTC transports (MSC4515), and
// the io.element.* / im.vector.* call actions. The test drives it through `window.elementCallHost`.

import { ClientEvent, createClient, Direction, RoomStateEvent, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import {
  ClientWidgetApi,
  EventDirection,
  MatrixCapabilities,
  OpenIDRequestState,
  Widget,
  WidgetDriver,
  WidgetEventCapability,
  type Capability,
  type IOpenIDUpdate,
  type IRoomEvent,
  type IRtcTransportsResult,
  type ISendDelayedEventDetails,
  type ISendEventDetails,
  type IWidgetApiRequest,
  type SimpleObservable,
} from 'matrix-widget-api';
import type { ElementCallHostApi } from '../hostApi.ts';

const params = new URLSearchParams(location.search);
const need = (name: string): string => {
  const value = params.get(name);
  if (!value) throw new Error(`host: missing ?${name}=`);
  return value;
};
const baseUrl = need('hs');
const userId = need('user');
const deviceId = need('device');
const roomId = need('room');

const host: ElementCallHostApi = {
  ready: false,
  error: undefined,
  widgetUrl: '',
  requested: [],
  approved: [],
  fromWidget: [],
  openIdRequests: 0,
  transports: [],
  toDevice: { encrypted: 0, clear: 0, failed: 0 },
  toDeviceIn: {},
  hangup: () => Promise.reject(new Error('not ready')),
  deviceMute: () => Promise.reject(new Error('not ready')),
  membership: () => null,
};
(globalThis as unknown as { elementCallHost: ElementCallHostApi }).elementCallHost = host;

// Room version 12 create events carry no room_id (the room id is derived from them), and the
// embedded client drops state whose room_id is not its room: fill it in.
const raw = (event: MatrixEvent): IRoomEvent => ({ ...event.getEffectiveEvent(), room_id: event.getRoomId() ?? roomId }) as unknown as IRoomEvent;

const CALL_MEMBER = 'org.matrix.msc3401.call.member';

/**
 * The capabilities Element Web pre-approves for its own (virtual, trusted) Element Call widget
 * in a room: always-on-screen, TURN servers, RTC transports, the room timeline, delayed and
 * sticky events, file download, the room state Element Call reads, its own call membership
 * state keys, the call room events and the call to-device events.
 */
function elementWebCallCapabilities(): Set<Capability> {
  const caps = new Set<Capability>([
    MatrixCapabilities.Screenshots,
    'io.element.requires_client',
    MatrixCapabilities.AlwaysOnScreen,
    MatrixCapabilities.MSC3846TurnServers,
    MatrixCapabilities.MSC4515RtcTransports,
    `org.matrix.msc2762.timeline:${roomId}`,
    MatrixCapabilities.MSC4157SendDelayedEvent,
    MatrixCapabilities.MSC4157UpdateDelayedEvent,
    MatrixCapabilities.MSC4407SendStickyEvent,
    MatrixCapabilities.MSC4407ReceiveStickyEvent,
    MatrixCapabilities.MSC4039DownloadFile,
  ]);
  const state = (direction: EventDirection, type: string, key?: string): void => {
    caps.add(WidgetEventCapability.forStateEvent(direction, type, key).raw);
  };
  for (const type of ['m.room.name', 'm.room.member', 'org.matrix.msc3401.call', 'org.matrix.msc4143.rtc.slot', 'm.room.encryption', 'm.room.create', CALL_MEMBER]) {
    state(EventDirection.Receive, type);
  }
  for (const key of [userId, `_${userId}_${deviceId}`, `_${userId}_${deviceId}_m.call`, `${userId}_${deviceId}`, `${userId}_${deviceId}_m.call`]) {
    state(EventDirection.Send, CALL_MEMBER, key);
  }
  const sendOnly = ['org.matrix.msc4075.call.notify', 'org.matrix.msc4075.rtc.notification'];
  const sendReceive = [
    'io.element.call.encryption_keys',
    'org.matrix.rageshake_request',
    'm.reaction',
    'm.room.redaction',
    'io.element.call.reaction',
    'org.matrix.msc4310.rtc.decline',
    'm.rtc.decline',
    'org.matrix.msc4143.rtc.member',
    'm.rtc.member',
  ];
  for (const type of [...sendOnly, ...sendReceive]) caps.add(WidgetEventCapability.forRoomEvent(EventDirection.Send, type).raw);
  for (const type of sendReceive) caps.add(WidgetEventCapability.forRoomEvent(EventDirection.Receive, type).raw);
  const toDevice = [
    'm.call.invite',
    'm.call.candidates',
    'm.call.answer',
    'm.call.hangup',
    'm.call.reject',
    'm.call.select_answer',
    'm.call.negotiate',
    'm.call.sdp_stream_metadata_changed',
    'org.matrix.call.sdp_stream_metadata_changed',
    'm.call.replaces',
    'io.element.call.encryption_keys',
  ];
  for (const type of toDevice) {
    caps.add(WidgetEventCapability.forToDeviceEvent(EventDirection.Send, type).raw);
    caps.add(WidgetEventCapability.forToDeviceEvent(EventDirection.Receive, type).raw);
  }
  return caps;
}

/** The host side of the widget API, shaped like Element Web's ElementWidgetDriver for a call widget. */
class ElementCallDriver extends WidgetDriver {
  readonly #client: MatrixClient;
  readonly #allowed = elementWebCallCapabilities();

  constructor(client: MatrixClient) {
    super();
    this.#client = client;
  }

  override async validateCapabilities(requested: Set<Capability>): Promise<Set<Capability>> {
    host.requested = [...requested];
    // Element Web grants the intersection of what was asked and what it pre-approves for its
    // call widget (anything else would be a prompt to the user; this host has no user).
    const approved = new Set([...requested].filter((capability) => this.#allowed.has(capability)));
    host.approved = [...approved];
    return approved;
  }

  override async sendEvent(eventType: string, content: unknown, stateKey?: string | null, targetRoomId?: string | null): Promise<ISendEventDetails> {
    const room = targetRoomId ?? roomId;
    const client = this.#client as unknown as {
      sendStateEvent(r: string, t: string, c: unknown, k: string): Promise<{ event_id: string }>;
      sendEvent(r: string, t: string, c: unknown): Promise<{ event_id: string }>;
      redactEvent(r: string, id: string): Promise<{ event_id: string }>;
    };
    let result: { event_id: string };
    if (stateKey !== null && stateKey !== undefined) result = await client.sendStateEvent(room, eventType, content, stateKey);
    else if (eventType === 'm.room.redaction') result = await client.redactEvent(room, String((content as { redacts?: unknown }).redacts));
    else result = await client.sendEvent(room, eventType, content);
    return { roomId: room, eventId: result.event_id };
  }

  override async sendDelayedEvent(delay: number, eventType: string, content: unknown, stateKey?: string | null, targetRoomId?: string | null): Promise<ISendDelayedEventDetails> {
    const room = targetRoomId ?? roomId;
    const client = this.#client as unknown as {
      _unstable_sendDelayedStateEvent(r: string, o: { delay: number }, t: string, c: unknown, k: string): Promise<{ delay_id: string }>;
      _unstable_sendDelayedEvent(r: string, o: { delay: number }, thread: null, t: string, c: unknown): Promise<{ delay_id: string }>;
    };
    const result =
      stateKey !== null && stateKey !== undefined
        ? await client._unstable_sendDelayedStateEvent(room, { delay }, eventType, content, stateKey)
        : await client._unstable_sendDelayedEvent(room, { delay }, null, eventType, content);
    return { roomId: room, delayId: result.delay_id };
  }

  override async cancelScheduledDelayedEvent(delayId: string): Promise<void> {
    await this.#client._unstable_cancelScheduledDelayedEvent(delayId);
  }

  override async restartScheduledDelayedEvent(delayId: string): Promise<void> {
    await this.#client._unstable_restartScheduledDelayedEvent(delayId);
  }

  override async sendScheduledDelayedEvent(delayId: string): Promise<void> {
    await this.#client._unstable_sendScheduledDelayedEvent(delayId);
  }

  override async sendToDevice(eventType: string, encrypted: boolean, contentMap: { [userId: string]: { [deviceId: string]: object } }): Promise<void> {
    try {
      if (!encrypted) {
        await this.#client.queueToDevice({
          eventType,
          batch: Object.entries(contentMap).flatMap(([user, devices]) => Object.entries(devices).map(([device, payload]) => ({ userId: user, deviceId: device, payload }))),
        });
        host.toDevice.clear++;
        return;
      }
      const crypto = this.#client.getCrypto();
      if (!crypto) throw new Error('host: no crypto to encrypt to-device messages');
      // As Element Web: one Olm encryption per distinct payload, sent as one batch each.
      const groups = new Map<string, { payload: object; devices: Array<{ userId: string; deviceId: string }> }>();
      for (const [user, devices] of Object.entries(contentMap)) {
        for (const [device, payload] of Object.entries(devices)) {
          const key = JSON.stringify(payload);
          const group = groups.get(key) ?? { payload, devices: [] };
          group.devices.push({ userId: user, deviceId: device });
          groups.set(key, group);
        }
      }
      // Rust crypto tracks only members of encrypted rooms it has seen; make sure it knows these devices.
      await crypto.getUserDeviceInfo(Object.keys(contentMap), true);
      for (const group of groups.values()) {
        const batch = await crypto.encryptToDeviceMessages(eventType, group.devices, group.payload as Record<string, unknown>);
        await this.#client.queueToDevice(batch);
      }
      host.toDevice.encrypted++;
    } catch (error) {
      host.toDevice.failed++;
      throw error;
    }
  }

  override async readRoomState(targetRoomId: string, eventType: string, stateKey: string | undefined): Promise<IRoomEvent[]> {
    const state = this.#client.getRoom(targetRoomId)?.getLiveTimeline().getState(Direction.Forward);
    if (!state) return [];
    if (stateKey !== undefined) {
      const event = state.getStateEvents(eventType, stateKey);
      return event ? [raw(event)] : [];
    }
    return state.getStateEvents(eventType).map(raw);
  }

  override async readRoomTimeline(targetRoomId: string, eventType: string, msgtype: string | undefined, stateKey: string | undefined, limit: number): Promise<IRoomEvent[]> {
    const room = this.#client.getRoom(targetRoomId);
    if (!room) return [];
    const max = limit > 0 ? limit : Number.MAX_SAFE_INTEGER;
    const out: IRoomEvent[] = [];
    const events = room.getLiveTimeline().getEvents();
    for (let index = events.length - 1; index >= 0 && out.length < max; index--) {
      const event = events[index]!;
      if (event.getType() !== eventType) continue;
      if (msgtype !== undefined && event.getContent()['msgtype'] !== msgtype) continue;
      if (stateKey !== undefined && event.getStateKey() !== stateKey) continue;
      out.push(raw(event));
    }
    return out;
  }

  override async readStickyEvents(targetRoomId: string): Promise<IRoomEvent[]> {
    const room = this.#client.getRoom(targetRoomId) as unknown as { _unstable_getStickyEvents?(): Iterable<MatrixEvent> } | null;
    return room?._unstable_getStickyEvents ? [...room._unstable_getStickyEvents()].map(raw) : [];
  }

  override askOpenID(observer: SimpleObservable<IOpenIDUpdate>): void {
    // Element Web allows OpenID for its call widget without asking the user.
    host.openIdRequests++;
    this.#client.getOpenIdToken().then(
      (token) => observer.update({ state: OpenIDRequestState.Allowed, token }),
      (error: unknown) => {
        console.warn('host: OpenID token request failed', error);
        observer.update({ state: OpenIDRequestState.Blocked });
      },
    );
  }

  override async getRtcTransports(): Promise<IRtcTransportsResult> {
    // As Element Web: the homeserver's MSC4143 transports (GET …/org.matrix.msc4143/rtc/transports).
    const transports = (await this.#client._unstable_getRTCTransports()) ?? [];
    host.transports = transports as unknown[];
    return { rtc_transports: transports as IRtcTransportsResult['rtc_transports'] };
  }

  override getKnownRooms(): string[] {
    return this.#client.getRooms().map((room) => room.roomId);
  }
}

async function startClient(): Promise<MatrixClient> {
  const client = createClient({ baseUrl, userId, deviceId, accessToken: need('token') });
  await client.initRustCrypto({ useIndexedDB: false });
  const synced = new Promise<void>((resolve) => {
    client.on(ClientEvent.Sync, (state) => {
      if (state === 'PREPARED') resolve();
    });
  });
  // Short long-polls: a to-device message does not always wake a pending /sync on the test
  // Synapse, and the media keys travel as to-device messages.
  await client.startClient({ initialSyncLimit: 1, lazyLoadMembers: false, pollTimeout: 5000 });
  await synced;
  return client;
}

/**
 * Element Web's Element Call URL: the call parameters in the fragment after `#?`. With
 * `?widget=<url>` the host launches that call widget instead (this SFU's `/room`), the same
 * way: a host that launches Element Call launches ours.
 */
function widgetTemplateUrl(): string {
  const other = params.get('widget');
  const widgetBase = other ? new URL(other) : new URL('widgets/element-call/index.html', location.href);
  const fragment = new URLSearchParams({
    perParticipantE2EE: '$perParticipantE2EE',
    userId,
    deviceId,
    roomId,
    baseUrl,
    lang: params.get('lang') ?? 'en',
    fontScale: '1',
    theme: '$org.matrix.msc2873.client_theme',
  });
  fragment.set('skipLobby', params.get('skipLobby') ?? 'true');
  fragment.append('intent', params.get('intent') ?? 'join_existing');
  return `${widgetBase.origin}${widgetBase.pathname}#?${fragment.toString().replace(/%24/g, '$')}`;
}

function summarise(request: IWidgetApiRequest): string {
  const data = request.data as Record<string, unknown>;
  switch (request.action) {
    case 'send_event':
      return `${String(data['type'])}${data['state_key'] !== undefined ? ` state_key=${String(data['state_key'])}` : ''}${data['delay'] !== undefined ? ` delay=${String(data['delay'])}` : ''}`;
    case 'send_to_device':
      return `${String(data['type'])} encrypted=${String(data['encrypted'])}`;
    case 'org.matrix.msc4157.update_delayed_event':
      return String(data['action']);
    default:
      return '';
  }
}

async function main(): Promise<void> {
  const client = await startClient();
  const widgetId = Array.from(crypto.getRandomValues(new Uint8Array(12)), (byte) => byte.toString(16).padStart(2, '0')).join('');
  const widget = new Widget({
    id: widgetId,
    creatorUserId: userId,
    type: 'm.call',
    name: 'Element Call',
    url: widgetTemplateUrl(),
    // Element Web does not wait for the iframe's load event: Element Call says content_loaded itself.
    waitForIframeLoad: false,
    data: { perParticipantE2EE: params.get('e2ee') !== '0' },
  });
  const url = new URL(widget.getCompleteUrl({ widgetRoomId: roomId, currentUserId: userId, deviceId, baseUrl, clientLanguage: params.get('lang') ?? 'en', clientTheme: params.get('theme') ?? 'dark' }));
  // As Element Web's widget messaging for a non-popout widget: widgetId and parentUrl in the query.
  url.searchParams.set('widgetId', widgetId);
  url.searchParams.set('parentUrl', location.href.split('#')[0] ?? location.href);
  host.widgetUrl = url.toString().replace(/%24/g, '$');

  const iframe = document.createElement('iframe');
  iframe.allow = 'camera; microphone; display-capture; autoplay; clipboard-write; fullscreen';
  iframe.title = 'Element Call';
  iframe.src = host.widgetUrl;
  document.getElementById('frame')?.append(iframe);
  const api = new ClientWidgetApi(widget, iframe, new ElementCallDriver(client));
  api.setViewedRoomId(roomId);

  api.transport.on('message', (event: CustomEvent<IWidgetApiRequest>) => {
    host.fromWidget.push({ action: event.detail.action, atMs: Math.round(performance.now()), summary: summarise(event.detail) });
  });
  // The call actions Element Web answers (Call.ts): join, hang-up, close, device mute; and
  // always-on-screen (its ActiveWidgetStore keeps the call visible while the user navigates).
  for (const action of ['io.element.join', 'im.vector.hangup', 'io.element.close', 'io.element.device_mute', 'set_always_on_screen']) {
    api.on(`action:${action}`, (event: CustomEvent<IWidgetApiRequest>) => {
      event.preventDefault();
      api.transport.reply(event.detail, action === 'set_always_on_screen' ? { success: true } : {});
    });
  }
  client.on(ClientEvent.Event, (event) => {
    if (event.getRoomId() === roomId) void api.feedEvent(raw(event));
  });
  client.getRoom(roomId)?.on(RoomStateEvent.Events, (event) => void api.feedStateUpdate(raw(event)));
  client.on(ClientEvent.ReceivedToDeviceMessage, ({ message, encryptionInfo }) => {
    const type = String((message as { type?: unknown }).type);
    host.toDeviceIn[type] = (host.toDeviceIn[type] ?? 0) + 1;
    void api.feedToDevice(message as never, encryptionInfo !== null);
  });
  host.hangup = () => api.transport.send('im.vector.hangup', {});
  host.deviceMute = (state) => api.transport.send('io.element.device_mute', state);
  host.membership = (user, device) => {
    const event = client.getRoom(roomId)?.currentState.getStateEvents(CALL_MEMBER, `_${user}_${device}_m.call`);
    return event ? (event.getContent() as Record<string, unknown>) : null;
  };
  host.ready = true;
}

main().catch((error: unknown) => {
  host.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error('host failed', error);
});
