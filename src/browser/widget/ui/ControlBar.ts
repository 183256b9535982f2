// The call's control bar: microphone, camera, screen sharing, device settings and leave, in
// that tab order. Each button has a short visible label and an accessible name that states
// what pressing it does (and contains the visible label, WCAG 2.5.3); off states are shown
// by icon and colour, never by colour alone.

import type { LocalState } from '../call/types.ts';
import type { MessageKey, Translator } from '../i18n/index.ts';
import { h, icon, setAttr, type IconName } from './dom.ts';

/** What the buttons do. */
export interface ControlActions {
  toggleMicrophone(): void;
  toggleCamera(): void;
  toggleScreenShare(): void;
  openSettings(): void;
  hangUp(): void;
}

interface ToggleButton {
  readonly button: HTMLButtonElement;
  readonly iconSlot: HTMLElement;
  current: IconName | undefined;
}

function toggleButton(label: MessageKey, t: Translator, onClick: () => void, name: string): ToggleButton {
  const iconSlot = h('span', { class: 'control-icon' });
  const button = h('button', { class: 'control', attrs: { type: 'button', 'data-control': name }, on: { click: onClick } }, iconSlot, h('span', { class: 'control-label', text: t.t(label) }));
  return { button, iconSlot, current: undefined };
}

function setIcon(toggle: ToggleButton, name: IconName): void {
  if (toggle.current === name) return;
  toggle.current = name;
  toggle.iconSlot.replaceChildren(icon(name));
}

/** The bar element and its update(). */
export class ControlBar {
  readonly element: HTMLElement;
  readonly settingsButton: HTMLButtonElement;
  readonly #t: Translator;
  readonly #mic: ToggleButton;
  readonly #camera: ToggleButton;
  readonly #screen: ToggleButton;
  readonly #leave: HTMLButtonElement;

  constructor(t: Translator, actions: ControlActions) {
    this.#t = t;
    this.#mic = toggleButton('control.microphone', t, () => actions.toggleMicrophone(), 'microphone');
    this.#camera = toggleButton('control.camera', t, () => actions.toggleCamera(), 'camera');
    this.#screen = toggleButton('control.screen', t, () => actions.toggleScreenShare(), 'screen');
    const settings = toggleButton('control.settings', t, () => actions.openSettings(), 'settings');
    setIcon(settings, 'settings');
    settings.button.setAttribute('aria-label', t.t('call.settings'));
    settings.button.setAttribute('aria-haspopup', 'dialog');
    this.settingsButton = settings.button;
    this.#leave = h(
      'button',
      { class: 'control control-leave', attrs: { type: 'button', 'data-control': 'leave', 'aria-label': t.t('call.hangup') }, on: { click: () => actions.hangUp() } },
      h('span', { class: 'control-icon' }, icon('hangup')),
      h('span', { class: 'control-label', text: t.t('control.leave') }),
    );
    this.element = h(
      'nav',
      { class: 'controls', attrs: { 'aria-label': t.t('call.controls') } },
      this.#mic.button,
      this.#camera.button,
      this.#screen.button,
      settings.button,
      this.#leave,
    );
  }

  /** Reflects the local state. */
  update(local: LocalState, busy: boolean): void {
    const t = this.#t;
    setIcon(this.#mic, local.micOn ? 'mic' : 'micOff');
    // Without a device, pressing asks for one again: still "turn on".
    this.#mic.button.setAttribute('aria-label', t.t(local.micOn ? 'call.micOff' : 'call.micOn'));
    this.#mic.button.classList.toggle('off', !local.micOn);
    this.#mic.button.dataset['state'] = local.micOn ? 'on' : 'off';

    setIcon(this.#camera, local.camOn ? 'camera' : 'cameraOff');
    this.#camera.button.setAttribute('aria-label', t.t(local.camOn ? 'call.camOff' : 'call.camOn'));
    this.#camera.button.classList.toggle('off', !local.camOn);
    this.#camera.button.dataset['state'] = local.camOn ? 'on' : 'off';

    setIcon(this.#screen, local.sharing ? 'screenStop' : 'screen');
    this.#screen.button.setAttribute('aria-label', local.canShare ? t.t(local.sharing ? 'call.shareStop' : 'call.shareStart') : t.t('call.shareUnsupported'));
    this.#screen.button.classList.toggle('active', local.sharing);
    this.#screen.button.dataset['state'] = local.sharing ? 'on' : 'off';
    setAttr(this.#screen.button, 'disabled', !local.canShare);
    setAttr(this.#leave, 'disabled', busy);
  }
}
