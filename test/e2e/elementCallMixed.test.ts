// One encrypted call for an Element Call user and a user of our widget: the real Element Call
// (@element-hq/element-call-embedded, pinned) and our widget, each embedded the way Element Web
// embeds Element Call (test/e2e/elementCallHost: a ClientWidgetApi host with matrix-js-sdk and
// Rust crypto on a real Synapse whose transports name this SFU), per-participant E2EE on. Our
// widget advertises this SFU as a `livekit` focus, appears to Element Call under the identity
// js-sdk derives from its membership, announces its tracks as encrypted, and switches to
// LiveKit's frame format because an Element Call member is in the call; the keys travel as
// Olm-encrypted to-device events between the two clients. Each decodes the other's video.
// Join → first remote frame is printed, never asserted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SfuNode } from '../../src/server/SfuNode.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import type { RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { seesVideoOf as elementCallSees, framesKeepComing as elementCallFramesKeepComing } from './elementCallHost/callPage.ts';
import { startCallWorld, type CallWorld } from './elementCallHost/world.ts';
import { seesVideoOf as widgetSees, framesKeepComing as widgetFramesKeepComing } from './widgetHost/widgetPage.ts';
import { LiveKitFrameTap, type LiveKitFrameTapReport } from '../tools/liveKitFrameTap.ts';

const NAMES = { alice: 'Alice Andersson', bob: 'Bertil Berg' } as const;
type Who = keyof typeof NAMES;

const serverLog: string[] = [];
const consoleLines: string[] = [];
let world: CallWorld<Who>;
let node: SfuNode;
let roomId: string;
let users: Record<Who, RegisteredUser>;

beforeAll(async () => {
  world = await startCallWorld({
    names: NAMES,
    transports: (sfuUrl) => [
      { type: 'livekit', livekit_service_url: sfuUrl },
      { type: 'org.matrix_sfu.mediasoup', sfu_service_url: sfuUrl },
    ],
    roomName: 'Element Call and our widget',
    tag: 'elementCallMixed',
    withWidget: true,
    serverLog,
    consoleLines,
  });
  ({ node, roomId, users } = world);
}, 180_000);

afterAll(() => world?.close(), 60_000);

/**
 * Taps `who`'s producers at the SFU (no keys: the tap only parses) until enough frames passed,
 * and returns the video and audio reports.
 */
async function tapPublisher(who: Who): Promise<Record<'audio' | 'video', LiveKitFrameTapReport>> {
  const participantId = `${users[who].userId}:${users[who].deviceId}`;
  const conference = node.registry.get(roomId as ConferenceId)!;
  const producers = await waitFor(() => {
    const found = conference.dump().participants.find((p) => p.id === participantId)?.producers ?? [];
    return found.length >= 2 ? found : undefined;
  }, { timeoutMs: 30_000, description: `${who}'s producers` });
  const taps = await Promise.all(producers.map((producerId) => LiveKitFrameTap.create({ router: conference.router, producerId, keyIndexes: KEY_INDEXES })));
  try {
    await waitFor(async () => {
      const reports = await Promise.all(taps.map((tap) => tap.report()));
      const video = reports.find((r) => r.kind === 'video');
      const audio = reports.find((r) => r.kind === 'audio');
      return video && audio && video.frames >= 20 && audio.frames >= 50 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250, description: `enough tapped frames of ${who}` });
  } finally {
    await Promise.all(taps.map((tap) => tap.close()));
  }
  const reports = await Promise.all(taps.map((tap) => tap.report()));
  return { video: reports.find((r) => r.kind === 'video')!, audio: reports.find((r) => r.kind === 'audio')! };
}

/** Key indexes a trailer may carry here: per-participant keys rotate (our widget is at 1 after its first join). */
const KEY_INDEXES = Array.from({ length: 16 }, (_, i) => i);

describe('an Element Call user and a user of our widget in one encrypted call', () => {
  it('each decodes the other, through LiveKit’s frame format and keys exchanged over Olm', async () => {
    await world.dumpOnFailure(async () => {
      const alice = await world.open('alice', { intent: 'join_existing' });
      const bob = await world.open('bob', { intent: 'join_existing', widget: `${node.publicUrl}/room` });
      await waitFor(() => widgetSees(bob.frame, users.alice.userId), { timeoutMs: 120_000, intervalMs: 250, description: 'our widget decodes the Element Call user' });
      console.log(`[e2e] our widget decodes Element Call after ${Math.round(performance.now() - bob.openedAtMs)} ms`);
      await waitFor(() => elementCallSees(alice.frame, NAMES.bob), { timeoutMs: 120_000, intervalMs: 250, description: 'Element Call decodes our widget’s user' });
      console.log(`[e2e] Element Call decodes our widget after ${Math.round(performance.now() - bob.openedAtMs)} ms`);
      await waitFor(() => widgetFramesKeepComing(bob.frame, users.alice.userId), { timeoutMs: 45_000, intervalMs: 250, description: 'Element Call frames keep coming at our widget' });
      await waitFor(() => elementCallFramesKeepComing(alice.frame, NAMES.bob), { timeoutMs: 45_000, intervalMs: 250, description: 'our frames keep coming at Element Call' });
      // The widget's tile says encrypted, and at the SFU every frame of both publishers is in
      // LiveKit's E2EE format (ends in IV length 12 and a key index): Element Call decodes our
      // widget only because the widget encrypts in that format with keys Element Call received.
      const tile = await widgetSees(bob.frame, users.alice.userId);
      expect(tile.e2ee).not.toBe('off');
      for (const who of ['bob', 'alice'] as const) {
        const { video, audio } = await tapPublisher(who);
        console.log(`[e2e] SFU tap, ${who}: video ${video.withTrailer}/${video.frames} frames in LiveKit's E2EE format, audio ${audio.withTrailer}/${audio.frames}`);
        expect(video.withTrailer).toBe(video.frames);
        expect(audio.withTrailer).toBe(audio.frames);
      }
    });
  }, 300_000);
});
