// The call screen: a header (room name, participant count, encryption and connection state),
// the stage (shared screens in a spotlight, people in a grid), notices, the control bar, the
// hidden audio players and the device dialog. It renders from CallSession's getters after
// each `changed` (batched to one render per task) and sends clicks back as session calls.

import type { CallSession } from '../call/CallSession.ts';
import type { TileModel } from '../call/types.ts';
import type { WidgetError } from '../errors.ts';
import { explain } from '../explain.ts';
import type { MessageKey, Translator } from '../i18n/index.ts';
import { ControlBar } from './ControlBar.ts';
import { h, icon } from './dom.ts';
import { SettingsDialog } from './SettingsDialog.ts';
import { TileView } from './TileView.ts';

/** Notices kept on screen at most. */
const MAX_NOTICES = 3;

/** Options of CallView. */
export interface CallViewOptions {
  readonly roomName: () => string | undefined;
}

/** The call screen bound to one session. */
export class CallView {
  readonly element: HTMLElement;
  readonly #session: CallSession;
  readonly #t: Translator;
  readonly #options: CallViewOptions;
  readonly #tiles = new Map<string, TileView>();
  readonly #audio = new Map<string, HTMLAudioElement>();
  readonly #title = h('h1', { class: 'room-name' });
  readonly #count = h('span', { class: 'participant-count' });
  readonly #e2ee = h('span', { class: 'call-e2ee' });
  readonly #status = h('p', { class: 'connection-status', attrs: { role: 'status' } });
  readonly #soundButton: HTMLButtonElement;
  readonly #spotlight = h('div', { class: 'spotlight' });
  readonly #grid = h('div', { class: 'grid' });
  readonly #alone: HTMLElement;
  readonly #stage: HTMLElement;
  readonly #notices = h('div', { class: 'notices', attrs: { role: 'alert' } });
  readonly #audioSink = h('div', { class: 'audio-sink', attrs: { 'aria-hidden': 'true' } });
  readonly #controls: ControlBar;
  readonly #settings: SettingsDialog;
  #speakerId = '';
  #renderQueued = false;
  #disposed = false;

  constructor(session: CallSession, t: Translator, options: CallViewOptions) {
    this.#session = session;
    this.#t = t;
    this.#options = options;
    this.#soundButton = h('button', { class: 'sound-button', attrs: { type: 'button', hidden: true }, on: { click: () => this.#playAll() } }, icon('sound'), h('span', { text: t.t('call.enableSound') }));
    this.#alone = h('p', { class: 'alone-hint', text: t.t('call.alone') });
    this.#stage = h('main', { class: 'stage', attrs: { 'aria-label': t.t('app.title') } }, this.#spotlight, this.#grid, this.#alone);
    this.#controls = new ControlBar(t, {
      toggleMicrophone: () => void session.toggleMicrophone(),
      toggleCamera: () => void session.toggleCamera(),
      toggleScreenShare: () => void session.toggleScreenShare(),
      openSettings: () => void this.#settings.open(),
      hangUp: () => void session.hangUp(),
    });
    const media = session.media;
    this.#settings = new SettingsDialog(t, {
      devices: () => media.devices(),
      choice: () => media.choice,
      switchDevice: (kind, deviceId) => void session.switchDevice(kind, deviceId),
      setSpeaker: (deviceId) => this.#setSpeaker(deviceId),
    });
    this.#speakerId = media.choice.audiooutput ?? '';
    media.on('devicesChanged', () => {
      if (this.#settings.element.open) void this.#settings.refresh();
    });
    this.element = h(
      'div',
      { class: 'call' },
      h('header', { class: 'call-header' }, h('div', { class: 'call-title' }, this.#title, this.#count), this.#e2ee, this.#status, this.#soundButton),
      this.#stage,
      this.#notices,
      this.#controls.element,
      this.#audioSink,
      this.#settings.element,
    );
    session.on('changed', () => this.#queueRender());
    session.on('notice', (error) => this.showNotice(error));
    this.#render();
  }

  /** Shows a non-fatal problem as a dismissable sentence. */
  showNotice(error: WidgetError): void {
    this.#notice(explain(error).key);
  }

  #notice(key: MessageKey): void {
    const text = this.#t.t(key);
    if ([...this.#notices.children].some((notice) => notice.firstChild?.textContent === text)) return;
    const notice = h('div', { class: 'notice' }, h('span', { text }));
    notice.append(h('button', { class: 'notice-dismiss', text: this.#t.t('notice.dismiss'), attrs: { type: 'button' }, on: { click: () => notice.remove() } }));
    this.#notices.append(notice);
    while (this.#notices.children.length > MAX_NOTICES) this.#notices.firstElementChild?.remove();
  }

  /** Removes every tile and stops playing audio. */
  dispose(): void {
    this.#disposed = true;
    for (const tile of this.#tiles.values()) tile.dispose();
    for (const audio of this.#audio.values()) audio.srcObject = null;
    this.#tiles.clear();
    this.#audio.clear();
    if (this.#settings.element.open) this.#settings.element.close();
  }

  #queueRender(): void {
    if (this.#renderQueued || this.#disposed) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      if (!this.#disposed) this.#render();
    });
  }

  #render(): void {
    const t = this.#t;
    const session = this.#session;
    const roomName = this.#options.roomName() ?? t.t('app.title');
    if (this.#title.textContent !== roomName) this.#title.textContent = roomName;
    const tiles = session.tiles;
    const people = tiles.filter((tile) => tile.kind === 'camera');
    this.#count.textContent = t.plural('call.participants', people.length);
    this.#renderE2ee();
    const state = session.state;
    const path = session.mediaPath;
    this.#status.textContent =
      state === 'reconnecting' ? t.t('status.reconnecting') : state === 'leaving' ? t.t('status.leaving') : path === 'failed' ? t.t('status.mediaBlocked') : path === 'relay' ? t.t('status.relay') : '';
    this.element.dataset['mediaPath'] = path ?? '';
    this.element.dataset['state'] = state;
    this.#renderTiles(tiles);
    this.#renderAudio();
    this.#controls.update(session.local, state === 'leaving' || state === 'left');
  }

  #renderE2ee(): void {
    const enabled = this.#session.e2eeEnabled;
    const text = this.#t.t(enabled ? 'e2ee.present' : 'e2ee.off');
    if (this.#e2ee.dataset['enabled'] === String(enabled)) return;
    this.#e2ee.dataset['enabled'] = String(enabled);
    this.#e2ee.title = this.#t.t(enabled ? 'e2ee.presentHint' : 'e2ee.offHint');
    this.#e2ee.replaceChildren(icon(enabled ? 'lock' : 'lockOpen'), h('span', { text }));
  }

  #renderTiles(tiles: readonly TileModel[]): void {
    const seen = new Set<string>();
    for (const model of tiles) {
      seen.add(model.key);
      const existing = this.#tiles.get(model.key);
      if (existing) existing.update(model);
      else this.#tiles.set(model.key, new TileView(model, this.#t));
    }
    for (const [key, tile] of this.#tiles) {
      if (seen.has(key)) continue;
      tile.dispose();
      this.#tiles.delete(key);
    }
    // Re-append in model order (moves, never re-creates, so videos keep playing).
    const spotlight = tiles.filter((tile) => tile.kind === 'screen');
    const people = tiles.filter((tile) => tile.kind === 'camera');
    this.#place(this.#spotlight, spotlight);
    this.#place(this.#grid, people);
    this.#stage.classList.toggle('presenting', spotlight.length > 0);
    this.#grid.dataset['count'] = String(Math.min(people.length, 9));
    this.#alone.hidden = people.some((tile) => !tile.isSelf) || spotlight.length > 0;
  }

  #place(container: HTMLElement, models: readonly TileModel[]): void {
    models.forEach((model, index) => {
      const element = this.#tiles.get(model.key)?.element;
      if (element && container.children[index] !== element) container.insertBefore(element, container.children[index] ?? null);
    });
  }

  #renderAudio(): void {
    const wanted = new Map(this.#session.audio.map((audio) => [audio.consumerId, audio.track]));
    for (const [consumerId, element] of this.#audio) {
      if (wanted.has(consumerId)) continue;
      element.srcObject = null;
      element.remove();
      this.#audio.delete(consumerId);
    }
    for (const [consumerId, track] of wanted) {
      if (this.#audio.has(consumerId)) continue;
      const element = h('audio', { attrs: { autoplay: true, 'data-consumer': consumerId } });
      element.srcObject = new MediaStream([track]);
      if (this.#speakerId) void setSink(element, this.#speakerId);
      this.#audio.set(consumerId, element);
      this.#audioSink.append(element);
      element.play().catch((error: unknown) => {
        // Autoplay policy: sound needs a click in this page first.
        if (!(error instanceof DOMException && error.name === 'NotAllowedError') || !this.#soundButton.hidden) return;
        this.#soundButton.hidden = false;
        this.#notice('err.autoplay');
      });
    }
  }

  #playAll(): void {
    this.#soundButton.hidden = true;
    for (const element of this.#audio.values()) {
      element.play().catch(() => (this.#soundButton.hidden = false));
    }
  }

  #setSpeaker(deviceId: string): void {
    this.#speakerId = deviceId;
    this.#session.media.choose('audiooutput', deviceId);
    for (const element of this.#audio.values()) void setSink(element, deviceId);
  }
}

async function setSink(element: HTMLAudioElement, deviceId: string): Promise<void> {
  const withSink = element as HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };
  await withSink.setSinkId?.(deviceId).catch(() => undefined);
}
