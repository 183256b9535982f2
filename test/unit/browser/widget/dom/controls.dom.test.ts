// @vitest-environment jsdom
// The call screen's parts in a DOM: the control bar's order, accessible names that state the
// action and contain the visible label (WCAG 2.5.3) in both languages; a tile's name, muted
// mark, E2EE badge and spoken summary.

import { describe, expect, it, vi } from 'vitest';
import { ControlBar } from '../../../../../src/browser/widget/ui/ControlBar.ts';
import { TileView } from '../../../../../src/browser/widget/ui/TileView.ts';
import { createTranslator } from '../../../../../src/browser/widget/i18n/index.ts';
import type { LocalState, TileModel } from '../../../../../src/browser/widget/call/types.ts';

const local: LocalState = { hasMicrophone: true, hasCamera: true, micOn: true, camOn: false, sharing: false, canShare: true };

function actions() {
  return { toggleMicrophone: vi.fn(), toggleCamera: vi.fn(), toggleScreenShare: vi.fn(), openSettings: vi.fn(), hangUp: vi.fn() };
}

describe('ControlBar', () => {
  it('orders microphone, camera, screen, settings, leave, and each accessible name contains its visible label', () => {
    for (const language of ['en', 'sv'] as const) {
      const bar = new ControlBar(createTranslator(language), actions());
      bar.update(local, false);
      const buttons = [...bar.element.querySelectorAll('button')];
      expect(buttons.map((button) => button.dataset['control'])).toEqual(['microphone', 'camera', 'screen', 'settings', 'leave']);
      for (const button of buttons) {
        const visible = button.querySelector('.control-label')?.textContent?.toLowerCase() ?? '';
        expect(button.getAttribute('aria-label')?.toLowerCase(), `${language} ${visible}`).toContain(visible);
        expect(button.type).toBe('button');
      }
    }
  });

  it('names the action each button does now and calls it on click', () => {
    const callbacks = actions();
    const bar = new ControlBar(createTranslator('en'), callbacks);
    bar.update(local, false);
    const button = (name: string) => bar.element.querySelector(`button[data-control="${name}"]`) as HTMLButtonElement;
    expect(button('microphone').getAttribute('aria-label')).toBe('Turn microphone off');
    expect(button('camera').getAttribute('aria-label')).toBe('Turn camera on');
    expect(button('camera').dataset['state']).toBe('off');
    bar.update({ ...local, micOn: false, sharing: true }, true);
    expect(button('microphone').getAttribute('aria-label')).toBe('Turn microphone on');
    expect(button('screen').getAttribute('aria-label')).toBe('Stop sharing your screen');
    expect(button('leave').disabled).toBe(true);
    button('microphone').click();
    button('settings').click();
    expect(callbacks.toggleMicrophone).toHaveBeenCalledOnce();
    expect(callbacks.openSettings).toHaveBeenCalledOnce();
    bar.update({ ...local, canShare: false }, false);
    expect(button('screen').disabled).toBe(true);
  });
});

describe('TileView', () => {
  const model: TileModel = { key: '@b:hs:D', participantId: '@b:hs:D', name: 'Bertil Berg', isSelf: false, kind: 'camera', video: undefined, audioMuted: true, speaking: false, e2ee: 'waiting' };

  it('shows the name, the muted mark, the E2EE badge and an avatar without video', () => {
    const tile = new TileView(model, createTranslator('sv'));
    expect(tile.element.querySelector('.tile-name-text')?.textContent).toBe('Bertil Berg');
    expect(tile.element.querySelector('.avatar')?.textContent).toBe('BB');
    expect((tile.element.querySelector('.tile-muted') as HTMLElement).hidden).toBe(false);
    expect(tile.element.querySelector('.badge-text')?.textContent).toBe('Väntar på nycklar');
    expect(tile.element.getAttribute('aria-label')).toBe('Bertil Berg, Mikrofonen är av, Kameran är av, Väntar på nycklar');
    tile.update({ ...model, audioMuted: false, speaking: true, e2ee: 'present' });
    expect((tile.element.querySelector('.tile-muted') as HTMLElement).hidden).toBe(true);
    expect(tile.element.classList.contains('speaking')).toBe(true);
    expect(tile.element.dataset['e2ee']).toBe('present');
    expect(tile.element.querySelector('.badge-text')?.textContent).toBe('Krypterat');
  });

  it('labels our own tile and a shared screen', () => {
    const t = createTranslator('en');
    expect(new TileView({ ...model, isSelf: true }, t).element.querySelector('.tile-name-text')?.textContent).toBe('Bertil Berg (you)');
    expect(new TileView({ ...model, kind: 'screen', key: '@b:hs:D#screen' }, t).element.querySelector('.tile-name-text')?.textContent).toBe('Screen shared by Bertil Berg');
  });
});
