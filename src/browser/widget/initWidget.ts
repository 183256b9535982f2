// The widget's one entry point. Importing this module does nothing; initWidget() reads the
// URL, picks the language, and starts widget mode (hosted) or standalone mode (sign-in). In
// widget mode the widget API starts synchronously inside this call, so call it while the
// page loads (entry.ts does), before the host's iframe load event.

import type { ClientLogger } from '../client/types.ts';
import { matrixE2eeStatus } from './call/e2ee.ts';
import { unencryptedStatus } from './call/unencrypted.ts';
import type { E2eeStatusSource } from './call/types.ts';
import { WidgetError } from './errors.ts';
import { createTranslator, pickLanguage } from './i18n/index.ts';
import { LaunchParams, parseLaunch, type Launch } from './launch.ts';
import type { WidgetBackend } from './matrix/WidgetBackend.ts';
import { startStandaloneMode } from './standaloneMode.ts';
import { AppShell } from './ui/screens.ts';
import { startWidgetMode, type WidgetMode } from './widgetMode.ts';

/** Options of initWidget(); the defaults read the page. */
export interface InitWidgetOptions {
  /** Where to render. Default `#app`, else document.body. */
  readonly root?: HTMLElement;
  /** The page URL's query. Default `location.search`. */
  readonly search?: string;
  /** The page URL's fragment (`#?…` parameters win over the query). Default `location.hash`. */
  readonly hash?: string;
  /** The origin serving the widget (default SFU). Default `location.origin`. */
  readonly origin?: string;
  /** The browser's languages. Default `navigator.languages`. */
  readonly languages?: readonly string[];
  /** Log sink. Default: the console, without debug lines. */
  readonly logger?: ClientLogger;
  /**
   * E2EE for a widget-mode join. Default: with `perParticipantE2EE=true`, Olm-distributed
   * keys and the frame-transform worker named by `<meta name="e2ee-worker">`; else none.
   */
  readonly e2ee?: (backend: WidgetBackend) => E2eeStatusSource;
}

/** What initWidget() started. */
export type WidgetHandle =
  | { readonly mode: 'widget'; readonly widget: WidgetMode }
  | { readonly mode: 'standalone' }
  | { readonly mode: 'invalid'; readonly error: WidgetError };

/** Console logger with a prefix; debug lines dropped. Never given tokens, keys or SDP. */
export const consoleLogger: ClientLogger = {
  debug: () => undefined,
  info: (message, fields) => console.info(`[widget] ${message}`, fields ?? ''),
  warn: (message, fields) => console.warn(`[widget] ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`[widget] ${message}`, fields ?? ''),
};

/** Starts the widget. Call once per page. */
export function initWidget(options: InitWidgetOptions = {}): WidgetHandle {
  const root = options.root ?? document.getElementById('app') ?? document.body;
  const search = options.search ?? location.search;
  const hash = options.hash ?? location.hash;
  const logger = options.logger ?? consoleLogger;
  let launch: Launch;
  try {
    launch = parseLaunch(search, options.origin ?? location.origin, hash);
  } catch (error) {
    const lang = new LaunchParams(search, hash).get('lang');
    const app = new AppShell(root, createTranslator(pickLanguage(lang, options.languages ?? navigator.languages)), logger);
    const failure = error instanceof WidgetError ? error : new WidgetError('CONFIGURATION', 'bad widget URL', { cause: error });
    app.error(failure, []);
    return { mode: 'invalid', error: failure };
  }
  const app = new AppShell(root, createTranslator(pickLanguage(launch.lang, options.languages ?? navigator.languages)), logger);
  app.setTheme(launch.theme ?? 'dark');
  if (launch.mode === 'standalone') {
    startStandaloneMode({ app, launch, logger });
    return { mode: 'standalone' };
  }
  const workerUrl = document.querySelector<HTMLMetaElement>('meta[name="e2ee-worker"]')?.content;
  const e2ee =
    options.e2ee ??
    ((backend: WidgetBackend): E2eeStatusSource =>
      launch.e2ee && workerUrl ? matrixE2eeStatus({ backend, client: backend.client, workerUrl: new URL(workerUrl, location.href).href, logger }) : unencryptedStatus());
  if (launch.e2ee && !workerUrl) logger.warn('perParticipantE2EE asked for, but the page names no e2ee worker: media is not encrypted');
  const widget = startWidgetMode({ app, launch, logger, e2ee });
  return { mode: 'widget', widget };
}
