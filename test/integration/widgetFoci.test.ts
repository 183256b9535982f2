// The foci our widget advertises, against real SFU nodes on a real Synapse: a node with the
// LiveKit edge (the default) answers the widget's probe (OPTIONS /get_token → 204) and admits a
// native session whose js-sdk membership names it as a `livekit` focus first and our transport
// second (what Element Call needs to see the widget's users); a node without the LiveKit edge
// answers the probe with 404, and would refuse that membership (the focus is not its own), so
// the widget names only our transport there, which it admits.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import './synapse/context.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { TestClient } from '../tools/wsClient.ts';
import { requestSfuToken, type SdkUser, testRoomUsers } from '../tools/matrixCall.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { preferredFoci, servesLiveKitFocus } from '../../src/browser/client/matrix/foci.ts';
import type { RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';

const synapse = inject('synapse');
const OUR_TYPE = 'org.matrix_sfu.mediasoup';

interface Site {
  node: SfuNode;
  roomId: string;
  inviter: MatrixTestClient;
  users: ReturnType<typeof testRoomUsers>;
}

const sites: Site[] = [];

async function site(name: string, liveKit: boolean): Promise<Site> {
  const partial: Partial<Site> = {};
  const users = testRoomUsers({ synapse, room: () => ({ inviter: partial.inviter!, roomId: partial.roomId! }) });
  const bot = await users.user(`sfu${name}`);
  const owner = await users.user(`owner${name}`);
  const inviter = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...owner });
  const roomId = await inviter.createRoom({ invite: [bot.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `${process.env['TMPDIR'] ?? '/tmp'}/sfu-widget-foci-${name}-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      livekit: { enabled: liveKit },
      ...loopbackMatrixOverrides(synapse, bot as RegisteredUser, 5000),
    },
  });
  const node = await SfuNode.start({ config, logger: createLogger({ level: 'warn', sink: () => undefined }) });
  await waitFor(async () => (await inviter.membershipOf(roomId as never, bot.userId)) === 'join', { timeoutMs: 15_000, description: `${name}: SFU account joined` });
  const made: Site = { node, roomId, inviter, users };
  Object.assign(partial, made);
  sites.push(made);
  return made;
}

/** Joins the room's call as the widget does: js-sdk writes `active` first in foci_preferred, then `preferred`. */
function joinAsWidget(sdk: SdkUser, at: Site, liveKit: boolean): void {
  const [active, ...preferred] = preferredFoci({ type: OUR_TYPE, sfu_service_url: at.node.publicUrl }, liveKit);
  const session = sdk.client.matrixRTC.getRoomSession(sdk.client.getRoom(at.roomId)!);
  session.joinRTCSession({ userId: sdk.user.userId, deviceId: sdk.user.deviceId, memberId: `${sdk.user.userId}:${sdk.user.deviceId}` }, preferred.map((focus) => ({ ...focus })), { ...active! }, {
    manageMediaKeys: false,
    delayedLeaveEventDelayMs: 5000,
  });
}

/** /sfu/get's answer once the node's sync saw the membership (a 403 may only mean "not yet"). */
async function tokenOnceSeen(sdk: SdkUser, at: Site, expected: number): Promise<{ status: number; body: Record<string, unknown> }> {
  return waitFor(async () => {
    const token = await requestSfuToken(at.node.publicUrl, sdk, at.roomId);
    return token.status === expected ? token : undefined;
  }, { timeoutMs: 15_000, intervalMs: 500, description: `/sfu/get ${expected}` });
}

beforeAll(async () => {
  await site('lk', true);
  await site('native', false);
}, 120_000);

afterAll(async () => {
  for (const { node, users } of sites) {
    for (const sdk of users.sdkUsers) sdk.client.stopClient();
    await node.stop();
  }
});

describe('the foci the widget advertises', () => {
  it('with the LiveKit edge: the probe says yes, and a membership naming the livekit focus first is admitted on the native edge', async () => {
    const at = sites[0]!;
    expect(await servesLiveKitFocus(at.node.publicUrl)).toBe(true);
    const sdk = await at.users.sdkUserInRoom('wanda');
    joinAsWidget(sdk, at, true);
    const content = await waitFor(() => sdk.client.getRoom(at.roomId)?.currentState.getStateEvents('org.matrix.msc3401.call.member', `_${sdk.user.userId}_${sdk.user.deviceId}_m.call`)?.getContent(), { description: 'membership written' });
    expect(content['foci_preferred']).toEqual([{ type: 'livekit', livekit_service_url: at.node.publicUrl }, { type: OUR_TYPE, sfu_service_url: at.node.publicUrl }]);
    const token = await tokenOnceSeen(sdk, at, 200);
    const client = await TestClient.open(`${String(token.body['url'])}?jwt=${String(token.body['jwt'])}`);
    const joined = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES });
    expect(joined.ok, JSON.stringify(joined)).toBe(true);
    client.close();
  });

  it('without it: the probe says no; that membership would be refused, our transport alone is admitted', async () => {
    const at = sites[1]!;
    expect(await servesLiveKitFocus(at.node.publicUrl)).toBe(false);
    const refused = await at.users.sdkUserInRoom('lars');
    joinAsWidget(refused, at, true);
    await waitFor(() => {
      const check = at.node.matrix!.watcher.check(at.roomId, refused.user.userId, refused.user.deviceId);
      return !check.ok && check.reason === 'membership_other_sfu';
    }, { timeoutMs: 15_000, description: 'the node sees the membership naming a focus that is not its own' });
    expect((await requestSfuToken(at.node.publicUrl, refused, at.roomId)).body['errcode']).toBe('M_FORBIDDEN');
    const admitted = await at.users.sdkUserInRoom('pia');
    joinAsWidget(admitted, at, false);
    expect((await tokenOnceSeen(admitted, at, 200)).body['jwt']).toBeTypeOf('string');
  });
});
