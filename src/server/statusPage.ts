// `GET /` of a node that is not in development mode: a plain HTML page that tells a person
// who opens the SFU's address what this is and where things are (health, readiness, the
// widget, the token endpoint), instead of a bare JSON 404. No scripts, no external
// resources, nothing secret: the same facts the public endpoints already give.

import { readFileSync } from 'node:fs';
import type { Config } from './config/types.ts';
import type { RouteHandler } from './http/HttpServer.ts';

/** The node facts the page shows (an SfuNode, once started). */
export interface StatusPageNode {
  readonly publicUrl: string;
}

function packageVersion(): string {
  try {
    const parsed = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Renders the page for `node` (undefined while starting). */
export function renderStatusPage(config: Config, node: StatusPageNode | undefined, version = packageVersion()): string {
  const base = escapeHtml(node?.publicUrl ?? '');
  const rows: Array<[string, string]> = [
    ['Version', escapeHtml(version)],
    ['Admission', config.auth.mode === 'matrix' ? 'Matrix (OpenID token + live MatrixRTC call membership)' : 'none (development: anyone may join)'],
  ];
  if (config.auth.mode === 'matrix' && config.matrix.userId) rows.push(['SFU Matrix account', escapeHtml(config.matrix.userId)]);
  const links: Array<[string, string]> = [
    ['/healthz', 'liveness'],
    ['/readyz', 'readiness (503 with the reasons while not ready)'],
    ['/widget/', 'the call widget (add it to a Matrix room as a widget)'],
  ];
  if (config.auth.mode === 'matrix') links.push(['/.well-known/jwks.json', 'the public key of the tokens this SFU signs']);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>matrix-sfu</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 44rem; margin: 2rem auto; line-height: 1.5">
<h1>matrix-sfu is running</h1>
<p>This is a video-conference server (SFU) for Matrix calls. There is nothing to use at this address directly:
Matrix clients reach it through <code>${base}/sfu/get</code> when a call room names it as its transport,
and people join calls through its widget.</p>
<table>${rows.map(([k, v]) => `<tr><th style="text-align: left; padding-right: 1rem">${k}</th><td>${v}</td></tr>`).join('')}</table>
<ul>${links.map(([path, what]) => `<li><a href="${escapeHtml(path)}">${escapeHtml(path)}</a>: ${escapeHtml(what)}</li>`).join('')}</ul>
</body></html>
`;
}

/** The `GET /` route: the status page; other methods get 405. */
export function statusPage(config: Config, node: () => StatusPageNode | undefined): RouteHandler {
  return (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      response.end('method not allowed\n');
      return;
    }
    const body = renderStatusPage(config, node());
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
}
