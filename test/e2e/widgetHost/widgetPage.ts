// Reads the call widget from Node the way a person perceives it: decoded video per tile,
// sound from the audio elements, mute marks, badges, keyboard focus. The page.evaluate()
// callbacks run in the browser; they name the few DOM members they use through the
// structural `Page*` types below, so this Node-side file typechecks without the DOM library.

import type { Frame, Page } from 'playwright-core';

interface PageElement {
  readonly id: string;
  readonly dataset: Record<string, string | undefined>;
  readonly classList: { contains(name: string): boolean };
  readonly textContent: string | null;
  querySelector(selector: string): (PageElement & Partial<PageVideo>) | null;
}
interface PageVideo {
  readonly videoWidth: number;
  getVideoPlaybackQuality(): { readonly totalVideoFrames: number };
}
interface PageAnalyser {
  fftSize: number;
  getFloatTimeDomainData(samples: Float32Array): void;
}
interface PageAudioContext {
  resume(): Promise<void>;
  close(): Promise<void>;
  createAnalyser(): PageAnalyser;
  createMediaStreamSource(stream: unknown): { connect(node: PageAnalyser): void };
}
/** The browser globals the probes use. */
interface PageGlobals {
  readonly document: { querySelectorAll(selector: string): Iterable<PageElement & { srcObject?: unknown }>; readonly activeElement: PageElement | null };
  readonly AudioContext: new () => PageAudioContext;
  readonly performance: { now(): number };
}

/** The frame whose URL is the widget's. */
export async function widgetFrame(page: Page, timeoutMs = 15_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = page.frames().find((candidate) => new URL(candidate.url(), 'http://x').pathname.startsWith('/widget/'));
    if (frame) return frame;
    if (Date.now() > deadline) throw new Error(`no widget frame in ${page.url()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A tile as the DOM shows it. */
export interface TileState {
  readonly participant: string;
  readonly kind: string;
  readonly name: string;
  readonly muted: boolean;
  readonly e2ee: string;
  readonly hasVideo: boolean;
  /** Frames the <video> has presented (0 when none). */
  readonly frames: number;
  readonly width: number;
  readonly speaking: boolean;
}

/** Every tile in the widget. */
export function tiles(frame: Frame): Promise<TileState[]> {
  return frame.evaluate(() => {
    const { document } = globalThis as unknown as PageGlobals;
    return [...document.querySelectorAll('article.tile')].map((tile) => {
      const video = tile.querySelector('video');
      return {
        participant: tile.dataset['participant'] ?? '',
        kind: tile.dataset['kind'] ?? '',
        name: tile.querySelector('.tile-name-text')?.textContent ?? '',
        muted: tile.dataset['muted'] === 'true',
        e2ee: tile.dataset['e2ee'] ?? '',
        hasVideo: tile.classList.contains('has-video'),
        frames: video?.getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
        width: video?.videoWidth ?? 0,
        speaking: tile.classList.contains('speaking'),
      };
    });
  });
}

/** Throws (for waitFor) unless the tile of `participant` (a participant id prefix) shows decoded video. */
export async function seesVideoOf(frame: Frame, participant: string, kind: 'camera' | 'screen' = 'camera'): Promise<TileState> {
  const all = await tiles(frame);
  const tile = all.find((candidate) => candidate.participant.startsWith(participant) && candidate.kind === kind);
  if (!tile || !tile.hasVideo || tile.frames === 0 || tile.width === 0) throw new Error(`no decoded ${kind} video of ${participant}: ${JSON.stringify(all)}`);
  return tile;
}

/**
 * The loudest sample (0–1) heard from the widget's remote audio elements over `windowMs`,
 * through a Web Audio analyser: non-zero means sound arrives and decodes (the fake
 * microphone beeps).
 */
export function loudness(frame: Frame, windowMs = 2500): Promise<number> {
  return frame.evaluate(async (ms) => {
    const { document, AudioContext, performance } = globalThis as unknown as PageGlobals;
    const elements = [...document.querySelectorAll('.audio-sink audio')];
    if (elements.length === 0) return 0;
    const context = new AudioContext();
    await context.resume();
    const analysers = elements.map((element) => {
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaStreamSource(element.srcObject).connect(analyser);
      return analyser;
    });
    let peak = 0;
    const samples = new Float32Array(2048);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (const analyser of analysers) {
        analyser.getFloatTimeDomainData(samples);
        for (const sample of samples) peak = Math.max(peak, Math.abs(sample));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await context.close();
    return peak;
  }, windowMs);
}

/** Clicks a control-bar button (`microphone`, `camera`, `screen`, `settings`, `leave`). */
export async function clickControl(frame: Frame, control: string): Promise<void> {
  await frame.click(`button[data-control="${control}"]`);
}

/** The `data-state` of a control. */
export function controlState(frame: Frame, control: string): Promise<string | null> {
  return frame.getAttribute(`button[data-control="${control}"]`, 'data-state');
}

/** The control that has keyboard focus, or '' when none does. */
export function focusedControl(frame: Frame): Promise<string> {
  return frame.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.dataset['control'] ?? '');
}

/** The id of the focused element. */
export function activeElementId(frame: Frame): Promise<string> {
  return frame.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.id ?? '');
}

interface StateRecorder {
  __callStates?: string[];
}

/** Starts recording the call screen's `data-state` changes (connected, reconnecting, …). */
export function recordCallStates(frame: Frame): Promise<void> {
  return frame.evaluate(() => {
    const global = globalThis as unknown as PageGlobals & StateRecorder & { MutationObserver: new (callback: () => void) => { observe(target: unknown, options: unknown): void } };
    const call = [...global.document.querySelectorAll('.call')][0];
    if (!call) throw new Error('no call screen');
    const states: string[] = [];
    global.__callStates = states;
    new global.MutationObserver(() => states.push(call.dataset['state'] ?? '')).observe(call, { attributes: true, attributeFilter: ['data-state'] });
  });
}

/** The states recorded since recordCallStates(). */
export function recordedCallStates(frame: Frame): Promise<string[]> {
  return frame.evaluate(() => (globalThis as unknown as StateRecorder).__callStates ?? []);
}

/** Throws (for waitFor) unless the tile of `participant` presents more frames over `windowMs`. */
export async function framesKeepComing(frame: Frame, participant: string, windowMs = 1000): Promise<true> {
  const count = async () => (await tiles(frame)).find((tile) => tile.participant.startsWith(participant) && tile.kind === 'camera')?.frames ?? 0;
  const before = await count();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = await count();
  if (after <= before) throw new Error(`frames of ${participant} stuck at ${after}`);
  return true;
}

/** Milliseconds since the widget's document started loading (its performance time origin). */
export function sinceWidgetOpenedMs(frame: Frame): Promise<number> {
  return frame.evaluate(() => (globalThis as unknown as PageGlobals).performance.now());
}
