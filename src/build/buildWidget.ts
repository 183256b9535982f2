// Build tooling (runs in Node): bundles the call widget with esbuild, src/browser/widget/entry.ts
// → dist/widget/, content-hashed, minified, code-split ES modules and an index.html that loads
// them with no inline script, as the widget's CSP requires (src/server/http/widgetCsp.ts).
// Hashed files may be cached for a year. Called by buildClient.ts (`npm run build:client`).

import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const SRC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const WIDGET_DIR = join(SRC_DIR, 'browser', 'widget');

/** Where the widget goes by default (SfuNode's WIDGET_DIST_DIR). */
export const DEFAULT_WIDGET_OUT_DIR = join(SRC_DIR, '..', 'dist', 'widget');

/** Options of buildWidget(). */
export interface BuildWidgetOptions {
  /** Output directory, emptied first. Default dist/widget/. */
  readonly outDir?: string;
  /** Minify. Default true: this is what production serves (source maps are linked). */
  readonly minify?: boolean;
}

/** What buildWidget() produced. */
export interface WidgetBuildResult {
  readonly outDir: string;
  /** The entry script, stylesheet and E2EE worker (hashed names, relative to outDir). */
  readonly script: string;
  readonly stylesheet: string | undefined;
  readonly worker: string;
  /** The JavaScript the page loads at start (entry and its static imports): bytes raw and gzipped (level 9). */
  readonly initialJsBytes: number;
  readonly initialJsGzipBytes: number;
}

function widgetHtml(script: string, stylesheet: string | undefined, worker: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta name="e2ee-worker" content="${worker}">
<link rel="icon" href="data:,">
<title>Video call</title>
${stylesheet ? `<link rel="stylesheet" href="${stylesheet}">\n` : ''}<script type="module" src="${script}"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
}

/**
 * Builds the widget. Code splitting keeps the modules js-sdk imports lazily (its Rust crypto,
 * which the embedded client never loads) out of the files the page loads at start.
 */
export async function buildWidget(options: BuildWidgetOptions = {}): Promise<WidgetBuildResult> {
  const outDir = options.outDir ?? DEFAULT_WIDGET_OUT_DIR;
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(WIDGET_DIR, 'entry.ts')],
    bundle: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: ['chrome111', 'firefox120', 'safari16'],
    outdir: outDir,
    entryNames: 'widget-[hash]',
    chunkNames: 'chunks/[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'linked',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    logLevel: 'warning',
  });
  // The E2EE frame-transform worker: a classic script, so `new Worker(url)` needs no module workers.
  const workerBuild = await build({
    entryPoints: [join(SRC_DIR, 'browser', 'e2ee', 'worker', 'worker.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome111', 'firefox120', 'safari16'],
    outdir: outDir,
    entryNames: 'e2ee-worker-[hash]',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const workerPath = Object.keys(workerBuild.metafile.outputs).find((file) => file.endsWith('.js'));
  if (!workerPath) throw new Error('esbuild produced no e2ee worker');
  const outputs = result.metafile.outputs;
  const entry = Object.entries(outputs).find(([, output]) => output.entryPoint?.endsWith('entry.ts'));
  if (!entry) throw new Error('esbuild produced no widget entry');
  const [scriptPath, meta] = entry;
  const initial = new Set<string>([scriptPath]);
  for (const file of initial) {
    for (const imported of outputs[file]?.imports ?? []) if (imported.kind === 'import-statement' && !imported.external) initial.add(imported.path);
  }
  let initialJsBytes = 0;
  let initialJsGzipBytes = 0;
  for (const file of initial) {
    const bytes = await readFile(file);
    initialJsBytes += bytes.length;
    initialJsGzipBytes += gzipSync(bytes, { level: 9 }).length;
  }
  const script = basename(scriptPath);
  const stylesheet = meta.cssBundle ? basename(meta.cssBundle) : undefined;
  const worker = basename(workerPath);
  await writeFile(join(outDir, 'index.html'), widgetHtml(script, stylesheet, worker));
  return { outDir, script, stylesheet, worker, initialJsBytes, initialJsGzipBytes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildWidget().then(
    (built) => console.log(`widget built into ${built.outDir}: ${built.script}, start-up JS ${built.initialJsBytes} B (${built.initialJsGzipBytes} B gzip)`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
