// @vitest-environment jsdom
// The call header's encryption badge explains itself: a call without end-to-end encryption
// (the standalone page, the demo) says "Not encrypted" and, on the badge, how to get an
// encrypted call; an encrypted call says so. English and Swedish.

import { describe, expect, it } from 'vitest';
import { TypedEmitter } from '../../../../../src/common/lib/TypedEmitter.ts';
import { CallView } from '../../../../../src/browser/widget/ui/CallView.ts';
import { createTranslator } from '../../../../../src/browser/widget/i18n/index.ts';
import type { CallSession } from '../../../../../src/browser/widget/call/CallSession.ts';

/** The part of a CallSession the view reads. */
class FakeSession extends TypedEmitter<{ changed: []; notice: [] }> {
  mediaPath = undefined;
  readonly state = 'connected';
  readonly tiles = [];
  readonly audio = [];
  readonly local = { hasMicrophone: true, hasCamera: true, micOn: true, camOn: true, sharing: false, canShare: false };
  readonly media = Object.assign(new TypedEmitter<{ devicesChanged: [] }>(), { choice: {}, devices: async () => [] });
  readonly e2eeEnabled: boolean;
  constructor(e2eeEnabled: boolean) {
    super();
    this.e2eeEnabled = e2eeEnabled;
  }
}

function badge(enabled: boolean, language: 'en' | 'sv'): { text: string; hint: string } {
  const view = new CallView(new FakeSession(enabled) as unknown as CallSession, createTranslator(language), { roomName: () => 'Room' });
  const element = view.element.querySelector<HTMLElement>('.call-e2ee');
  const result = { text: element?.textContent ?? '', hint: element?.title ?? '' };
  view.dispose();
  return result;
}

describe('CallView encryption badge', () => {
  it('says a call is not encrypted and how to get an encrypted one', () => {
    expect(badge(false, 'en').text).toBe('Not encrypted');
    expect(badge(false, 'en').hint).toMatch(/For an encrypted call, open it from Element as a room widget with end-to-end encryption/);
    expect(badge(false, 'sv').hint).toMatch(/Öppna samtalet från Element som rumswidget med totalsträckskryptering/);
  });

  it('says an encrypted call is encrypted', () => {
    const { text, hint } = badge(true, 'en');
    expect(text).not.toBe('Not encrypted');
    expect(hint).not.toBe('');
  });
});
