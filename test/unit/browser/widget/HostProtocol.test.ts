// What the widget tells its host, in Element Call's words: join then keep-on-screen then the
// mute state; mute changes only when they change; on leave hang-up, release the screen, then
// close (not after an error); one message at a time, in order, even when the host refuses one.

import { describe, expect, it, vi } from 'vitest';
import { HostProtocol } from '../../../../src/browser/widget/matrix/HostProtocol.ts';

const quiet = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };

function fakeHost(refuse: readonly string[] = []) {
  const received: Array<[string, Record<string, unknown>]> = [];
  let inFlight = 0;
  let overlapped = false;
  const api = {
    transport: {
      async send(action: string, data: Record<string, unknown>): Promise<unknown> {
        inFlight++;
        if (inFlight > 1) overlapped = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        received.push([action, data]);
        if (refuse.includes(action)) throw new Error(`host refused ${action}`);
        return {};
      },
    },
  };
  return { api, received, overlapped: () => overlapped };
}

describe('HostProtocol', () => {
  it('after joining sends io.element.join, set_always_on_screen(true) and the mute state, one at a time', async () => {
    const host = fakeHost();
    const protocol = new HostProtocol(host.api, quiet);
    await protocol.joined({ audio_enabled: true, video_enabled: false });
    expect(host.received).toEqual([
      ['io.element.join', {}],
      ['set_always_on_screen', { value: true }],
      ['io.element.device_mute', { audio_enabled: true, video_enabled: false }],
    ]);
    expect(host.overlapped()).toBe(false);
    expect(protocol.inCall).toBe(true);
  });

  it('reports device_mute only when microphone or camera changed', async () => {
    const host = fakeHost();
    const protocol = new HostProtocol(host.api, quiet);
    await protocol.joined({ audio_enabled: true, video_enabled: true });
    await protocol.muteChanged({ audio_enabled: true, video_enabled: true });
    await protocol.muteChanged({ audio_enabled: false, video_enabled: true });
    await protocol.muteChanged({ audio_enabled: false, video_enabled: true });
    expect(host.received.filter(([action]) => action === 'io.element.device_mute').map(([, data]) => data)).toEqual([
      { audio_enabled: true, video_enabled: true },
      { audio_enabled: false, video_enabled: true },
    ]);
  });

  it('on leave sends im.vector.hangup, set_always_on_screen(false), then io.element.close; after an error it stays open', async () => {
    const host = fakeHost();
    const protocol = new HostProtocol(host.api, quiet);
    await protocol.joined({ audio_enabled: true, video_enabled: true });
    await protocol.left({ close: true });
    expect(host.received.slice(3).map(([action, data]) => [action, data])).toEqual([
      ['im.vector.hangup', {}],
      ['set_always_on_screen', { value: false }],
      ['io.element.close', {}],
    ]);
    expect(protocol.inCall).toBe(false);
    await protocol.joined({ audio_enabled: true, video_enabled: true });
    await protocol.left({ close: false });
    expect(protocol.sent.slice(-2)).toEqual(['im.vector.hangup', 'set_always_on_screen:false']);
  });

  it('keeps going when the host refuses an action (no m.always_on_screen capability), logging it at debug', async () => {
    const host = fakeHost(['set_always_on_screen']);
    const logger = { ...quiet, debug: vi.fn() };
    const protocol = new HostProtocol(host.api, logger);
    await protocol.joined({ audio_enabled: true, video_enabled: true });
    await protocol.left({ close: true });
    expect(host.received.map(([action]) => action)).toEqual([
      'io.element.join',
      'set_always_on_screen',
      'io.element.device_mute',
      'im.vector.hangup',
      'set_always_on_screen',
      'io.element.close',
    ]);
    expect(logger.debug).toHaveBeenCalledWith('host refused a widget action', expect.objectContaining({ action: 'set_always_on_screen' }));
  });
});
