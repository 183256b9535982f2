// @vitest-environment jsdom
// The call header's connection status tells how media gets through: nothing on a direct
// path, "connected through a relay server" when a transport is relayed (TURN), and a clear
// sentence when neither direct nor relay works, in English and Swedish.

import { describe, expect, it } from 'vitest';
import { TypedEmitter } from '../../../../../src/common/lib/TypedEmitter.ts';
import { CallView } from '../../../../../src/browser/widget/ui/CallView.ts';
import { createTranslator } from '../../../../../src/browser/widget/i18n/index.ts';
import type { CallSession } from '../../../../../src/browser/widget/call/CallSession.ts';
import type { MediaPath } from '../../../../../src/browser/client/mediaPath.ts';

/** The part of a CallSession the view reads, with a settable media path. */
class FakeSession extends TypedEmitter<{ changed: []; notice: [] }> {
  mediaPath: MediaPath | undefined;
  readonly state = 'connected';
  readonly tiles = [];
  readonly audio = [];
  readonly e2eeEnabled = false;
  readonly local = { hasMicrophone: true, hasCamera: true, micOn: true, camOn: true, sharing: false, canShare: false };
  readonly media = Object.assign(new TypedEmitter<{ devicesChanged: [] }>(), { choice: {}, devices: async () => [] });
}

function statusText(path: MediaPath | undefined, language: 'en' | 'sv'): { text: string; data: string | undefined } {
  const session = new FakeSession();
  session.mediaPath = path;
  const view = new CallView(session as unknown as CallSession, createTranslator(language), { roomName: () => 'Room' });
  const status = view.element.querySelector('.connection-status');
  const result = { text: status?.textContent ?? '', data: view.element.dataset['mediaPath'] };
  view.dispose();
  return result;
}

describe('CallView connection status', () => {
  it('says nothing on a direct path and before the transports connect', () => {
    expect(statusText('direct', 'en')).toEqual({ text: '', data: 'direct' });
    expect(statusText(undefined, 'en')).toEqual({ text: '', data: '' });
  });

  it('says the call goes through a relay server when media is relayed', () => {
    expect(statusText('relay', 'en').text).toBe('Connected through a relay server: your network blocks a direct connection.');
    expect(statusText('relay', 'sv').text).toBe('Ansluten via en reläserver: ditt nätverk blockerar en direkt anslutning.');
  });

  it('says neither a direct path nor the relay gets through when ICE failed', () => {
    expect(statusText('failed', 'en').text).toMatch(/^Audio and video cannot get through, neither directly nor through the relay server\./);
    expect(statusText('failed', 'sv').text).toMatch(/^Ljud och bild kommer inte fram, varken direkt eller via reläservern\./);
  });
});
