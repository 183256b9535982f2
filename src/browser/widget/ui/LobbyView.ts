// The pre-join screen ("lobby"), shown before joining unless `skipLobby` (or an intent that
// presets it) says to join at once: the room name, a preview of the camera, microphone and
// camera on/off, one labelled <select> per input device, and "Join". Nothing is announced in
// the room before "Join": the membership is written only then. The preview's tracks are this
// screen's own and are stopped when it goes; the choices are remembered (LocalMedia.choose())
// so the call opens the same devices.

import { LocalMedia } from '../call/LocalMedia.ts';
import type { MessageKey, Translator } from '../i18n/index.ts';
import { h, icon, setAttr } from './dom.ts';

/** What the person chose. */
export interface LobbyChoice {
  readonly micOn: boolean;
  readonly camOn: boolean;
}

/** Options of LobbyView. */
export interface LobbyOptions {
  readonly t: Translator;
  /** The room's name now (it may arrive after the lobby is shown). */
  readonly roomName: () => string | undefined;
  /** Calls `listener` when room state changes; returns the unsubscribe. */
  readonly onRoomChanged?: (listener: () => void) => () => void;
  /** Start with the camera off (a voice intent). */
  readonly camOff?: boolean;
  readonly onJoin: (choice: LobbyChoice) => void;
}

/** The lobby; `element` goes on screen, dispose() stops the preview. */
export class LobbyView {
  readonly element: HTMLElement;
  readonly #t: Translator;
  readonly #media = new LocalMedia();
  readonly #video: HTMLVideoElement;
  readonly #mic: HTMLButtonElement;
  readonly #cam: HTMLButtonElement;
  readonly #selects: { readonly audioinput: HTMLSelectElement; readonly videoinput: HTMLSelectElement };
  #micOn = true;
  #camOn: boolean;
  #disposed = false;
  #joined = false;
  readonly #onJoin: (choice: LobbyChoice) => void;
  readonly #heading: HTMLElement;
  readonly #unwatch: (() => void) | undefined;

  constructor(options: LobbyOptions) {
    const { t } = options;
    this.#t = t;
    this.#camOn = !options.camOff;
    this.#onJoin = options.onJoin;
    this.#video = h('video', { class: 'lobby-video', attrs: { autoplay: true, playsinline: true, muted: true, 'aria-hidden': 'true' } });
    this.#video.muted = true;
    this.#mic = h('button', { class: 'control', attrs: { type: 'button', 'data-control': 'lobby-microphone' }, on: { click: () => this.setMuted({ micOn: !this.#micOn }) } });
    this.#cam = h('button', { class: 'control', attrs: { type: 'button', 'data-control': 'lobby-camera' }, on: { click: () => this.setMuted({ camOn: !this.#camOn }) } });
    const field = (kind: 'audioinput' | 'videoinput', label: MessageKey): [HTMLElement, HTMLSelectElement] => {
      const id = `lobby-${kind}`;
      const select = h('select', { attrs: { id }, on: { change: () => void this.#choose(kind, select.value) } });
      return [h('div', { class: 'field' }, h('label', { text: t.t(label), attrs: { for: id } }), select), select];
    };
    const [micField, micSelect] = field('audioinput', 'settings.microphone');
    const [camField, camSelect] = field('videoinput', 'settings.camera');
    this.#selects = { audioinput: micSelect, videoinput: camSelect };
    this.#heading = h('h1', {});
    const showName = (): void => {
      const room = options.roomName();
      this.#heading.textContent = room ? t.t('lobby.headingRoom', { room }) : t.t('lobby.heading');
    };
    showName();
    this.#unwatch = options.onRoomChanged?.(showName);
    const join = h('button', { class: 'primary', text: t.t('lobby.join'), attrs: { type: 'button', 'data-action': 'join' }, on: { click: () => this.join() } });
    this.element = h(
      'section',
      { class: 'screen screen-lobby' },
      this.#heading,
      h('div', { class: 'lobby-preview' }, this.#video, h('p', { class: 'lobby-camera-off', text: t.t('call.cameraOff') })),
      h('div', { class: 'lobby-toggles' }, this.#mic, this.#cam),
      h('div', { class: 'lobby-devices' }, micField, camField),
      h('div', { class: 'actions' }, join),
    );
    this.#render();
    void this.#start();
  }

  /** Microphone and camera as chosen now. */
  get choice(): LobbyChoice {
    return { micOn: this.#micOn, camOn: this.#camOn };
  }

  /** Sets microphone and/or camera on or off (the buttons, or the host's io.element.device_mute). */
  setMuted(change: Partial<LobbyChoice>): LobbyChoice {
    if (change.micOn !== undefined) this.#micOn = change.micOn;
    if (change.camOn !== undefined) this.#camOn = change.camOn;
    const camera = this.#media.camera;
    if (camera) camera.enabled = this.#camOn;
    this.#render();
    return this.choice;
  }

  /** Stops the preview. Idempotent. */
  dispose(): void {
    this.#disposed = true;
    this.#unwatch?.();
    this.#video.srcObject = null;
    this.#media.stopAll();
  }

  async #start(): Promise<void> {
    await this.#media.start();
    if (this.#disposed) {
      this.#media.stopAll();
      return;
    }
    this.#attach();
    await this.#fillDevices();
  }

  #attach(): void {
    const camera = this.#media.camera;
    if (camera) camera.enabled = this.#camOn;
    this.#video.srcObject = camera ? new MediaStream([camera]) : null;
    this.#render();
  }

  async #choose(kind: 'audioinput' | 'videoinput', deviceId: string): Promise<void> {
    try {
      const { previous } = await this.#media.open(kind === 'audioinput' ? 'audio' : 'video', deviceId);
      previous?.stop();
    } catch {
      // The choice is remembered anyway; the call reports a device it cannot open.
      this.#media.choose(kind, deviceId);
    }
    if (this.#disposed) return this.#media.stopAll();
    this.#attach();
  }

  async #fillDevices(): Promise<void> {
    const devices = await this.#media.devices();
    for (const kind of ['audioinput', 'videoinput'] as const) {
      const select = this.#selects[kind];
      const ofKind = devices.filter((device) => device.kind === kind && device.deviceId !== '');
      const options = ofKind.map((device, index) => h('option', { text: device.label || this.#t.t('settings.unnamedDevice', { n: index + 1 }), attrs: { value: device.deviceId } }));
      if (ofKind.length === 0) options.push(h('option', { text: this.#t.t(kind === 'audioinput' ? 'call.noMicrophone' : 'call.noCamera'), attrs: { value: '' } }));
      select.replaceChildren(...options);
      const current = (kind === 'audioinput' ? this.#media.microphone : this.#media.camera)?.getSettings().deviceId;
      select.value = current ?? this.#media.choice[kind] ?? '';
      if (select.selectedIndex < 0) select.selectedIndex = 0;
      select.disabled = ofKind.length === 0;
    }
  }

  /** Joins with the current choice, changed by `change` first (the host's `io.element.join`). Once. */
  join(change: Partial<LobbyChoice> = {}): void {
    if (this.#joined) return;
    this.#joined = true;
    const choice = this.setMuted(change);
    this.dispose();
    this.#onJoin(choice);
  }

  #render(): void {
    const t = this.#t;
    // A toggle: a constant name, its state in aria-pressed (and in the icon, never colour alone).
    const render = (button: HTMLButtonElement, on: boolean, name: MessageKey, icons: ['mic' | 'camera', 'micOff' | 'cameraOff']) => {
      button.replaceChildren(h('span', { class: 'control-icon' }, icon(on ? icons[0] : icons[1])), h('span', { class: 'control-label', text: t.t(name) }));
      button.classList.toggle('off', !on);
      button.dataset['state'] = on ? 'on' : 'off';
      setAttr(button, 'aria-pressed', on ? 'true' : 'false');
    };
    render(this.#mic, this.#micOn, 'control.microphone', ['mic', 'micOff']);
    render(this.#cam, this.#camOn, 'control.camera', ['camera', 'cameraOff']);
    this.element.classList.toggle('lobby-has-video', this.#camOn && this.#media.camera !== undefined);
  }
}
