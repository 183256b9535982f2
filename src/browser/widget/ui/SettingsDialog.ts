// Device choice: a modal <dialog> with one labelled <select> per device kind (microphone,
// camera, and speaker where the browser can route audio). Native controls keep it keyboard
// operable; the dialog traps focus, closes on Escape and returns focus to its opener.

import type { Translator } from '../i18n/index.ts';
import type { DeviceChoice } from '../call/LocalMedia.ts';
import { h } from './dom.ts';

/** What the dialog needs from the call. */
export interface SettingsActions {
  devices(): Promise<MediaDeviceInfo[]>;
  choice(): DeviceChoice;
  /** The person picked a microphone or camera. */
  switchDevice(kind: 'audio' | 'video', deviceId: string): void;
  /** The person picked a speaker. */
  setSpeaker(deviceId: string): void;
}

type Kind = keyof DeviceChoice;

/** Whether audio output can be routed (HTMLMediaElement.setSinkId). */
export function canChooseSpeaker(): boolean {
  return typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
}

/** The settings dialog. */
export class SettingsDialog {
  readonly element: HTMLDialogElement;
  readonly #t: Translator;
  readonly #actions: SettingsActions;
  readonly #selects: Record<Kind, HTMLSelectElement>;

  constructor(t: Translator, actions: SettingsActions) {
    this.#t = t;
    this.#actions = actions;
    const field = (kind: Kind, label: string, onChange: (value: string) => void): [HTMLElement, HTMLSelectElement] => {
      const id = `device-${kind}`;
      const select = h('select', { attrs: { id }, on: { change: () => onChange(select.value) } });
      return [h('div', { class: 'field' }, h('label', { text: label, attrs: { for: id } }), select), select];
    };
    const [micField, mic] = field('audioinput', t.t('settings.microphone'), (value) => actions.switchDevice('audio', value));
    const [camField, cam] = field('videoinput', t.t('settings.camera'), (value) => actions.switchDevice('video', value));
    const [speakerField, speaker] = field('audiooutput', t.t('settings.speaker'), (value) => actions.setSpeaker(value));
    speakerField.hidden = !canChooseSpeaker();
    this.#selects = { audioinput: mic, videoinput: cam, audiooutput: speaker };
    const heading = h('h2', { text: t.t('settings.heading'), attrs: { id: 'settings-heading' } });
    this.element = h(
      'dialog',
      { class: 'settings', attrs: { 'aria-labelledby': 'settings-heading' } },
      heading,
      micField,
      camField,
      speakerField,
      h('div', { class: 'actions' }, h('button', { class: 'primary', text: t.t('settings.close'), attrs: { type: 'button' }, on: { click: () => this.element.close() } })),
    );
  }

  /** Fills the lists and opens the dialog. */
  async open(): Promise<void> {
    await this.refresh();
    if (!this.element.open) this.element.showModal();
    this.#selects.audioinput.focus();
  }

  /** Re-reads the devices (also on devicechange while open). */
  async refresh(): Promise<void> {
    const devices = await this.#actions.devices();
    const choice = this.#actions.choice();
    for (const kind of ['audioinput', 'videoinput', 'audiooutput'] as const) {
      const select = this.#selects[kind];
      const ofKind = devices.filter((device) => device.kind === kind && device.deviceId !== '');
      const options = ofKind.map((device, index) =>
        h('option', { text: device.label || this.#t.t('settings.unnamedDevice', { n: index + 1 }), attrs: { value: device.deviceId } }),
      );
      if (kind === 'audiooutput' || ofKind.length === 0) {
        const none = kind === 'audioinput' && ofKind.length === 0 ? 'call.noMicrophone' : kind === 'videoinput' && ofKind.length === 0 ? 'call.noCamera' : 'settings.default';
        options.unshift(h('option', { text: this.#t.t(none), attrs: { value: '' } }));
      }
      select.replaceChildren(...options);
      select.value = choice[kind] ?? '';
      if (select.selectedIndex < 0) select.selectedIndex = 0;
      select.disabled = ofKind.length === 0;
    }
  }
}
