// The widget's response headers: a CSP with no inline script or eval, connections only to
// our origin, our WebSocket and the known homeservers; a year of caching for hashed files.

import { describe, expect, it } from 'vitest';
import { IMMUTABLE_CACHE_CONTROL, widgetContentSecurityPolicy, widgetResponseHeaders } from '../../../../src/server/http/widgetCsp.ts';

const input = { publicUrl: 'https://sfu.example.org', homeserverUrls: ['https://matrix.example.org/', '', 'not a url', 'http://127.0.0.1:8008'] };

describe('widget CSP', () => {
  it('allows scripts, styles and workers from our origin only, and connections to us, our WebSocket and the homeservers', () => {
    const directives = Object.fromEntries(widgetContentSecurityPolicy(input).split('; ').map((directive) => {
      const [name, ...values] = directive.split(' ');
      return [name, values];
    }));
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['worker-src']).toEqual(["'self'"]);
    expect(directives['connect-src']).toEqual(["'self'", 'wss://sfu.example.org', 'https://matrix.example.org', 'http://127.0.0.1:8008']);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'none'"]);
    expect(widgetContentSecurityPolicy(input)).not.toMatch(/unsafe-inline|unsafe-eval/);
  });

  it('allows the WebSockets of the cluster nodes, where token replies send the widget', () => {
    const policy = widgetContentSecurityPolicy({ ...input, nodeUrls: ['https://sfu1.example.org', 'http://127.0.0.1:41000/', 'javascript:x'] });
    const connect = policy.split('; ').find((directive) => directive.startsWith('connect-src '))!.split(' ').slice(1);
    expect(connect).toContain('wss://sfu1.example.org');
    expect(connect).toContain('ws://127.0.0.1:41000');
    expect(connect.join(' ')).not.toContain('javascript');
  });

  it('caches hashed assets for a year and revalidates index.html', () => {
    expect(widgetResponseHeaders('widget-P7JNMQGN.js', input)['cache-control']).toBe(IMMUTABLE_CACHE_CONTROL);
    expect(widgetResponseHeaders('chunks/chunk-7P6CTRTF.js', input)['cache-control']).toBe(IMMUTABLE_CACHE_CONTROL);
    expect(widgetResponseHeaders('widget-Q4I65UVD.css', input)['cache-control']).toBe(IMMUTABLE_CACHE_CONTROL);
    expect(widgetResponseHeaders('index.html', input)['cache-control']).toBe('no-cache');
    expect(widgetResponseHeaders('index.html', input)['content-security-policy']).toContain("script-src 'self'");
  });
});
