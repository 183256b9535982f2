// One participant tile: their video (or an avatar with initials when there is none), their
// Matrix display name, a microphone-off mark, the E2EE badge and the active-speaker ring.
// update() changes only what changed, so a playing <video> is never re-created.

import type { E2eeBadge, TileModel } from '../call/types.ts';
import type { Translator } from '../i18n/index.ts';
import { colourOf, h, icon, initials, setAttr, type IconName } from './dom.ts';

const BADGE_ICONS: Readonly<Record<E2eeBadge, IconName>> = { off: 'lockOpen', waiting: 'clock', present: 'lock', failed: 'warning' };

/** A tile element bound to one TileModel key. */
export class TileView {
  readonly element: HTMLElement;
  readonly #t: Translator;
  readonly #video: HTMLVideoElement;
  readonly #avatar: HTMLElement;
  readonly #name: HTMLElement;
  readonly #muted: HTMLElement;
  readonly #badge: HTMLElement;
  readonly #badgeText: HTMLElement;
  #track: MediaStreamTrack | undefined;
  #badgeState: E2eeBadge | undefined;

  constructor(model: TileModel, t: Translator) {
    this.#t = t;
    this.#video = h('video', { class: 'tile-video', attrs: { autoplay: true, playsinline: true, muted: true } });
    this.#video.muted = true;
    this.#avatar = h('div', { class: `avatar avatar-${colourOf(model.participantId)}`, text: initials(model.name), attrs: { 'aria-hidden': 'true' } });
    this.#name = h('span', { class: 'tile-name-text' });
    this.#muted = h('span', { class: 'tile-muted', attrs: { role: 'img' } }, icon('micOff'));
    this.#badgeText = h('span', { class: 'badge-text' });
    this.#badge = h('span', { class: 'e2ee-badge' });
    this.element = h(
      'article',
      { class: `tile tile-${model.kind}${model.isSelf ? ' tile-self' : ''}`, attrs: { 'data-participant': model.participantId, 'data-kind': model.kind } },
      this.#video,
      this.#avatar,
      h('div', { class: 'tile-top' }, this.#badge),
      h('div', { class: 'tile-label' }, this.#muted, this.#name),
    );
    this.update(model);
  }

  /** Brings the element in line with `model`. */
  update(model: TileModel): void {
    const t = this.#t;
    const name = model.kind === 'screen' ? (model.isSelf ? t.t('call.yourScreen') : t.t('call.screenOf', { name: model.name })) : model.isSelf ? t.t('call.you', { name: model.name }) : model.name;
    if (this.#name.textContent !== name) this.#name.textContent = name;
    this.#avatar.textContent = initials(model.name);
    if (model.video !== this.#track) {
      this.#track = model.video;
      this.#video.srcObject = model.video ? new MediaStream([model.video]) : null;
      if (model.video) this.#video.play().catch(() => undefined);
    }
    this.element.classList.toggle('has-video', model.video !== undefined);
    this.element.classList.toggle('speaking', model.speaking);
    const showMuted = model.kind === 'camera' && model.audioMuted;
    this.#muted.hidden = !showMuted;
    setAttr(this.#muted, 'aria-label', showMuted ? t.t('call.muted') : undefined);
    this.#updateBadge(model);
    const parts = [name, showMuted ? t.t('call.muted') : undefined, model.kind === 'camera' && !model.video ? t.t('call.cameraOff') : undefined, model.speaking ? t.t('call.speaking') : undefined, t.t(`e2ee.${model.e2ee}`)];
    this.element.setAttribute('aria-label', parts.filter(Boolean).join(', '));
    this.element.dataset['muted'] = String(showMuted);
    this.element.dataset['e2ee'] = model.e2ee;
  }

  /** Stops showing the video. */
  dispose(): void {
    this.#video.srcObject = null;
    this.element.remove();
  }

  #updateBadge(model: TileModel): void {
    // The self tile shows no badge: our own media's state is in the header.
    this.#badge.hidden = model.isSelf || model.kind === 'screen';
    if (this.#badgeState === model.e2ee) return;
    this.#badgeState = model.e2ee;
    const t = this.#t;
    this.#badge.className = `e2ee-badge e2ee-${model.e2ee}`;
    this.#badgeText.textContent = t.t(`e2ee.${model.e2ee}`);
    this.#badge.replaceChildren(icon(BADGE_ICONS[model.e2ee]), this.#badgeText);
    this.#badge.title = t.t(`e2ee.${model.e2ee}Hint`);
  }
}
