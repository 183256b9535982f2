// Drives one livekit-client test page (test/e2e/pages/livekit/liveKitPage.ts) from Node:
// typed calls into its `window.lkTest`, the decode check the livekit browser tests share,
// and an abrupt kill of the page's renderer (no unload handlers, no LeaveRequest).

import type { Page } from 'playwright-core';
import type { LiveKitConnectOptions, LiveKitRemoteTrackStat, LiveKitTestApi } from '../e2e/pages/livekit/liveKitApi.ts';
import type { BrowserHandle } from './browser.ts';

/** Bound on loading the page and its script. */
const PAGE_LOAD_TIMEOUT_MS = 90_000;

/** The page's global; page.evaluate() callbacks are serialised, so each names it inline. */
type PageGlobal = { lkTest: LiveKitTestApi };

/** A livekit-client page and typed calls into its `window.lkTest`. */
export interface LiveKitPage {
  readonly name: string;
  readonly page: Page;
  connect(options: LiveKitConnectOptions): Promise<{ identity: string; sid: string; connectMs: number }>;
  tracks(): Promise<LiveKitRemoteTrackStat[]>;
  events(): Promise<string[]>;
  remoteIdentities(): Promise<string[]>;
  fetchJson(url: string, body: unknown): Promise<{ status: number; body: unknown; ms: number }>;
  elementCallPayload(jwt: string): Promise<unknown>;
  permissions(): Promise<{ canPublish: boolean; canSubscribe: boolean } | undefined>;
  tryPublishCamera(): Promise<string>;
  forcePublishCamera(): Promise<string>;
  disconnectedAt(): Promise<number | undefined>;
  /** Leaves the room (client LeaveRequest) and closes the page. */
  disconnect(): Promise<void>;
  /**
   * Crashes the page's renderer through CDP `Page.crash`: no pagehide/beforeunload, no
   * LeaveRequest; the browser drops the page's sockets and PeerConnections.
   */
  crash(): Promise<void>;
}

/** Opens `pageUrl` (the livekit test page) in a new page labelled `name`. */
export async function openLiveKitPage(browser: BrowserHandle, pageUrl: string, name: string): Promise<LiveKitPage> {
  const page = await browser.newPage(name);
  // Generous bounds: on a loaded 2-core machine a page load can take tens of seconds.
  await page.goto(pageUrl, { waitUntil: 'domcontentloaded', timeout: PAGE_LOAD_TIMEOUT_MS });
  await page.waitForFunction(() => 'lkTest' in globalThis, undefined, { timeout: PAGE_LOAD_TIMEOUT_MS });
  const api = <T>(fn: (lk: LiveKitTestApi) => T | Promise<T>): Promise<T> =>
    page.evaluate(`(${fn.toString()})(globalThis.lkTest)`) as Promise<T>;
  return {
    name,
    page,
    connect: (options) => page.evaluate((o) => (globalThis as unknown as PageGlobal).lkTest.connect(o), options),
    tracks: () => api((lk) => lk.remoteTracks()),
    events: () => api((lk) => lk.events()),
    remoteIdentities: () => api((lk) => lk.remoteIdentities()),
    fetchJson: (url, body) => page.evaluate(([u, b]) => (globalThis as unknown as PageGlobal).lkTest.fetchJson(u, b), [url, body] as const),
    elementCallPayload: (jwt) => page.evaluate((j) => (globalThis as unknown as PageGlobal).lkTest.elementCallPayload(j), jwt),
    permissions: () => api((lk) => lk.permissions()),
    tryPublishCamera: () => api((lk) => lk.tryPublishCamera()),
    forcePublishCamera: () => api((lk) => lk.forcePublishCamera()),
    disconnectedAt: () => api((lk) => lk.disconnectedAt()),
    async disconnect() {
      if (page.isClosed()) return;
      await api((lk) => lk.disconnect()).catch((error: unknown) => console.log(`[livekit page ${name}] disconnect failed: ${String(error)}`));
      await page.close();
    },
    async crash() {
      const cdp = await page.context().newCDPSession(page);
      // Page.crash never answers: the renderer is gone before it could.
      void cdp.send('Page.crash').catch((error: unknown) => console.log(`[livekit page ${name}] crashed (${String(error).split('\n')[0]})`));
      await new Promise<void>((resolve) => {
        if (page.isClosed()) resolve();
        page.once('crash', () => resolve());
        page.once('close', () => resolve());
      });
    },
  };
}

/**
 * True once `receiver` decodes video frames from `identity` and receives its audio; otherwise
 * throws with what the receiver has (waitFor() reports the last reason on timeout).
 */
export async function liveKitDecodes(receiver: LiveKitPage, identity: string, kinds: ReadonlyArray<'audio' | 'video'> = ['audio', 'video']): Promise<true> {
  const tracks = (await receiver.tracks()).filter((t) => t.identity === identity);
  if (kinds.every((kind) => tracks.some((t) => t.kind === kind && (kind === 'video' ? t.framesDecoded > 0 : t.bytesReceived > 0)))) return true;
  throw new Error(`${receiver.name} has from ${identity}: ${JSON.stringify(tracks)}`);
}
