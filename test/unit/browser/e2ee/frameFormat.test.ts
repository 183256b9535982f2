// The call's frame-format rule: SFrame among our widgets, LiveKit's format once an Element Call
// member is there, back when the last one leaves.

import { describe, expect, it } from 'vitest';
import { chooseFrameFormat, isLiveKitMember } from '../../../../src/browser/e2ee/frameFormat.ts';

const ours = { transportTypes: ['org.matrix_sfu.mediasoup'] };
const oursAdvertisingLiveKit = { transportTypes: ['livekit', 'org.matrix_sfu.mediasoup'] };
const elementCall = { transportTypes: ['livekit'] };

describe('chooseFrameFormat', () => {
  it('is sframe while every member uses our widget, also when our members advertise a livekit focus', () => {
    expect(chooseFrameFormat([])).toBe('sframe');
    expect(chooseFrameFormat([ours, oursAdvertisingLiveKit])).toBe('sframe');
  });

  it('is livekit as soon as one member lists only a livekit transport, and sframe again once it left', () => {
    expect(chooseFrameFormat([ours, elementCall])).toBe('livekit');
    expect(chooseFrameFormat([ours])).toBe('sframe');
  });

  it('ignores members whose transports are neither ours nor livekit', () => {
    expect(isLiveKitMember({ transportTypes: ['other.sfu'] })).toBe(false);
    expect(isLiveKitMember({})).toBe(false);
    expect(chooseFrameFormat([ours, { transportTypes: ['other.sfu'] }])).toBe('sframe');
  });
});
