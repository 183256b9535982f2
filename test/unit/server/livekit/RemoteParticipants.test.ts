// RemoteParticipants: what a LiveKit client is told about the others. Updates go out at once
// while the socket is attached; while it is away they are kept (latest per participant) and
// replay() sends them in one ParticipantUpdate with the current speaker; a participant who
// left while away reaches the client as DISCONNECTED.

import { describe, expect, it } from 'vitest';
import { ParticipantInfo_State, type SignalResponse } from '@livekit/protocol';
import { RemoteParticipants } from '../../../../src/server/livekit/RemoteParticipants.ts';
import { TrackDirectory } from '../../../../src/server/livekit/TrackDirectory.ts';

function setup() {
  const sent: SignalResponse['message'][] = [];
  let attached = true;
  const others = new RemoteParticipants({
    conferenceId: 'room',
    selfId: 'me',
    selfSid: () => 'PA_me',
    directory: new TrackDirectory(),
    send: (message) => sent.push(message),
    attached: () => attached,
    consumerIdOfTrack: () => undefined,
  });
  return { sent, others, detach: () => (attached = false), attach: () => (attached = true) };
}

const peer = (id: string) => ({ participantId: id, displayName: id, publications: [] });

describe('RemoteParticipants', () => {
  it('sends each change at once and lists everyone for the join response', () => {
    const { sent, others } = setup();
    others.update(others.viewOf(peer('ann')));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.case).toBe('update');
    expect(others.infos().map((i) => i.identity)).toEqual(['ann']);
  });

  it('keeps the changes made while the socket is away and replays them, with a leave as DISCONNECTED and the current speaker', () => {
    const { sent, others, detach, attach } = setup();
    others.viewOf(peer('ann'));
    detach();
    others.update(others.viewOf(peer('bob')));
    others.update(others.viewOf(peer('bob')));
    others.left('ann');
    others.activeSpeaker('bob');
    attach();
    sent.length = 0;
    others.replay();
    const update = sent.find((m) => m.case === 'update');
    expect(update?.case).toBe('update');
    const participants = update!.case === 'update' ? update!.value.participants : [];
    expect(participants.map((p) => [p.identity, p.state])).toEqual([
      ['bob', ParticipantInfo_State.ACTIVE],
      ['ann', ParticipantInfo_State.DISCONNECTED],
    ]);
    const speakers = sent.find((m) => m.case === 'speakersChanged');
    expect(speakers?.case === 'speakersChanged' ? speakers.value.speakers.map((s) => s.active) : []).toEqual([true]);
    sent.length = 0;
    others.replay();
    expect(sent.filter((m) => m.case === 'update')).toEqual([]);
  });
});
