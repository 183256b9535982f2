// Host actions arriving before anyone handles them are claimed at once and replayed to the
// handler later (element-call's buffered early actions); the host gets its reply then.

import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { HostActions, type HostActionsApi, type HostRequest } from '../../../../src/browser/widget/matrix/HostActions.ts';

function fakeApi(): HostActionsApi & { emitAction(action: string, data?: unknown): CustomEvent<HostRequest>; reply: ReturnType<typeof vi.fn> } {
  const emitter = new EventEmitter();
  const reply = vi.fn();
  return {
    on: (event, listener) => emitter.on(event, listener),
    off: (event, listener) => emitter.off(event, listener),
    transport: { reply },
    reply,
    emitAction(action, data = {}) {
      const event = new CustomEvent<HostRequest>(`action:${action}`, { detail: { action, data }, cancelable: true });
      emitter.emit(`action:${action}`, event);
      return event;
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('HostActions', () => {
  it('claims a hang-up that arrives before any handler and replays it once one is set', async () => {
    const api = fakeApi();
    const actions = new HostActions(api);
    const event = api.emitAction('im.vector.hangup');
    expect(event.defaultPrevented).toBe(true);
    expect(actions.pending).toEqual(['im.vector.hangup']);
    await tick();
    expect(api.reply).not.toHaveBeenCalled();
    const handler = vi.fn(async () => ({}));
    actions.handle('im.vector.hangup', handler);
    await tick();
    expect(handler).toHaveBeenCalledOnce();
    expect(api.reply).toHaveBeenCalledWith({ action: 'im.vector.hangup', data: {} }, {});
    expect(actions.pending).toEqual([]);
  });

  it('answers with the handler\'s data, or with an error when it throws', async () => {
    const api = fakeApi();
    const actions = new HostActions(api);
    actions.handle('io.element.device_mute', (data) => ({ audio_enabled: (data as { audio_enabled: boolean }).audio_enabled }));
    api.emitAction('io.element.device_mute', { audio_enabled: false });
    await tick();
    expect(api.reply).toHaveBeenLastCalledWith(expect.objectContaining({ action: 'io.element.device_mute' }), { audio_enabled: false });
    actions.handle('io.element.close', () => {
      throw new Error('cannot');
    });
    api.emitAction('io.element.close');
    await tick();
    expect(api.reply).toHaveBeenLastCalledWith(expect.objectContaining({ action: 'io.element.close' }), { error: { message: 'cannot' } });
  });

  it('leaves other actions to matrix-widget-api, and dispose() answers what is still buffered', async () => {
    const api = fakeApi();
    const actions = new HostActions(api);
    expect(api.emitAction('io.element.unknown').defaultPrevented).toBe(false);
    api.emitAction('io.element.close');
    actions.dispose();
    expect(api.reply).toHaveBeenCalledWith(expect.objectContaining({ action: 'io.element.close' }), {});
    expect(api.emitAction('im.vector.hangup').defaultPrevented).toBe(false);
  });
});
