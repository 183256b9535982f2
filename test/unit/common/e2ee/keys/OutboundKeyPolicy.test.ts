// planRollout() case by case, and OutboundKeyPolicy's timers, retries and ratchet limit with
// an injected send and fake timers.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mock } from 'vitest';
import { OutboundKeyPolicy, planRollout } from '../../../../../src/common/e2ee/keys/OutboundKeyPolicy.ts';
import { memberKey } from '../../../../../src/common/e2ee/keys/types.ts';
import type { RecipientRecord, RolloutInput } from '../../../../../src/common/e2ee/keys/OutboundKeyPolicy.ts';
import { KeyDistributionError } from '../../../../../src/common/e2ee/keys/errors.ts';
import type { KeyMember } from '../../../../../src/common/e2ee/keys/types.ts';
import { ratchetKey } from '../../../../../src/common/e2ee/ratchet.ts';
import { keyBytes, member, settle, until, useFakeClock } from './mocks.ts';

const bob = member('bob');
const carol = member('carol');

function input(overrides: Partial<RolloutInput> & { holders?: KeyMember[]; owed?: KeyMember[] }): RolloutInput {
  const recipients = new Map<string, RecipientRecord>();
  for (const m of overrides.holders ?? []) recipients.set(memberKey(m), { createdTs: m.createdTs, delivered: true });
  for (const m of overrides.owed ?? []) recipients.set(memberKey(m), { createdTs: m.createdTs, delivered: false });
  return {
    current: { createdAtMs: 0, ratchetSteps: 0 },
    recipients,
    members: [],
    nowMs: 1_000,
    rotationIntervalMs: 900_000,
    maxRatchetSteps: 8,
    ...overrides,
  };
}

describe('planRollout()', () => {
  it('makes the first key for everyone', () => {
    expect(planRollout(input({ current: undefined, members: [bob] }))).toEqual({ kind: 'fresh', cause: 'first', recipients: [bob] });
  });

  it('ratchets for joiners and sends only to them', () => {
    expect(planRollout(input({ holders: [bob], members: [bob, carol] }))).toEqual({ kind: 'ratchet', recipients: [carol] });
  });

  it('makes a fresh key for the remaining members when someone left', () => {
    expect(planRollout(input({ holders: [bob, carol], members: [carol] }))).toEqual({ kind: 'fresh', cause: 'leave', recipients: [carol] });
  });

  it('treats a changed createdTs as leave plus join: fresh key for everyone', () => {
    const rejoined = member('bob', 2_000);
    expect(planRollout(input({ holders: [bob, carol], members: [rejoined, carol] }))).toEqual({ kind: 'fresh', cause: 'rejoin', recipients: [rejoined, carol] });
  });

  it('rotates once the key is rotationIntervalMs old, but not while alone', () => {
    expect(planRollout(input({ holders: [bob], members: [bob], nowMs: 900_000 }))).toEqual({ kind: 'fresh', cause: 'rotation', recipients: [bob] });
    expect(planRollout(input({ holders: [bob], members: [bob], nowMs: 899_999 }))).toEqual({ kind: 'none' });
    expect(planRollout(input({ members: [], nowMs: 900_000 }))).toEqual({ kind: 'none' });
  });

  it('makes a fresh key instead of a ratchet once maxRatchetSteps ratchets were made', () => {
    const plan = planRollout(input({ current: { createdAtMs: 0, ratchetSteps: 8 }, holders: [bob], members: [bob, carol] }));
    expect(plan).toEqual({ kind: 'fresh', cause: 'ratchet-limit', recipients: [bob, carol] });
  });

  it('shares the current key again with devices whose send failed, and adds them to a ratchet', () => {
    expect(planRollout(input({ owed: [bob], members: [bob] }))).toEqual({ kind: 'share', recipients: [bob] });
    expect(planRollout(input({ owed: [bob], members: [bob, carol] }))).toEqual({ kind: 'ratchet', recipients: [carol, bob] });
  });

  it('does nothing when nothing changed', () => {
    expect(planRollout(input({ holders: [bob], members: [bob] }))).toEqual({ kind: 'none' });
  });
});

describe('OutboundKeyPolicy', () => {
  let sent: Array<{ index: number; key: Uint8Array; recipients: readonly KeyMember[] }>;
  let used: Array<{ index: number; key: Uint8Array }>;
  let errors: KeyDistributionError[];
  let send: Mock<(index: number, key: Uint8Array, recipients: readonly KeyMember[]) => Promise<void>>;
  let policy: OutboundKeyPolicy;
  let fill: number;

  beforeEach(() => {
    useFakeClock();
    sent = [];
    used = [];
    errors = [];
    fill = 1;
    send = vi.fn(async (index: number, key: Uint8Array, recipients: readonly KeyMember[]) => {
      sent.push({ index, key, recipients });
    });
    policy = new OutboundKeyPolicy({
      send: (index, key, recipients) => send(index, key, recipients),
      useOwnKey: (index, key) => used.push({ index, key }),
      onError: (error) => errors.push(error),
      randomKey: () => keyBytes(fill++),
    });
  });

  afterEach(() => {
    policy.stop();
    vi.useRealTimers();
  });

  it('uses the first key at once, at index 0', () => {
    policy.start();
    expect(used).toEqual([{ index: 0, key: keyBytes(1) }]);
  });

  it('after 8 ratchets of one key, the 9th join gets a fresh key sent to everyone', async () => {
    policy.start();
    const members: KeyMember[] = [];
    let expected = keyBytes(1);
    for (let i = 0; i < 8; i++) {
      members.push(member(`m${i}`));
      policy.setMembers(members);
      await until(() => sent.length === i + 1, `ratchet ${i + 1} sent`);
      expected = await ratchetKey(expected);
      expect(sent[i]).toEqual({ index: 0, key: expected, recipients: [members[i]] });
      await vi.advanceTimersByTimeAsync(1_000);
    }
    members.push(member('ninth'));
    policy.setMembers(members);
    await until(() => sent.length === 9, 'fresh key sent');
    expect(sent[8]).toEqual({ index: 1, key: keyBytes(2), recipients: members });
  });

  it('with setRatchetOnJoin(false) (LiveKit frame format) a join brings a fresh key to everyone instead of a ratchet', async () => {
    policy.start();
    policy.setMembers([bob]);
    await until(() => sent.length === 1, 'first key sent to bob');
    await vi.advanceTimersByTimeAsync(1_000);
    policy.setRatchetOnJoin(false);
    policy.setMembers([bob, carol]);
    await until(() => sent.length === 2, 'fresh key sent');
    expect(sent[1]).toEqual({ index: 1, key: keyBytes(2), recipients: [bob, carol] });
  });

  it('emits send-failed and retries with back-off (3 s, then 6 s) until the send succeeds', async () => {
    policy.start();
    send.mockRejectedValueOnce(new Error('network down')).mockRejectedValueOnce(new Error('still down'));
    policy.setMembers([bob]);
    await until(() => errors.length === 1, 'first failure');
    expect(errors[0]).toBeInstanceOf(KeyDistributionError);
    expect(errors[0]?.reason).toBe('send-failed');
    await vi.advanceTimersByTimeAsync(2_999);
    expect(send).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => errors.length === 2, 'second failure');
    await vi.advanceTimersByTimeAsync(5_999);
    expect(send).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => sent.length === 1, 'third attempt succeeds');
    // bob joined after our first key: he is owed the ratcheted key, not the first one.
    expect(sent[0]).toEqual({ index: 0, key: await ratchetKey(keyBytes(1)), recipients: [bob] });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(send).toHaveBeenCalledTimes(3);
  });

  it('does not retry when the widget driver cannot send to-device (not-supported)', async () => {
    policy.start();
    send.mockRejectedValueOnce(new KeyDistributionError('not-supported', 'no to-device'));
    policy.setMembers([bob]);
    await until(() => errors.length === 1, 'failure');
    expect(errors[0]?.reason).toBe('not-supported');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('switches to a new key even when its send failed, so a leaver cannot read on', async () => {
    policy.start();
    policy.setMembers([bob, carol]);
    await until(() => sent.length === 1, 'first key sent');
    await vi.advanceTimersByTimeAsync(1_000);
    send.mockRejectedValueOnce(new Error('down'));
    policy.setMembers([carol]);
    await until(() => errors.length === 1, 'failure');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(used.at(-1)).toEqual({ index: 1, key: keyBytes(2) });
  });

  it('stop() during a send leaves no timer behind once the send settles', async () => {
    policy.start();
    const pending = Promise.withResolvers<void>();
    send.mockImplementationOnce(() => pending.promise);
    policy.setMembers([bob]);
    await until(() => send.mock.calls.length === 1, 'send started');
    policy.stop();
    pending.resolve();
    await settle();
    expect(vi.getTimerCount()).toBe(0);
    expect(used).toHaveLength(1);
    expect(policy.busy).toBe(false);
  });

  it('stop() clears every timer, including a pending switch, and never switches afterwards', async () => {
    policy.start();
    policy.setMembers([bob]);
    await until(() => sent.length === 1, 'first key sent');
    await vi.advanceTimersByTimeAsync(1_000);
    policy.setMembers([bob, carol]);
    await until(() => sent.length === 2, 'ratchet sent');
    expect(vi.getTimerCount()).toBe(2); // rotation + use delay
    const switches = used.length;
    policy.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000_000);
    expect(used).toHaveLength(switches);
  });
});
