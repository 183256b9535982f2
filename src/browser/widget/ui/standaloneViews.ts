// Standalone mode's screens: sign in (server address and user with a password, or an access
// token) and the room picker (joined rooms, those with a call first). Plain labelled form
// controls; a failure is shown as one sentence above the form, which keeps what was typed.

import { explain } from '../explain.ts';
import type { Translator } from '../i18n/index.ts';
import type { RoomSummary } from '../matrix/homeserver.ts';
import { h } from './dom.ts';
import { isFullUserId } from '../matrix/discovery.ts';

/** What the login form submits. */
export type LoginRequest =
  | { readonly kind: 'password'; readonly homeserverUrl: string; readonly user: string; readonly password: string }
  | { readonly kind: 'token'; readonly homeserverUrl: string; readonly accessToken: string };

/** Pre-filled values. */
export interface LoginDefaults {
  readonly homeserverUrl?: string | undefined;
  readonly user?: string | undefined;
}

function field(id: string, label: string, input: HTMLInputElement, hint?: string): HTMLElement {
  input.id = id;
  const hintElement = hint ? h('span', { class: 'hint', text: hint, attrs: { id: `${id}-hint` } }) : null;
  if (hintElement) input.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { text: label, attrs: { for: id } }), input, hintElement);
}

/** The sign-in screen; `submit` rejects with the failure to show. */
export function loginView(t: Translator, defaults: LoginDefaults, submit: (request: LoginRequest) => Promise<void>): HTMLElement {
  const homeserver = h('input', { attrs: { type: 'url', name: 'homeserver', autocomplete: 'url', required: true, spellcheck: 'false' } });
  homeserver.value = defaults.homeserverUrl ?? '';
  const user = h('input', { attrs: { type: 'text', name: 'user', autocomplete: 'username', required: true, spellcheck: 'false', autocapitalize: 'none' } });
  user.value = defaults.user ?? '';
  const password = h('input', { attrs: { type: 'password', name: 'password', autocomplete: 'current-password', required: true } });
  const token = h('input', { attrs: { type: 'password', name: 'token', autocomplete: 'off', required: true } });
  const passwordFields = h('div', { class: 'field-group' }, field('login-user', t.t('login.user'), user, t.t('login.userHint')), field('login-password', t.t('login.password'), password));
  const tokenFields = h('div', { class: 'field-group', attrs: { hidden: true } }, field('login-token', t.t('login.token'), token));
  const problem = h('p', { class: 'form-error', attrs: { role: 'alert', hidden: true } });
  const submitButton = h('button', { class: 'primary', text: t.t('login.submit'), attrs: { type: 'submit' } });
  let useToken = false;
  const switchButton = h('button', { class: 'link', text: t.t('login.useToken'), attrs: { type: 'button' } });
  switchButton.addEventListener('click', () => {
    useToken = !useToken;
    passwordFields.hidden = useToken;
    tokenFields.hidden = !useToken;
    switchButton.textContent = t.t(useToken ? 'login.usePassword' : 'login.useToken');
    (useToken ? token : user).focus();
  });
  const form = h('form', { class: 'card', attrs: { novalidate: true, 'aria-labelledby': 'login-heading' } },
    h('h1', { text: t.t('login.heading'), attrs: { id: 'login-heading' } }),
    h('p', { class: 'intro', text: t.t('login.intro') }),
    problem,
    field('login-homeserver', t.t('login.homeserver'), homeserver, t.t('login.homeserverHint')),
    passwordFields,
    tokenFields,
    h('div', { class: 'actions' }, submitButton, switchButton),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const request: LoginRequest = useToken
      ? { kind: 'token', homeserverUrl: homeserver.value.trim(), accessToken: token.value.trim() }
      : { kind: 'password', homeserverUrl: homeserver.value.trim(), user: user.value.trim(), password: password.value };
    // The server may stay empty when the user name is a full @name:server (it is looked up).
    const empty = request.kind === 'token' ? !request.homeserverUrl || !request.accessToken : (!request.homeserverUrl && !isFullUserId(request.user)) || !request.user || !request.password;
    if (empty) {
      problem.textContent = t.t('login.missing');
      problem.hidden = false;
      return;
    }
    problem.hidden = true;
    submitButton.disabled = true;
    submitButton.textContent = t.t('login.busy');
    submit(request).catch((error: unknown) => {
      problem.textContent = t.t(explain(error).key);
      problem.hidden = false;
      submitButton.disabled = false;
      submitButton.textContent = t.t('login.submit');
    });
  });
  // First empty field gets focus once the screen is shown.
  queueMicrotask(() => [homeserver, user, password].find((input) => !input.value)?.focus());
  return h('section', { class: 'screen screen-login' }, form);
}

/** The room picker; rooms with a call first. */
export function roomPickerView(t: Translator, userId: string, rooms: readonly RoomSummary[], actions: { join(room: RoomSummary): void; signOut(): void }): HTMLElement {
  const list = rooms.length === 0
    ? h('p', { class: 'empty', text: t.t('rooms.empty') })
    : h('ul', { class: 'room-list' }, ...rooms.map((room) =>
        h('li', {},
          h('button', { class: 'room', attrs: { type: 'button', 'aria-label': t.t('rooms.join', { room: room.name }), 'data-room-id': room.roomId }, on: { click: () => actions.join(room) } },
            h('span', { class: 'room-name', text: room.name }),
            h('span', { class: `room-call${room.callMembers > 0 ? ' active' : ''}`, text: room.callMembers > 0 ? t.plural('rooms.inCall', room.callMembers) : t.t('rooms.noCall') }),
          ),
        ),
      ));
  return h('section', { class: 'screen screen-rooms' },
    h('div', { class: 'card' },
      h('h1', { text: t.t('rooms.heading') }),
      h('p', { class: 'intro', text: t.t('rooms.intro', { user: userId }) }),
      list,
      h('div', { class: 'actions' }, h('button', { class: 'secondary', text: t.t('rooms.signOut'), attrs: { type: 'button' }, on: { click: actions.signOut } })),
    ),
  );
}
