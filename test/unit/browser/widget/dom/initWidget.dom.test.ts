// @vitest-environment jsdom
// initWidget() in a DOM: importing it starts nothing; a broken widget URL gets the plain
// error screen (in the host's language, every fault listed for the operator); standalone mode
// shows a labelled, pre-filled sign-in form that explains an incomplete submission.

import { beforeEach, describe, expect, it } from 'vitest';
import { initWidget } from '../../../../../src/browser/widget/initWidget.ts';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

beforeEach(() => {
  document.body.replaceChildren();
  document.documentElement.lang = '';
});

describe('initWidget()', () => {
  it('is not started by importing the module', () => {
    expect(document.body.children).toHaveLength(0);
  });

  it('explains a widget URL without its Matrix parameters, in the host language, listing each fault', () => {
    const root = document.createElement('div');
    document.body.append(root);
    const handle = initWidget({ root, search: '?widgetId=w1&parentUrl=https%3A%2F%2Fapp.example&lang=sv', origin: 'https://sfu.example', languages: ['en'], logger: quiet });
    expect(handle.mode).toBe('invalid');
    expect(document.documentElement.lang).toBe('sv');
    expect(root.querySelector('h1')?.textContent).toBe('Det gick inte att delta i samtalet');
    expect(root.querySelector('.error-sentence')?.textContent).toBe('Länken till samtalet är ofullständig eller trasig. Kontakta den som ordnade samtalet.');
    expect([...root.querySelectorAll('.error-details li')].map((item) => item.textContent)).toEqual(['roomId: missing', 'userId: missing', 'deviceId: missing', 'baseUrl: missing']);
    expect(root.querySelector('.support-code')?.textContent).toBe('För support: CONFIGURATION');
    expect(document.activeElement).toBe(root.querySelector('h1'));
  });

  it('shows standalone sign-in with labelled, pre-filled fields and explains a missing password', async () => {
    const root = document.createElement('div');
    document.body.append(root);
    const handle = initWidget({ root, search: '?homeserver=https%3A%2F%2Fmatrix.example.org&user=%40anna%3Aexample.org', origin: 'https://sfu.example', languages: ['en-GB'], logger: quiet });
    expect(handle.mode).toBe('standalone');
    const inputs = [...root.querySelectorAll('input')].filter((input) => !input.closest('[hidden]'));
    for (const input of inputs) expect(root.querySelector(`label[for="${input.id}"]`)?.textContent, input.id).toBeTruthy();
    expect((root.querySelector('#login-homeserver') as HTMLInputElement).value).toBe('https://matrix.example.org');
    expect((root.querySelector('#login-user') as HTMLInputElement).value).toBe('@anna:example.org');
    await Promise.resolve();
    expect(document.activeElement?.id).toBe('login-password');
    root.querySelector('form')?.dispatchEvent(new Event('submit', { cancelable: true }));
    const problem = root.querySelector('[role="alert"]') as HTMLElement;
    expect(problem.hidden).toBe(false);
    expect(problem.textContent).toBe('Fill in every field.');
  });

  it('reads the #? fragment first (Element Call\'s way) and applies the theme', () => {
    const root = document.createElement('div');
    document.body.append(root);
    const handle = initWidget({ root, search: '?user=%40query%3Aexample.org&theme=dark', hash: '#?user=%40frag%3Aexample.org&theme=light&lang=sv', origin: 'https://sfu.example', languages: ['en'], logger: quiet });
    expect(handle.mode).toBe('standalone');
    expect((root.querySelector('#login-user') as HTMLInputElement).value).toBe('@frag:example.org');
    expect(document.documentElement.dataset['theme']).toBe('light');
    expect(document.documentElement.lang).toBe('sv');
  });
});
