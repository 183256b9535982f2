// Reads Element Call's page from Node the way a person perceives it: which remote videos
// present decoded frames, and whose name is on their tile. The page.evaluate() callbacks run in
// the Element Call iframe; they name the few DOM members they use through the structural
// `Page*` types below, so this Node-side file typechecks without the DOM library.

import type { Frame, Page } from 'playwright-core';
import type { ElementCallHostApi, ElementCallHostGlobal } from './hostApi.ts';
import { ELEMENT_CALL_PREFIX } from './hostServer.ts';

interface PageElement {
  readonly textContent: string | null;
  readonly parentElement: PageElement | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
}
interface PageVideo extends PageElement {
  readonly videoWidth: number;
  readonly videoHeight: number;
  getVideoPlaybackQuality(): { readonly totalVideoFrames: number };
}
interface PageGlobals {
  readonly document: { querySelectorAll(selector: string): Iterable<PageVideo> };
  readonly performance: { now(): number };
}

/** One <video> of Element Call as the page shows it. */
export interface VideoState {
  /** Text of the tile's name tag (the participant's display name), '' when none was found. */
  readonly name: string;
  /** Frames the element has presented. */
  readonly frames: number;
  readonly width: number;
  readonly height: number;
}

/** The Element Call iframe of a host page. */
export async function elementCallFrame(page: Page, timeoutMs = 30_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = page.frames().find((candidate) => new URL(candidate.url(), 'http://x').pathname.startsWith(ELEMENT_CALL_PREFIX));
    if (frame) return frame;
    if (Date.now() > deadline) throw new Error(`no Element Call frame in ${page.url()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every <video> in Element Call with its tile's name and its decoded frames. */
export function videos(frame: Frame): Promise<VideoState[]> {
  return frame.evaluate(() => {
    const { document } = globalThis as unknown as PageGlobals;
    return [...document.querySelectorAll('video')].map((video) => {
      // The name tag sits in the same tile as the video: walk up until an ancestor holds one.
      let name = '';
      for (let node: PageElement | null = video.parentElement; node && !name; node = node.parentElement) {
        const tag = node.querySelector('[data-testid="name_tag"]');
        if (tag) name = (tag.textContent ?? '').trim();
      }
      return {
        name,
        frames: video.getVideoPlaybackQuality().totalVideoFrames,
        width: video.videoWidth,
        height: video.videoHeight,
      };
    });
  });
}

/** Throws (for waitFor) unless the video on the tile named `name` (another user's) presents frames; returns it. */
export async function seesVideoOf(frame: Frame, name: string): Promise<VideoState> {
  const all = await videos(frame);
  const video = all.find((candidate) => candidate.name.includes(name) && candidate.frames > 0 && candidate.width > 0);
  if (!video) throw new Error(`no decoded remote video of ${name}: ${JSON.stringify(all)}`);
  return video;
}

/** Throws (for waitFor) unless the remote video of `name` presents more frames over `windowMs`. */
export async function framesKeepComing(frame: Frame, name: string, windowMs = 1000): Promise<number> {
  const before = (await seesVideoOf(frame, name)).frames;
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = (await seesVideoOf(frame, name)).frames;
  if (after <= before) throw new Error(`frames of ${name} stuck at ${after}`);
  return after - before;
}

/** The names on the video tiles (decoded or not), the viewer's own included. */
export async function tileNames(frame: Frame): Promise<string[]> {
  return (await videos(frame)).map((video) => video.name);
}

/** Whether the tile named `name` shows video (Element Call's `data-video-enabled`), and its frames so far. */
export function tileVideo(frame: Frame, name: string): Promise<{ videoEnabled: boolean; frames: number } | undefined> {
  return frame.evaluate((wanted) => {
    const { document } = globalThis as unknown as PageGlobals;
    for (const tile of [...document.querySelectorAll('[data-testid="videoTile"]')]) {
      if (!(tile.querySelector('[data-testid="name_tag"]')?.textContent ?? '').includes(wanted)) continue;
      const video = tile.querySelector('video') as PageVideo | null;
      return { videoEnabled: tile.getAttribute('data-video-enabled') === 'true', frames: video?.getVideoPlaybackQuality().totalVideoFrames ?? 0 };
    }
    return undefined;
  }, name);
}

/** The host's state, read in the host page. */
export function hostState(page: Page): Promise<Omit<ElementCallHostApi, 'hangup' | 'deviceMute' | 'membership'>> {
  return page.evaluate(() => {
    const { hangup: _hangup, deviceMute: _deviceMute, membership: _membership, ...state } = (globalThis as unknown as ElementCallHostGlobal).elementCallHost;
    return JSON.parse(JSON.stringify(state)) as Omit<ElementCallHostApi, 'hangup' | 'deviceMute' | 'membership'>;
  });
}

/** Milliseconds since the page's time origin (compare with FromWidgetAction.atMs). */
export function pageNowMs(page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).performance.now());
}
