// The screens around the call: the app shell that swaps them (moving focus to each new
// screen's heading, so keyboard and screen-reader users land at its start), the waiting
// screen, the error screen (one plain sentence, a support code, recovery buttons) and the
// screen after leaving.

import type { ClientLogger } from '../../client/types.ts';
import type { WidgetError } from '../errors.ts';
import { explain } from '../explain.ts';
import type { MessageKey, Translator } from '../i18n/index.ts';
import { h } from './dom.ts';

/** A button on an error or ended screen. */
export interface ScreenAction {
  readonly label: MessageKey;
  readonly run: () => void;
  readonly primary?: boolean;
}

/** The root that holds one screen at a time. */
export class AppShell {
  readonly root: HTMLElement;
  readonly t: Translator;
  readonly #logger: ClientLogger;
  #dispose: (() => void) | undefined;

  constructor(root: HTMLElement, t: Translator, logger: ClientLogger) {
    this.root = root;
    this.t = t;
    this.#logger = logger;
    root.classList.add('app');
    document.documentElement.lang = t.language;
    document.title = t.t('app.title');
  }

  /** Applies a colour scheme (`data-theme` on the document; styles.css has both). */
  setTheme(theme: 'light' | 'dark'): void {
    document.documentElement.dataset['theme'] = theme;
    document.querySelector('meta[name="color-scheme"]')?.setAttribute('content', theme);
  }

  /** Replaces the current screen; `dispose` runs when it is replaced in turn. */
  show(screen: HTMLElement, dispose?: () => void): void {
    this.#dispose?.();
    this.#dispose = dispose;
    this.root.replaceChildren(screen);
    const heading = screen.querySelector<HTMLElement>('h1, h2');
    if (heading && !screen.classList.contains('call')) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }

  /** A waiting screen with a spinner and what is happening. */
  loading(key: MessageKey): void {
    const existing = this.root.querySelector<HTMLElement>('.screen-loading .loading-text');
    if (existing) {
      existing.textContent = this.t.t(key);
      return;
    }
    this.show(
      h('section', { class: 'screen screen-loading', attrs: { 'aria-busy': 'true' } },
        h('div', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }),
        h('h1', { class: 'loading-text', text: this.t.t(key), attrs: { role: 'status' } }),
      ),
    );
  }

  /** The error screen for a failure. */
  error(error: unknown, actions: readonly ScreenAction[], heading: MessageKey = 'error.heading'): void {
    const explanation = explain(error);
    const details = (error as Partial<WidgetError> | undefined)?.details ?? [];
    this.#logger.warn('failure shown', { supportCode: explanation.supportCode, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    this.show(
      h('section', { class: 'screen screen-error', attrs: { 'data-code': explanation.supportCode } },
        h('h1', { text: this.t.t(heading) }),
        h('p', { class: 'error-sentence', text: this.t.t(explanation.key) }),
        details.length > 0 ? h('ul', { class: 'error-details' }, ...details.map((detail) => h('li', { text: detail }))) : null,
        h('p', { class: 'support-code', text: this.t.t('error.code', { code: explanation.supportCode }) }),
        this.#actions(explanation.retry ? actions : actions.filter((action) => action.label !== 'error.retry' && action.label !== 'ended.rejoin')),
      ),
    );
  }

  /** The screen after a hang-up, or after a call that goes on elsewhere (`note` says why, in place of the hint). */
  ended(actions: readonly ScreenAction[], note?: MessageKey): void {
    this.show(
      h('section', { class: 'screen screen-ended' },
        h('h1', { text: this.t.t(note ? 'error.endedHeading' : 'ended.heading') }),
        h('p', { class: note ? 'ended-note' : 'ended-hint', text: this.t.t(note ?? 'ended.closeHint') }),
        this.#actions(actions),
      ),
    );
  }

  #actions(actions: readonly ScreenAction[]): HTMLElement {
    return h('div', { class: 'actions' }, ...actions.map((action) =>
      h('button', { class: action.primary ? 'primary' : 'secondary', text: this.t.t(action.label), attrs: { type: 'button' }, on: { click: action.run } }),
    ));
  }
}
