// Launches Debian's Chromium (/usr/bin/chromium) headless through
// playwright-core with a fake camera and microphone, in a fresh profile
// directory that close() deletes. Collects every page's console lines so a
// failing test can dump them next to the server log.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The Chromium binary (Debian package `chromium`). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Command-line flags: headless without GPU or sandbox (containers), no
 * background traffic, QUIC off, a fake camera/microphone granted without a
 * prompt, and loopback candidates allowed (the SFU listens on 127.0.0.1).
 */
export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
]);

/** A running browser with its profile. */
export interface BrowserHandle {
  readonly context: BrowserContext;
  /** Opens a page whose console lines are kept under `label`. */
  newPage(label: string): Promise<Page>;
  /** Console lines of every page, prefixed with the page label. */
  readonly consoleLines: string[];
  /** Closes the browser and deletes its profile. Idempotent. */
  close(): Promise<void>;
}

/** Launches Chromium with CHROMIUM_ARGS (plus `extraArgs`) in a fresh temporary profile; `executablePath` may be a wrapper of CHROMIUM_PATH. */
export async function launchBrowser(extraArgs: readonly string[] = [], executablePath: string = CHROMIUM_PATH): Promise<BrowserHandle> {
  const profileDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
    });
  } catch (error) {
    await rm(profileDir, { recursive: true, force: true });
    throw error;
  }
  const consoleLines: string[] = [];
  let closed = false;
  return {
    context,
    consoleLines,
    async newPage(label) {
      const page = await context.newPage();
      page.on('console', (message) => consoleLines.push(`[${label}] ${message.type()}: ${message.text()}`));
      page.on('pageerror', (error) => consoleLines.push(`[${label}] pageerror: ${error.message}`));
      return page;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await context.close();
      } finally {
        await rm(profileDir, { recursive: true, force: true });
      }
    },
  };
}
