// A widget host page for the e2e tests, shaped like Element Web's StopGapWidget: a real
// matrix-js-sdk client (access token from the test, optional Rust crypto) on the test
// Synapse, the call widget in an iframe, and matrix-widget-api's own ClientWidgetApi bridged
// to the client by a WidgetDriver. Served from its own origin (another port than the SFU),
// like a real host. The test drives and inspects it through `window.widgetHost`.
// `?fragment=1` puts the call parameters after `#?` as Element Web does for Element Call
// (widgetId and parentUrl stay in the query); `?extra=` appends more widget parameters
// (e.g. `intent=join_existing&theme=light`); `?widgetBaseUrl=` tells the widget another homeserver URL.

import { ClientEvent, createClient, RoomStateEvent, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import {
  ClientWidgetApi,
  OpenIDRequestState,
  Widget,
  WidgetDriver,
  type Capability,
  type IOpenIDUpdate,
  type IRoomEvent,
  type ISendDelayedEventDetails,
  type ISendEventDetails,
  type SimpleObservable,
} from 'matrix-widget-api';
import type { WidgetHostApi } from '../hostApi.ts';

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
const widgetBase = need('widget');

const host: WidgetHostApi = {
  ready: false,
  error: undefined,
  crypto: 'none',
  requested: [],
  approved: [],
  fromWidget: [],
  fromWidgetData: [],
  widgetUrl: '',
  openIdRequests: 0,
  toDevice: { encrypted: 0, clear: 0, failed: 0 },
  hangup: () => Promise.reject(new Error('not ready')),
  deviceMute: () => Promise.reject(new Error('not ready')),
  themeChange: () => Promise.reject(new Error('not ready')),
  join: () => Promise.reject(new Error('not ready')),
  membership: () => null,
};
(globalThis as unknown as { widgetHost: WidgetHostApi }).widgetHost = host;

// Room version 12 create events carry no room_id (the room id is derived from them), and the
// embedded client drops state whose room_id is not its room: fill it in.
const raw = (event: MatrixEvent): IRoomEvent => ({ ...event.getEffectiveEvent(), room_id: event.getRoomId() ?? roomId }) as unknown as IRoomEvent;

/** The host side of the widget API: everything the call widget asks for, done with our client. */
class TestDriver extends WidgetDriver {
  readonly #client: MatrixClient;

  constructor(client: MatrixClient) {
    super();
    this.#client = client;
  }

  override async validateCapabilities(requested: Set<Capability>): Promise<Set<Capability>> {
    host.requested = [...requested];
    const denied = new Set((params.get('deny') ?? '').split(',').filter(Boolean));
    const approved = new Set([...requested].filter((capability) => !denied.has(capability)));
    host.approved = [...approved];
    return approved;
  }

  override async sendEvent(eventType: string, content: unknown, stateKey?: string | null, targetRoomId?: string | null): Promise<ISendEventDetails> {
    const room = targetRoomId ?? roomId;
    const client = this.#client as unknown as {
      sendStateEvent(r: string, t: string, c: unknown, k: string): Promise<{ event_id: string }>;
      sendEvent(r: string, t: string, c: unknown): Promise<{ event_id: string }>;
    };
    const result = stateKey !== null && stateKey !== undefined ? await client.sendStateEvent(room, eventType, content, stateKey) : await client.sendEvent(room, eventType, content);
    return { roomId: room, eventId: result.event_id };
  }

  override async sendDelayedEvent(delay: number, eventType: string, content: unknown, stateKey?: string | null, targetRoomId?: string | null): Promise<ISendDelayedEventDetails> {
    const room = targetRoomId ?? roomId;
    if (stateKey === null || stateKey === undefined) throw new Error('host: only delayed state events are supported');
    const client = this.#client as unknown as { _unstable_sendDelayedStateEvent(r: string, o: { delay: number }, t: string, c: unknown, k: string): Promise<{ delay_id: string }> };
    const result = await client._unstable_sendDelayedStateEvent(room, { delay }, eventType, content, stateKey);
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
        await this.#client.sendToDevice(eventType, new Map(Object.entries(contentMap).map(([user, devices]) => [user, new Map(Object.entries(devices))])));
        host.toDevice.clear++;
        return;
      }
      const crypto = this.#client.getCrypto();
      if (!crypto) throw new Error('host: no crypto to encrypt to-device messages');
      // One encryption per distinct payload (the call sends the same key to every device).
      const groups = new Map<string, { payload: object; devices: Array<{ userId: string; deviceId: string }> }>();
      for (const [user, devices] of Object.entries(contentMap)) {
        for (const [device, payload] of Object.entries(devices)) {
          const key = JSON.stringify(payload);
          const group = groups.get(key) ?? { payload, devices: [] };
          group.devices.push({ userId: user, deviceId: device });
          groups.set(key, group);
        }
      }
      // Rust crypto tracks only members of encrypted rooms; make sure it knows these devices.
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
    const state = this.#client.getRoom(targetRoomId)?.currentState;
    if (!state) return [];
    if (stateKey !== undefined) {
      const event = state.getStateEvents(eventType, stateKey);
      return event ? [raw(event)] : [];
    }
    return state.getStateEvents(eventType).map(raw);
  }

  override async readRoomTimeline(): Promise<IRoomEvent[]> {
    return [];
  }

  override askOpenID(observer: SimpleObservable<IOpenIDUpdate>): void {
    host.openIdRequests++;
    this.#client.getOpenIdToken().then(
      (token) => observer.update({ state: OpenIDRequestState.Allowed, token }),
      () => observer.update({ state: OpenIDRequestState.Blocked }),
    );
  }

  override getKnownRooms(): string[] {
    return this.#client.getRooms().map((room) => room.roomId);
  }
}

async function startClient(): Promise<MatrixClient> {
  const client = createClient({ baseUrl, userId, deviceId, accessToken: need('token') });
  if (params.get('crypto') === '1') {
    await client.initRustCrypto({ useIndexedDB: false });
    host.crypto = 'rust';
  }
  const synced = new Promise<void>((resolve) => {
    client.on(ClientEvent.Sync, (state) => {
      if (state === 'PREPARED') resolve();
    });
  });
  // Short long-polls: a to-device message does not always wake a pending /sync on the test
  // Synapse (seen once: an Olm key waited 20 s for the poll to time out).
  await client.startClient({ initialSyncLimit: 1, lazyLoadMembers: false, pollTimeout: 5000 });
  await synced;
  return client;
}

async function main(): Promise<void> {
  const client = await startClient();
  const widgetId = `call-${Math.random().toString(36).slice(2, 10)}`;
  const callParams = `roomId=$matrix_room_id&userId=$matrix_user_id&deviceId=$org.matrix.msc3819.matrix_device_id&baseUrl=$org.matrix.msc4039.matrix_base_url&lang=$org.matrix.msc2873.client_language${params.get('sfu') ? `&sfu=${encodeURIComponent(need('sfu'))}` : ''}${params.get('e2ee') === '1' ? '&perParticipantE2EE=true' : ''}${params.get('extra') ? `&${params.get('extra')}` : ''}`;
  // Element Web launches Element Call with its parameters in the fragment (`<url>#?…`), so they never reach a server log.
  const template = params.get('fragment') === '1' ? `${widgetBase}#?${callParams}` : `${widgetBase}?${callParams}`;
  const widget = new Widget({ id: widgetId, creatorUserId: userId, type: 'm.custom', url: template, waitForIframeLoad: true, data: {} });
  // As Element's StopGapWidget: template variables (in the fragment too), then widgetId and parentUrl appended to the query.
  const url = new URL(widget.getCompleteUrl({ widgetRoomId: roomId, currentUserId: userId, deviceId, baseUrl: params.get('widgetBaseUrl') ?? baseUrl, clientLanguage: params.get('lang') ?? 'en', clientTheme: params.get('theme') ?? 'dark' }));
  url.searchParams.set('widgetId', widgetId);
  url.searchParams.set('parentUrl', location.href.split('#')[0] ?? location.href);
  host.widgetUrl = url.toString();
  const iframe = document.createElement('iframe');
  iframe.allow = 'camera; microphone; display-capture; autoplay; clipboard-write';
  iframe.title = 'Call';
  iframe.src = url.toString().replace(/%24/g, '$');
  // ClientWidgetApi needs the iframe's window: attach it first (its load event comes later).
  document.getElementById('frame')?.append(iframe);
  const api = new ClientWidgetApi(widget, iframe, new TestDriver(client));
  api.setViewedRoomId(roomId);
  // Element Web's call widget handling: the widget's join, hang-up, close, mute state and keep-on-screen request.
  for (const action of ['io.element.join', 'im.vector.hangup', 'io.element.close', 'io.element.device_mute', 'set_always_on_screen']) {
    api.on(`action:${action}`, (event: CustomEvent<{ action: string; data: unknown }>) => {
      event.preventDefault();
      host.fromWidget.push(action);
      host.fromWidgetData.push({ action, data: event.detail.data });
      const allowed = action !== 'set_always_on_screen' || api.hasCapability('m.always_on_screen');
      api.transport.reply(event.detail as never, allowed ? (action === 'set_always_on_screen' ? { success: true } : {}) : { error: { message: 'no m.always_on_screen capability' } });
    });
  }
  client.on(ClientEvent.Event, (event) => {
    if (event.getRoomId() === roomId) void api.feedEvent(raw(event));
  });
  client.getRoom(roomId)?.on(RoomStateEvent.Events, (event) => void api.feedStateUpdate(raw(event)));
  client.on(ClientEvent.ReceivedToDeviceMessage, ({ message, encryptionInfo }) => {
    void api.feedToDevice(message as never, encryptionInfo !== null);
  });
  host.hangup = () => api.transport.send('im.vector.hangup', {});
  host.deviceMute = (request) => api.transport.send('io.element.device_mute', request);
  host.themeChange = (name) => api.transport.send('theme_change', { name });
  host.join = (request) => api.transport.send('io.element.join', request);
  host.membership = (user, device) => {
    const event = client.getRoom(roomId)?.currentState.getStateEvents('org.matrix.msc3401.call.member', `_${user}_${device}_m.call`);
    return event ? (event.getContent() as Record<string, unknown>) : null;
  };
  host.ready = true;
}

main().catch((error: unknown) => {
  host.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error('host failed', error);
});
