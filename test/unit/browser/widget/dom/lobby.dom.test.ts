// @vitest-environment jsdom
// The pre-join screen in a DOM: it names the room once its name arrives, its microphone and
// camera toggles say their state in aria-pressed (and the host's device_mute sets them), a
// voice intent starts with the camera off, and "Join" hands over the choice once. Without
// camera access (jsdom has none) it still offers Join.

import { describe, expect, it, vi } from 'vitest';
import { LobbyView } from '../../../../../src/browser/widget/ui/LobbyView.ts';
import { createTranslator } from '../../../../../src/browser/widget/i18n/index.ts';

function lobby(options: { camOff?: boolean; name?: () => string | undefined } = {}) {
  const onJoin = vi.fn();
  let notify: (() => void) | undefined;
  const view = new LobbyView({
    t: createTranslator('en'),
    roomName: options.name ?? (() => undefined),
    onRoomChanged: (listener) => {
      notify = listener;
      return () => (notify = undefined);
    },
    ...(options.camOff !== undefined ? { camOff: options.camOff } : {}),
    onJoin,
  });
  const button = (name: string) => view.element.querySelector(`button[data-control="${name}"], button[data-action="${name}"]`) as HTMLButtonElement;
  return { view, onJoin, button, notify: () => notify?.() };
}

describe('LobbyView', () => {
  it('names the room when its name arrives, toggles microphone and camera with aria-pressed, and joins with the choice once', () => {
    let name: string | undefined;
    const { view, onJoin, button, notify } = lobby({ name: () => name });
    expect(view.element.querySelector('h1')?.textContent).toBe('Ready to join?');
    name = 'Case 2291';
    notify();
    expect(view.element.querySelector('h1')?.textContent).toBe('Join the call in Case 2291');
    expect(button('lobby-microphone').getAttribute('aria-pressed')).toBe('true');
    button('lobby-microphone').click();
    expect(button('lobby-microphone').getAttribute('aria-pressed')).toBe('false');
    expect(button('lobby-microphone').dataset['state']).toBe('off');
    button('join').click();
    expect(onJoin).toHaveBeenCalledExactlyOnceWith({ micOn: false, camOn: true });
  });

  it('starts with the camera off for a voice intent, and takes the host\'s device_mute', () => {
    const { view, button } = lobby({ camOff: true });
    expect(view.choice).toEqual({ micOn: true, camOn: false });
    expect(button('lobby-camera').getAttribute('aria-pressed')).toBe('false');
    expect(view.setMuted({ camOn: true, micOn: false })).toEqual({ micOn: false, camOn: true });
    expect(button('lobby-camera').getAttribute('aria-pressed')).toBe('true');
    view.dispose();
  });

  it('joins when the host says so (io.element.join), with a device the host passed as null turned off, and only once', () => {
    const { view, onJoin, button } = lobby();
    view.join({ camOn: false });
    button('join').click();
    view.join();
    expect(onJoin).toHaveBeenCalledExactlyOnceWith({ micOn: true, camOn: false });
  });
});
