// The data relay between the LiveKit sessions of a conference, with a narrow fake of the
// core's DataLink: copies go to every other endpoint of the same conference or only to
// the addressed ones, a bad message faults only its sender, rates and in-flight copies
// are bounded, reliable sequences stay monotonic per sender across its sessions, and a
// replaced endpoint never unregisters its successor.

import { describe, expect, it } from 'vitest';
import { DataPacket, UserPacket } from '@livekit/protocol';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { PPID, type DataLink } from '../../../../src/server/conference/DataLink.ts';
import { DataEndpoint, DataRelay, MAX_PENDING_DATA_SENDS, type DataMessageOutcome } from '../../../../src/server/livekit/DataRelay.ts';
import type { DataChannelKind, DataRateLimits } from '../../../../src/server/livekit/dataPacket.ts';

interface Sent {
  readonly label: string;
  readonly packet: DataPacket;
}

/** A DataLink that records what would be written to the client; `hold` keeps sends pending. */
function fakeLink(hold = false): { link: DataLink; sent: Sent[]; closed: () => boolean } {
  const sent: Sent[] = [];
  let closed = false;
  const link = {
    get closed() {
      return closed;
    },
    send(label: string, message: Buffer) {
      sent.push({ label, packet: DataPacket.fromBinary(message) });
      return hold ? new Promise<boolean>(() => undefined) : Promise.resolve(true);
    },
    close() {
      closed = true;
    },
  };
  return { link: link as unknown as DataLink, sent, closed: () => closed };
}

function setup(limits?: DataRateLimits) {
  const outcomes: Array<[DataChannelKind, DataMessageOutcome]> = [];
  const deliveries: Array<[DataChannelKind, 'sent' | 'dropped']> = [];
  const relay = new DataRelay({ dataMessage: (channel, outcome) => outcomes.push([channel, outcome]), dataDelivery: (channel, outcome) => deliveries.push([channel, outcome]) });
  const member = (identity: string, options: { conferenceId?: string; canPublish?: boolean; hold?: boolean } = {}) => {
    const faults: string[] = [];
    const endpoint = new DataEndpoint({
      relay,
      conferenceId: options.conferenceId ?? 'conf',
      sender: { identity, sid: `PA_${identity}` },
      canPublish: options.canPublish ?? true,
      ...(limits ? { limits } : {}),
      onFault: (why) => faults.push(why),
      logger: silentLogger(),
    });
    const fake = fakeLink(options.hold);
    endpoint.bind(fake.link);
    return { endpoint, faults, ...fake };
  };
  return { relay, member, outcomes, deliveries };
}

function userPacket(text: string, fields: Partial<UserPacket> = {}, sequence = 0): Buffer {
  return Buffer.from(new DataPacket({ sequence, value: { case: 'user', value: new UserPacket({ payload: new TextEncoder().encode(text), topic: 't', ...fields }) } }).toBinary());
}

const textOf = (sent: Sent) => new TextDecoder().decode((sent.packet.value.value as UserPacket).payload);
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('DataRelay', () => {
  it('copies a packet to every other endpoint of the conference on the same channel, never back to the sender', async () => {
    const { member, outcomes, deliveries } = setup();
    const alice = member('alice');
    const bob = member('bob');
    const carol = member('carol');
    const elsewhere = member('dave', { conferenceId: 'other' });
    alice.endpoint.receive('_lossy', userPacket('hello'), PPID.binary);
    await flush();
    expect(alice.sent).toEqual([]);
    expect(elsewhere.sent).toEqual([]);
    for (const receiver of [bob, carol]) {
      expect(receiver.sent.map((s) => [s.label, textOf(s), s.packet.participantIdentity])).toEqual([['_lossy', 'hello', 'alice']]);
    }
    expect(outcomes).toEqual([['lossy', 'relayed']]);
    expect(deliveries).toEqual([
      ['lossy', 'sent'],
      ['lossy', 'sent'],
    ]);
  });

  it('delivers only to the addressed identities and sids', () => {
    const { member } = setup();
    const alice = member('alice');
    const bob = member('bob');
    const carol = member('carol');
    const dave = member('dave');
    alice.endpoint.receive('_reliable', userPacket('to carol', { destinationIdentities: ['carol'] }), PPID.binary);
    alice.endpoint.receive('_reliable', userPacket('to dave by sid', { destinationSids: ['PA_dave'] }), PPID.binary);
    alice.endpoint.receive('_reliable', userPacket('to nobody here', { destinationIdentities: ['zed'] }), PPID.binary);
    expect(bob.sent).toEqual([]);
    expect(carol.sent.map(textOf)).toEqual(['to carol']);
    expect(dave.sent.map(textOf)).toEqual(['to dave by sid']);
  });

  it('faults the sender of garbage and touches no other endpoint', () => {
    const { member, outcomes } = setup();
    const mallory = member('mallory');
    const bob = member('bob');
    mallory.endpoint.receive('_reliable', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), PPID.binary);
    mallory.endpoint.receive('_reliable', Buffer.alloc(20_000, 0x41), PPID.binary);
    expect(mallory.faults).toHaveLength(2);
    expect(mallory.faults[1]).toContain('over 16384');
    expect(bob.sent).toEqual([]);
    expect(bob.faults).toEqual([]);
    expect(outcomes).toEqual([
      ['reliable', 'refused'],
      ['reliable', 'refused'],
    ]);
  });

  it('faults data from a participant without publish rights', () => {
    const { member } = setup();
    const watcher = member('watcher', { canPublish: false });
    const bob = member('bob');
    watcher.endpoint.receive('_reliable', userPacket('hi'), PPID.binary);
    expect(watcher.faults).toEqual(['data from a participant without publish rights']);
    expect(bob.sent).toEqual([]);
  });

  it('drops messages over the sender rate without faulting it', () => {
    const { member, outcomes } = setup({ messagesPerSecond: 0.001, messageBurst: 2, bytesPerSecond: 1_000_000, byteBurst: 1_000_000 });
    const alice = member('alice');
    const bob = member('bob');
    for (let i = 0; i < 5; i++) alice.endpoint.receive('_reliable', userPacket(`m${i}`), PPID.binary);
    expect(bob.sent.map(textOf)).toEqual(['m0', 'm1']);
    expect(alice.faults).toEqual([]);
    expect(outcomes.filter(([, outcome]) => outcome === 'rate_limited')).toHaveLength(3);
  });

  it('drops copies to a receiver with too many in flight', () => {
    const { member, deliveries } = setup({ messagesPerSecond: 1000, messageBurst: 1000, bytesPerSecond: 1e9, byteBurst: 1e9 });
    const alice = member('alice');
    const slow = member('slow', { hold: true });
    for (let i = 0; i < MAX_PENDING_DATA_SENDS + 5; i++) alice.endpoint.receive('_reliable', userPacket(`m${i}`), PPID.binary);
    expect(slow.sent).toHaveLength(MAX_PENDING_DATA_SENDS);
    expect(deliveries.filter(([, outcome]) => outcome === 'dropped')).toHaveLength(5);
  });

  it('drops copies to an endpoint whose data channels are not bridged yet', () => {
    const { relay, member, deliveries } = setup();
    const alice = member('alice');
    const early = new DataEndpoint({ relay, conferenceId: 'conf', sender: { identity: 'early', sid: 'PA_early' }, canPublish: true, onFault: () => undefined, logger: silentLogger() });
    alice.endpoint.receive('_reliable', userPacket('hi'), PPID.binary);
    expect(deliveries).toEqual([['reliable', 'dropped']]);
    early.close();
  });

  it('renumbers reliable sequences per sender, continuing across a full reconnect; lossy packets keep none', () => {
    const { member } = setup();
    const bob = member('bob');
    const first = member('alice');
    first.endpoint.receive('_reliable', userPacket('one', {}, 1), PPID.binary);
    first.endpoint.receive('_reliable', userPacket('two', {}, 2), PPID.binary);
    first.endpoint.close();
    // The reconnected client starts again at 1; receivers keep dropping sequences they saw for this sid.
    const second = member('alice');
    second.endpoint.receive('_reliable', userPacket('three', {}, 1), PPID.binary);
    second.endpoint.receive('_lossy', userPacket('lossy', {}, 0), PPID.binary);
    expect(bob.sent.map((s) => [textOf(s), s.packet.sequence, s.packet.participantSid])).toEqual([
      ['one', 1, 'PA_alice'],
      ['two', 2, 'PA_alice'],
      ['three', 3, 'PA_alice'],
      ['lossy', 0, 'PA_alice'],
    ]);
  });

  it('keeps a replacing endpoint registered when the replaced one closes, and closes the link on close', () => {
    const { relay, member } = setup();
    const alice = member('alice');
    const old = member('bob');
    const replacement = member('bob');
    old.endpoint.close();
    expect(old.closed()).toBe(true);
    expect(relay.endpointsOf('conf')).toBe(2);
    alice.endpoint.receive('_reliable', userPacket('hi'), PPID.binary);
    expect(replacement.sent.map(textOf)).toEqual(['hi']);
    replacement.endpoint.close();
    alice.endpoint.close();
    expect(relay.endpointsOf('conf')).toBe(0);
  });
});
