import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configKeyPaths, envNameFor, loadConfig } from '../../../../src/server/config/loadConfig.ts';
import { DEFAULT_CONFIG } from '../../../../src/server/config/defaults.ts';

function faultsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.faults;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sfu-config-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('loadConfig()', () => {
  it('returns the defaults, deeply frozen, when nothing is given', () => {
    const config = loadConfig();
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.media)).toBe(true);
  });

  it('applies file, then overrides, then environment, in that order', () => {
    const file = tempFile('sfu.yaml', 'server:\n  port: 9000\nmedia:\n  numWorkers: 2\n  basePort: 41000\n');
    const config = loadConfig({
      file,
      overrides: { media: { numWorkers: 3 } },
      env: { SFU_MEDIA_BASE_PORT: '42000', SFU_LOG_LEVEL: 'debug' },
    });
    expect(config.server.port).toBe(9000);
    expect(config.media.numWorkers).toBe(3);
    expect(config.media.basePort).toBe(42000);
    expect(config.log.level).toBe('debug');
  });

  it('refuses unknown keys in the file, overrides and environment, each with its path', () => {
    const file = tempFile('sfu.json', JSON.stringify({ server: { prot: 1 }, medai: {} }));
    const faults = faultsOf(() => loadConfig({ file, env: { SFU_SERVER_PROT: '1' } }));
    expect(faults).toEqual(
      expect.arrayContaining(['server.prot: unknown key', 'medai: unknown key', 'environment SFU_SERVER_PROT: unknown key']),
    );
  });

  it('reports every invalid value with its path, not just the first', () => {
    const faults = faultsOf(() =>
      loadConfig({
        overrides: {
          server: { port: 70000, publicUrl: 'ftp://x' },
          media: { listenIp: 'not-an-ip', basePort: 80, workerLogLevel: 'loud' },
          auth: { mode: 'open' },
          signalling: { maxFrameBytes: 10 },
        },
      }),
    );
    expect(faults).toEqual([
      'server.port: must be an integer 0..65535',
      'server.publicUrl: must be empty or an http(s) URL',
      'media.listenIp: must be an IPv4 or IPv6 address',
      'media.basePort: must be an integer 1024..65000',
      'media.workerLogLevel: must be debug, warn, error or none',
      'signalling.maxFrameBytes: must be an integer 1024..1048576',
      "auth.mode: must be 'none' or 'matrix'",
    ]);
  });

  it('validates list and map entries: widget.homeserverUrls, auth.serverUrlOverrides', () => {
    expect(loadConfig({ env: { SFU_WIDGET_HOMESERVER_URLS: 'https://a.example, https://b.example' } }).widget.homeserverUrls).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
    const faults = faultsOf(() =>
      loadConfig({ overrides: { widget: { homeserverUrls: ['ftp://x'] }, auth: { serverUrlOverrides: { 'a.example': 'https://a/path' } } } }),
    );
    expect(faults).toEqual([
      'auth.serverUrlOverrides: values must be http(s) base URLs without a path',
      'widget.homeserverUrls: entries must be http(s) base URLs without a path',
    ]);
    expect(faultsOf(() => loadConfig({ overrides: { widget: { homeserverUrls: [1] } } }))).toEqual([
      'widget.homeserverUrls: must be a list of strings',
    ]);
  });

  it('reports wrong types by path (string where a number belongs)', () => {
    const faults = faultsOf(() => loadConfig({ env: { SFU_SERVER_PORT: 'eighty' }, overrides: { media: 'x' } }));
    expect(faults).toEqual(expect.arrayContaining(['media: must be a mapping', 'server.port: must be a number, got "eighty"']));
  });

  it('reads a *_FILE secret and refuses both the variable and its _FILE', () => {
    const file = tempFile('host', '0.0.0.0\n');
    const publicUrl = 'https://sfu.example.org';
    expect(loadConfig({ env: { SFU_SERVER_HOST_FILE: file, SFU_SERVER_PUBLIC_URL: publicUrl } }).server.host).toBe('0.0.0.0');
    expect(faultsOf(() => loadConfig({ env: { SFU_SERVER_HOST_FILE: file, SFU_SERVER_HOST: 'x' } }))).toEqual([
      'server.host: both SFU_SERVER_HOST and SFU_SERVER_HOST_FILE are set',
    ]);
  });

  it('refuses a file with a duplicate key or a syntax error, naming the file', () => {
    const file = tempFile('dup.yaml', 'server:\n  port: 1\n  port: 2\n');
    expect(faultsOf(() => loadConfig({ file }))[0]).toContain('dup.yaml');
  });

  it('envNameFor() maps camelCase paths to SFU_ snake names, one per key', () => {
    expect(envNameFor(['media', 'numWorkers'])).toBe('SFU_MEDIA_NUM_WORKERS');
    const names = configKeyPaths().map(envNameFor);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('loadConfig() cross-field rules', () => {
  const realHomeserver = {
    auth: { mode: 'matrix', allowedServers: ['example.org'] },
    matrix: { homeserverUrl: 'https://matrix.example.org', userId: '@sfu:example.org', accessToken: 'secret' },
  };

  it('refuses an empty server.publicUrl with a wildcard server.host (0.0.0.0 or ::)', () => {
    for (const host of ['0.0.0.0', '::']) {
      const faults = faultsOf(() => loadConfig({ overrides: { server: { host } } }));
      expect(faults).toHaveLength(1);
      expect(faults[0]).toMatch(/^server\.publicUrl: must be set when server\.host is a wildcard address/);
    }
    expect(loadConfig({ overrides: { server: { host: '0.0.0.0', publicUrl: 'https://sfu.example.org' } } }).server.host).toBe('0.0.0.0');
  });

  it('refuses an empty media.announcedAddress with a wildcard media.listenIp', () => {
    for (const listenIp of ['0.0.0.0', '::']) {
      const faults = faultsOf(() => loadConfig({ overrides: { media: { listenIp } } }));
      expect(faults).toHaveLength(1);
      expect(faults[0]).toMatch(/^media\.announcedAddress: must be set when media\.listenIp is a wildcard address/);
    }
    expect(loadConfig({ overrides: { media: { listenIp: '0.0.0.0', announcedAddress: '203.0.113.10' } } }).media.listenIp).toBe('0.0.0.0');
  });

  it('refuses auth.mode matrix against a configured homeserver with no allowed servers, account or credentials', () => {
    const faults = faultsOf(() => loadConfig({ overrides: { matrix: { homeserverUrl: 'https://matrix.example.org' } } }));
    expect(faults.map((fault) => fault.split(':')[0])).toEqual(['auth.allowedServers', 'matrix.userId', 'matrix.accessToken']);
    expect(loadConfig({ overrides: realHomeserver }).auth.allowedServers).toEqual(['example.org']);
    // The embedded development homeserver (no homeserverUrl) and auth.mode none need none of them.
    expect(loadConfig().auth.allowedServers).toEqual([]);
    expect(loadConfig({ overrides: { auth: { mode: 'none' }, matrix: { homeserverUrl: 'https://matrix.example.org' } } }).auth.mode).toBe('none');
  });

  it('lists every cross-field fault at once', () => {
    const faults = faultsOf(() =>
      loadConfig({ overrides: { server: { host: '::' }, media: { listenIp: '0.0.0.0' }, matrix: { homeserverUrl: 'https://m.example', userId: '@sfu:m.example', password: 'pw' } } }),
    );
    expect(faults.map((fault) => fault.split(':')[0])).toEqual(['server.publicUrl', 'media.announcedAddress', 'auth.allowedServers']);
  });

  it('validates server.trustedProxies entries and the new matrix durations', () => {
    expect(loadConfig({ env: { SFU_SERVER_TRUSTED_PROXIES: '10.0.0.0/8, ::1, 192.0.2.7' } }).server.trustedProxies).toEqual(['10.0.0.0/8', '::1', '192.0.2.7']);
    expect(faultsOf(() => loadConfig({ overrides: { server: { trustedProxies: ['10.0.0.0/33'] } } }))).toEqual([
      'server.trustedProxies: entries must be IP addresses or CIDRs (10.0.0.0/8, ::1)',
    ]);
    expect(faultsOf(() => loadConfig({ overrides: { matrix: { reconcileIntervalMs: 10, membershipGraceMs: -1, staleAdmissionMs: 1e9 } } }))).toEqual([
      'matrix.reconcileIntervalMs: must be 0 (off) or an integer >= 5000',
      'matrix.membershipGraceMs: must be an integer 0..120000',
      'matrix.staleAdmissionMs: must be an integer 0..600000',
    ]);
  });
});

describe('native-config/config/sfu.defaults.yaml', () => {
  it('loads to exactly the typed defaults, so the commented reference never drifts', async () => {
    const { fileURLToPath } = await import('node:url');
    const file = fileURLToPath(new URL('../../../../native-config/config/sfu.defaults.yaml', import.meta.url));
    expect(loadConfig({ file })).toEqual(DEFAULT_CONFIG);
    const { readConfigFile } = await import('../../../../src/server/config/loadConfig.ts');
    const listed = configKeyPaths(readConfigFile(file)).map((path) => path.join('.'));
    expect(listed.sort()).toEqual(configKeyPaths().map((path) => path.join('.')).sort());
  });
});

describe('native-config/matrix/sfu.production.example.yaml', () => {
  it('is a valid configuration', async () => {
    const { fileURLToPath } = await import('node:url');
    const file = fileURLToPath(new URL('../../../../native-config/matrix/sfu.production.example.yaml', import.meta.url));
    // The access token comes from the environment (SFU_MATRIX_ACCESS_TOKEN_FILE in production).
    expect(loadConfig({ file, env: { SFU_MATRIX_ACCESS_TOKEN: 'token' } }).server.publicUrl).toBe('https://sfu.example.org');
    expect(faultsOf(() => loadConfig({ file }))).toEqual([expect.stringMatching(/^matrix\.accessToken: or matrix\.password must be set/)]);
  });
});
