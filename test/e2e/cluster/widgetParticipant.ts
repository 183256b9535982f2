// A participant of the cluster e2e tests: our call widget in standalone mode, opened at the
// cluster's service URL in real Chromium, signed in with a password and joined to a room at
// once (`?roomId=`). Whatever happens to the nodes, the widget itself asks for tokens, follows
// the reply's `url` and reconnects (src/browser/widget/call/SfuConnection.ts).
//
// A probe installed before the widget's own scripts (page.addInitScript, outside the page's
// CSP) records every 250 ms, per remote camera tile, the frames decoded by the RTCRtpReceiver
// whose track the tile shows (inbound-rtp framesDecoded), the frames the <video> presented,
// and when that receiver's RTCPeerConnection was created; plus the call screen's state and
// whether a terminal screen (ended, error) shows. It also notes the URL (without its query,
// which holds the JWT) of every WebSocket the page opens: the node a participant talks to. The tests read those samples afterwards:
// recovery and interruption times come from them, on the machine's one wall clock.

import type { Page } from 'playwright-core';
import type { BrowserHandle } from '../../tools/browser.ts';

/** One remote camera tile in one sample. */
export interface TileSample {
  /** data-participant: `{userId}:{deviceId}`. */
  readonly p: string;
  /** inbound-rtp framesDecoded of the tile's receiver (0 when no receiver matched). */
  readonly decoded: number;
  /** getVideoPlaybackQuality().totalVideoFrames of the tile's <video>. */
  readonly presented: number;
  /** Date.now() when the receiver's RTCPeerConnection was created (0: none matched). */
  readonly pcAt: number;
}

/** One probe sample. */
export interface ProbeSample {
  /** Date.now() in the page. */
  readonly t: number;
  /** The call screen's data-state (connected, reconnecting, …), '' when no call screen shows. */
  readonly state: string;
  /** `ended` or `error` when that screen shows, else ''. */
  readonly terminal: string;
  readonly tiles: readonly TileSample[];
}

/** Runs in the page before its scripts; plain JavaScript, so the Node side needs no DOM types. */
const PROBE = `(() => {
  if (globalThis.__clusterProbe) return;
  const Native = globalThis.RTCPeerConnection;
  const pcs = [];
  class Tracked extends Native {
    constructor(...args) {
      super(...args);
      this.__createdAt = Date.now();
      pcs.push(this);
    }
  }
  globalThis.RTCPeerConnection = Tracked;
  const probe = { samples: [], sockets: [] };
  const NativeSocket = globalThis.WebSocket;
  globalThis.WebSocket = class extends NativeSocket {
    constructor(url, protocols) {
      super(url, protocols);
      probe.sockets.push({ t: Date.now(), url: String(url).replace(/[?#].*$/, '') });
    }
  };
  globalThis.__clusterProbe = probe;
  let busy = false;
  const sample = async () => {
    if (busy || !document.body) return;
    busy = true;
    try {
      for (let i = pcs.length - 1; i >= 0; i--) if (pcs[i].connectionState === 'closed') pcs.splice(i, 1);
      const receivers = pcs.flatMap((pc) => pc.getReceivers().map((receiver) => ({ receiver, pc })));
      const tiles = [];
      for (const tile of document.querySelectorAll('article.tile')) {
        if (tile.dataset.kind !== 'camera') continue;
        const video = tile.querySelector('video');
        const track = video && video.srcObject ? video.srcObject.getVideoTracks()[0] : undefined;
        const hit = track ? receivers.find((candidate) => candidate.receiver.track === track) : undefined;
        let decoded = 0;
        if (hit) (await hit.receiver.getStats()).forEach((stat) => { if (stat.type === 'inbound-rtp') decoded += stat.framesDecoded || 0; });
        const presented = video && video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
        tiles.push({ p: tile.dataset.participant || '', decoded, presented, pcAt: hit ? hit.pc.__createdAt : 0 });
      }
      const call = document.querySelector('.call');
      const terminal = document.querySelector('.screen-ended') ? 'ended' : document.querySelector('.screen-error') ? 'error' : '';
      probe.samples.push({ t: Date.now(), state: call ? call.dataset.state || '' : '', terminal, tiles });
      if (probe.samples.length > 4000) probe.samples.splice(0, 1000);
    } catch (error) {
      console.debug('cluster probe failed', String(error));
    } finally {
      busy = false;
    }
  };
  setInterval(sample, 250);
})();`;

/** What a participant needs to sign in. */
export interface ParticipantAccount {
  readonly userId: string;
  readonly password: string;
}

/** A widget participant and what its probe saw. */
export interface WidgetParticipant {
  readonly label: string;
  readonly userId: string;
  readonly page: Page;
  /** Every sample so far. */
  samples(): Promise<ProbeSample[]>;
  /** The WebSockets the page opened, oldest first (URL without query; the last is the current node's). */
  sockets(): Promise<Array<{ t: number; url: string }>>;
  /**
   * Throws (for waitFor) unless the video of each of `userIds` decodes right now (frames grew
   * over the last second) on a connection created after `sinceMs` (Date.now(); default 0).
   */
  decodes(userIds: readonly string[], sinceMs?: number): Promise<true>;
  /** Hangs up (Leave) and closes the page; never throws. */
  close(): Promise<void>;
}

/** Frames the tile of `userId` decoded in one sample, with its connection's creation time. */
function tileOf(sample: ProbeSample, userId: string): TileSample | undefined {
  return sample.tiles.find((tile) => tile.p.startsWith(`${userId}:`));
}

/**
 * Times (Date.now()) of the samples at which the video of `userId` made progress: its
 * decoded frame count grew since the previous sample on the same connection (a new
 * connection counts from zero).
 */
export function progressTimes(samples: readonly ProbeSample[], userId: string): Array<{ t: number; pcAt: number }> {
  const out: Array<{ t: number; pcAt: number }> = [];
  let previous: TileSample | undefined;
  for (const sample of samples) {
    const tile = tileOf(sample, userId);
    if (tile && tile.decoded > 0 && (previous === undefined || tile.pcAt !== previous.pcAt || tile.decoded > previous.decoded)) out.push({ t: sample.t, pcAt: tile.pcAt });
    previous = tile;
  }
  return out;
}

/** Milliseconds from `fromMs` to the first progress on a connection created after it, or undefined. */
export function recoveryMs(samples: readonly ProbeSample[], userId: string, fromMs: number): number | undefined {
  const first = progressTimes(samples, userId).find((progress) => progress.t > fromMs && progress.pcAt > fromMs);
  return first ? first.t - fromMs : undefined;
}

/** The longest time without progress of `userId`'s video within [fromMs, toMs]. */
export function longestStallMs(samples: readonly ProbeSample[], userId: string, fromMs: number, toMs: number): number {
  const times = progressTimes(samples, userId).map((progress) => progress.t).filter((t) => t >= fromMs && t <= toMs);
  let longest = 0;
  let last = fromMs;
  for (const t of [...times, toMs]) {
    longest = Math.max(longest, t - last);
    last = t;
  }
  return longest;
}

/** Options of openWidgetParticipant(). */
export interface OpenParticipantOptions {
  readonly browser: BrowserHandle;
  /** The cluster's service URL: the widget is served there and asks /sfu/get there. */
  readonly serviceUrl: string;
  readonly homeserverUrl: string;
  readonly account: ParticipantAccount;
  readonly roomId: string;
  readonly label: string;
}

/** Opens the standalone widget, signs in and joins `roomId` (returns once the sign-in is sent). */
export async function openWidgetParticipant(options: OpenParticipantOptions): Promise<WidgetParticipant> {
  const { browser, account, label } = options;
  const page = await browser.newPage(label);
  await page.addInitScript(PROBE);
  const query = new URLSearchParams({ homeserver: options.homeserverUrl, user: account.userId, roomId: options.roomId, lang: 'en' });
  await page.goto(`${options.serviceUrl}/widget/?${query}`);
  await page.waitForSelector('#login-password', { timeout: 30_000 });
  await page.fill('#login-password', account.password);
  await page.click('button[type="submit"]');
  type Probe = { __clusterProbe: { samples: ProbeSample[]; sockets: Array<{ t: number; url: string }> } };
  const samples = (): Promise<ProbeSample[]> => page.evaluate(() => (globalThis as unknown as Probe).__clusterProbe.samples);
  return {
    label,
    userId: account.userId,
    page,
    samples,
    sockets: () => page.evaluate(() => (globalThis as unknown as Probe).__clusterProbe.sockets),
    async decodes(userIds, sinceMs = 0) {
      const recent = (await samples()).filter((sample) => sample.t >= Date.now() - 1500);
      for (const userId of userIds) {
        const first = recent.map((sample) => tileOf(sample, userId)).find((tile) => tile !== undefined);
        const last = recent.map((sample) => tileOf(sample, userId)).findLast((tile) => tile !== undefined);
        if (!first || !last || last.pcAt <= sinceMs || last.pcAt !== first.pcAt || last.decoded <= first.decoded) {
          throw new Error(`${label} does not decode ${userId}${sinceMs ? ` on a connection newer than ${sinceMs}` : ''}: ${JSON.stringify(last ?? recent.at(-1) ?? 'no samples')}`);
        }
      }
      return true;
    },
    async close() {
      try {
        await page.click('button[data-control="leave"]', { timeout: 5000 });
        await page.waitForSelector('.screen-ended', { timeout: 10_000 });
      } catch (error) {
        console.log(`[cluster] ${label}: leave failed: ${String(error)}`);
      }
      await page.close().catch((error: unknown) => console.log(`[cluster] ${label}: close failed: ${String(error)}`));
    },
  };
}
