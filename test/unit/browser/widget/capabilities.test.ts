// The capabilities the widget asks its host for: exactly what the call uses.

import { describe, expect, it } from 'vitest';
import { callCapabilities, capabilityStrings, ownMembershipStateKeys } from '../../../../src/browser/widget/matrix/capabilities.ts';

describe('widget capabilities', () => {
  it("ask to write only this device's membership (both state-key forms) and to read the call's state", () => {
    expect(ownMembershipStateKeys('@a:hs', 'DEV')).toEqual(['_@a:hs_DEV_m.call', '@a:hs_DEV_m.call']);
    expect(capabilityStrings('!r:hs', '@a:hs', 'DEV')).toEqual([
      'org.matrix.msc2762.timeline:!r:hs',
      'org.matrix.msc2762.send.state_event:org.matrix.msc3401.call.member#_@a:hs_DEV_m.call',
      'org.matrix.msc2762.send.state_event:org.matrix.msc3401.call.member#@a:hs_DEV_m.call',
      'org.matrix.msc2762.receive.state_event:org.matrix.msc3401.call.member',
      'org.matrix.msc2762.receive.state_event:m.room.member',
      'org.matrix.msc2762.receive.state_event:m.room.create',
      'org.matrix.msc2762.receive.state_event:m.room.name',
      'org.matrix.msc3819.send.to_device:io.element.call.encryption_keys',
      'org.matrix.msc3819.receive.to_device:io.element.call.encryption_keys',
      'org.matrix.msc4157.send.delayed_event',
      'org.matrix.msc4157.update_delayed_event',
    ]);
  });

  it('hand js-sdk no timeline events, messages, TURN or sticky events', () => {
    const capabilities = callCapabilities('@a:hs', 'DEV');
    expect(capabilities.sendEvent).toBeUndefined();
    expect(capabilities.receiveEvent).toBeUndefined();
    expect(capabilities.sendMessage).toBeUndefined();
    expect(capabilities.turnServers).toBeUndefined();
    expect(capabilities.sendSticky).toBeUndefined();
    expect(capabilities.sendDelayedEvents && capabilities.updateDelayedEvents).toBe(true);
  });
});
