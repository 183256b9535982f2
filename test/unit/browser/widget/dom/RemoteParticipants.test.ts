// RemoteParticipants follows one SfuClient at a time: attaching seeds the peers the join
// returned and the tracks the client already receives (a client that joined earlier, as after
// a make-before-break move off a draining node), then follows its events. The client is a
// narrow fake (on/off, remoteTracks). It lives in dom/ to be typechecked with the DOM lib.

import { describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../../../../../src/common/lib/TypedEmitter.ts';
import { RemoteParticipants } from '../../../../../src/browser/widget/call/RemoteParticipants.ts';

class FakeClient extends TypedEmitter<Record<string, unknown[]>> {
  remoteTracks: unknown[] = [];
}

const camera = { participantId: '@b:x:B', consumerId: 'c1', producerId: 'p1', kind: 'video', source: 'camera', track: { id: 't1' }, producerPaused: false };

describe('RemoteParticipants', () => {
  it('seeds the tracks a client already receives when attached, and follows its events after', () => {
    const onChange = vi.fn();
    const remote = new RemoteParticipants(onChange);
    const client = new FakeClient();
    client.remoteTracks = [camera, { ...camera, consumerId: 'c2', kind: 'audio', source: 'microphone', producerPaused: true }];
    remote.attach(client as never, [{ participantId: '@b:x:B', displayName: '@b:x', publications: [] }]);
    expect(remote.peers.map((peer) => [peer.participantId, peer.sfuName])).toEqual([['@b:x:B', '@b:x']]);
    expect(remote.find('@b:x:B', 'camera')).toMatchObject({ consumerId: 'c1', paused: false, track: { id: 't1' } });
    expect(remote.find('@b:x:B', 'microphone')).toMatchObject({ consumerId: 'c2', paused: true });
    client.safeEmit('trackRemoved', { participantId: '@b:x:B', consumerId: 'c1' });
    expect(remote.find('@b:x:B', 'camera')).toBeUndefined();
    expect(onChange).toHaveBeenCalled();
  });

  it('shows a track of a participant the join did not list under its participant id', () => {
    const remote = new RemoteParticipants(() => undefined);
    const client = new FakeClient();
    client.remoteTracks = [{ ...camera, participantId: '@c:x:C' }];
    remote.attach(client as never, []);
    expect(remote.peers.map((peer) => peer.participantId)).toEqual(['@c:x:C']);
  });
});
