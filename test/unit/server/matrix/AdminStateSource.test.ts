// The admin API source of room state with a fake fetch and a real MembershipWatcher: reads
// on demand and while sessions live, backs off on failures, forgets rooms nobody needs,
// and ends sessions of a room the homeserver left. roomVisibility() on top of it.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdminStateSource, MAX_BACKOFF_MS, MAX_TRACKED_ROOMS } from '../../../../src/server/matrix/AdminStateSource.ts';
import { roomVisibility } from '../../../../src/server/matrix/RoomVisibility.ts';
import { MembershipWatcher } from '../../../../src/server/matrix/MembershipWatcher.ts';
import { OUR_FOCUS_TYPE } from '../../../../src/server/matrix/callMembership.ts';
import { createLogger, silentLogger } from '../../../../src/common/lib/logger.ts';
import { AdmissionError } from '../../../../src/server/auth/errors.ts';

const ROOM = '!room:example.org';
const ALICE = '@alice:example.org';
const SFU = 'https://sfu.example.org';
const member = { type: 'm.room.member', state_key: ALICE, sender: ALICE, content: { membership: 'join' }, event_id: '$m', origin_server_ts: 1 };
const topic = { type: 'm.room.topic', state_key: '', sender: ALICE, content: { topic: 'x' }, event_id: '$t', origin_server_ts: 1 };
const membership = {
  type: 'org.matrix.msc3401.call.member',
  state_key: `_${ALICE}_DEV_m.call`,
  sender: ALICE,
  event_id: '$c',
  origin_server_ts: Date.now(),
  content: { application: 'm.call', call_id: '', device_id: 'DEV', focus_active: { type: 'livekit', focus_selection: 'multi_sfu' }, foci_preferred: [{ type: OUR_FOCUS_TYPE, sfu_service_url: SFU }] },
};
const left = { ...membership, event_id: '$c2', content: {} };

let watcher: MembershipWatcher;
let source: AdminStateSource | undefined;
/** What the fake admin API answers next: a state list, an HTTP status, or a network error. */
let answer: unknown[] | number | Error;
let requests: Array<{ url: string; authorization: string | null }>;

const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
  requests.push({ url: String(input), authorization: new Headers(init?.headers).get('authorization') });
  if (answer instanceof Error) throw answer;
  if (typeof answer === 'number') return new Response(JSON.stringify({ errcode: 'M_NOT_FOUND' }), { status: answer });
  return new Response(JSON.stringify({ state: answer }), { status: 200 });
}) as typeof fetch;

function start(overrides: { joinedBySfu?: (roomId: string) => boolean; logger?: ReturnType<typeof silentLogger> } = {}): AdminStateSource {
  source = new AdminStateSource({
    homeserverUrl: 'http://synapse.internal:8008/',
    adminToken: 'admin-secret',
    watcher,
    joinedBySfu: overrides.joinedBySfu ?? (() => false),
    pollIntervalMs: 1000,
    holdMs: 5000,
    requestTimeoutMs: 1000,
    logger: overrides.logger ?? silentLogger(),
    fetch: fakeFetch,
  });
  return source;
}

beforeEach(() => {
  watcher = new MembershipWatcher({ focus: { type: OUR_FOCUS_TYPE, serviceUrl: SFU }, logger: silentLogger() });
  answer = [member, topic, membership];
  requests = [];
});
afterEach(() => {
  source?.stop();
  watcher.close();
  vi.useRealTimers();
});

describe('AdminStateSource', () => {
  it('refresh() reads the room through the admin API with the admin token and makes its memberships admissible', async () => {
    start();
    expect(await source!.refresh(ROOM)).toBe('visible');
    expect(requests).toEqual([{ url: `http://synapse.internal:8008/_synapse/admin/v1/rooms/${encodeURIComponent(ROOM)}/state`, authorization: 'Bearer admin-secret' }]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toMatchObject({ ok: true });
  });

  it('re-reads a room with a session every poll interval, so a leave there evicts', async () => {
    vi.useFakeTimers();
    start();
    await source!.refresh(ROOM);
    const ended: string[] = [];
    watcher.watch(ROOM, ALICE, 'DEV', `${ALICE}:DEV`, (reason) => ended.push(reason));
    answer = [member, left];
    await vi.advanceTimersByTimeAsync(1001);
    expect(requests).toHaveLength(2);
    expect(ended).toEqual(['membership-ended']);
  });

  it('backs off a failing room (doubling, at most MAX_BACKOFF_MS) and keeps its last state', async () => {
    vi.useFakeTimers();
    start();
    await source!.refresh(ROOM);
    const ended: string[] = [];
    watcher.watch(ROOM, ALICE, 'DEV', `${ALICE}:DEV`, (reason) => ended.push(reason));
    answer = new Error('ECONNREFUSED');
    await vi.advanceTimersByTimeAsync(1001); // read 2 fails: next in 2 s
    expect(requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1001); // read 3 fails: next in 4 s
    expect(requests).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(60_000);
    const readsIn60s = requests.length - 3;
    expect(readsIn60s).toBeLessThanOrEqual(60_000 / 4000);
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS * 2 + 1000);
    expect(requests.length - 3 - readsIn60s).toBeGreaterThanOrEqual(2);
    expect(ended).toEqual([]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toMatchObject({ ok: true });
  });

  it('forgets a room without sessions once the hold (token lifetime) ran out', async () => {
    vi.useFakeTimers();
    start();
    await source!.refresh(ROOM);
    await vi.advanceTimersByTimeAsync(4000);
    expect(source!.trackedRoomIds()).toEqual([ROOM]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(source!.trackedRoomIds()).toEqual([]);
    expect(watcher.index.roomIds).toEqual([]);
    const reads = requests.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(requests.length).toBe(reads);
  });

  it('a room the homeserver left (404) ends its sessions; a room the account joined meanwhile is left to the sync', async () => {
    vi.useFakeTimers();
    let joined = false;
    start({ joinedBySfu: () => joined });
    await source!.refresh(ROOM);
    await source!.refresh('!other:example.org');
    const ended: string[] = [];
    watcher.watch(ROOM, ALICE, 'DEV', `${ALICE}:DEV`, (reason) => ended.push(reason));
    watcher.watch('!other:example.org', ALICE, 'DEV', `${ALICE}:DEV`, () => ended.push('other'));
    joined = true;
    await vi.advanceTimersByTimeAsync(1001);
    expect(source!.trackedRoomIds()).toEqual([]);
    expect(ended).toEqual([]);
    joined = false;
    await source!.refresh(ROOM);
    answer = 404;
    // Within two poll intervals (the pass timer and the room's due time need not line up).
    await vi.advanceTimersByTimeAsync(2001);
    expect(ended).toEqual(['left-room']);
    expect(source!.trackedRoomIds()).toEqual([]);
  });
});

describe('AdminStateSource bounds', () => {
  it(`tracks at most MAX_TRACKED_ROOMS (${MAX_TRACKED_ROOMS}) rooms: a new one displaces the oldest without sessions, and is refused when all have sessions`, async () => {
    start();
    for (let i = 0; i < MAX_TRACKED_ROOMS; i++) expect(await source!.refresh(`!r${i}:example.org`)).toBe('visible');
    watcher.watch('!r0:example.org', ALICE, 'DEV', `${ALICE}:DEV`, () => undefined);
    expect(await source!.refresh('!new:example.org')).toBe('visible');
    const tracked = source!.trackedRoomIds();
    expect(tracked).toHaveLength(MAX_TRACKED_ROOMS);
    expect(tracked).toContain('!r0:example.org');
    expect(tracked).not.toContain('!r1:example.org');
    expect(watcher.index.roomIds).not.toContain('!r1:example.org');
    for (const roomId of source!.trackedRoomIds()) watcher.watch(roomId, ALICE, 'DEV', `${ALICE}:DEV`, () => undefined);
    expect(await source!.refresh('!one-too-many:example.org')).toBe('unavailable');
  });
});

describe('roomVisibility', () => {
  it('a joined room is visible without a read; an unknown room is not, with one operator hint per room', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', sink: (line) => lines.push(line) });
    answer = 404;
    start();
    const visible = roomVisibility({ joinedBySfu: (roomId) => roomId === ROOM, admin: source, sfuUserId: '@sfu:example.org', logger });
    expect(await visible(ROOM)).toBe(true);
    expect(requests).toEqual([]);
    expect(await visible('!missing:example.org')).toBe(false);
    expect(await visible('!missing:example.org')).toBe(false);
    const hints = lines.map((line) => JSON.parse(line) as { msg: string }).filter((line) => line.msg.startsWith('a call was refused'));
    expect(hints).toHaveLength(1);
  });

  it('without an admin source the hint says how to fix it; an unreadable admin API is not_ready (retry), not "not visible"', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', sink: (line) => lines.push(line) });
    expect(await roomVisibility({ joinedBySfu: () => false, admin: undefined, sfuUserId: '@sfu:example.org', logger })(ROOM)).toBe(false);
    expect(lines.join('\n')).toContain('invite the SFU account');
    expect(lines.join('\n')).toContain('matrix.adminTokenFile');
    answer = 502;
    start();
    const error = await roomVisibility({ joinedBySfu: () => false, admin: source, sfuUserId: '@sfu:example.org', logger })(ROOM).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AdmissionError);
    expect((error as AdmissionError).reason).toBe('not_ready');
  });
});
