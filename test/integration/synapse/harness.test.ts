// Tests of the Synapse harness itself (test/tools/synapse): template rendering, the
// registration MAC, the signing key format, the rendered config, and start-up failures.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import {
  DEFAULT_SYNAPSE_TEMPLATE,
  findFreePort,
  renderHomeserverConfig,
  startSynapse,
} from '../../../src/server/dev/synapse/SynapseProcess.ts';
import { registrationMac } from '../../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { formatSigningKey, generateSigningKey } from '../../../src/server/dev/synapse/signingKey.ts';
import { renderTemplate } from '../../../src/server/dev/synapse/template.ts';

const SEED_0_TO_31 = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('renderTemplate()', () => {
  it('writes each value as JSON, which YAML reads back unchanged', () => {
    const rendered = renderTemplate('a: {{a}}\nb: {{ b }}\nc: {{c}}\n', {
      a: 'needs "quotes": yes',
      b: 8008,
      c: [{ type: 't', url: 'https://x' }],
    });
    expect(parseYaml(rendered)).toEqual({ a: 'needs "quotes": yes', b: 8008, c: [{ type: 't', url: 'https://x' }] });
  });

  it('leaves placeholders in comment lines alone', () => {
    expect(renderTemplate('# every {{name}} is replaced\nx: {{x}}', { x: 1 })).toBe('# every {{name}} is replaced\nx: 1');
  });

  it('throws a TypeError listing missing, unused and unencodable values', () => {
    expect(() => renderTemplate('a: {{a}}\nb: {{b}}', { b: undefined, c: 1 })).toThrow(
      new TypeError(
        'cannot render template: no value for placeholder {{a}}; value for {{b}} has no JSON encoding; value c is not used by the template',
      ),
    );
  });
});

describe('registrationMac()', () => {
  // Vectors computed with Python's hmac module, as in Synapse's docs.
  it('matches HMAC-SHA1 over nonce, user, password and admin flag', () => {
    const input = { nonce: 'abc', username: 'alice', password: 'pw' };
    expect(registrationMac('s3cret', { ...input, admin: false })).toBe('d7cd8fe38bb2b37bacf757920ef46050075d427d');
    expect(registrationMac('s3cret', { ...input, admin: true })).toBe('fff9f57189c2d1a494c19759e16d592b0f64ce32');
  });
});

describe('formatSigningKey()', () => {
  it('writes the signedjson key line Synapse reads', () => {
    expect(formatSigningKey(SEED_0_TO_31, 'a_test')).toBe('ed25519 a_test AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n');
  });

  it('encodes a seed whose public key matches signedjson’s reading of the same line', () => {
    // signedjson read this line's seed as the key with public part A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg.
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), SEED_0_TO_31]);
    const publicJwk = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    expect(Buffer.from(publicJwk.x ?? '', 'base64url').toString('base64').replace(/=+$/, '')).toBe(
      'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg',
    );
  });

  it('refuses seeds of the wrong length and bad versions', () => {
    expect(() => formatSigningKey(new Uint8Array(31), 'a_x')).toThrow(TypeError);
    expect(() => formatSigningKey(SEED_0_TO_31, 'a x')).toThrow(TypeError);
  });

  it('generateSigningKey() produces a_XXXX versions and 43-character seeds', () => {
    expect(generateSigningKey()).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
  });
});

describe('renderHomeserverConfig()', () => {
  it('fills every placeholder of the shipped template with loopback-only, offline settings', async () => {
    const template = await readFile(DEFAULT_SYNAPSE_TEMPLATE, 'utf8');
    const transport = { type: 'org.matrix_sfu.mediasoup', sfu_service_url: 'http://127.0.0.1:9000' };
    const config = parseYaml(
      renderHomeserverConfig(template, {
        serverName: 'synapse.test',
        port: 8123,
        dataDir: '/data',
        registrationSharedSecret: 'shared',
        macaroonSecretKey: 'macaroon',
        formSecret: 'form',
        rtcTransports: [transport],
      }),
    ) as Record<string, unknown>;
    expect(config).toMatchObject({
      server_name: 'synapse.test',
      public_baseurl: 'http://127.0.0.1:8123/',
      listeners: [{ port: 8123, bind_addresses: ['127.0.0.1'], tls: false, resources: [{ names: ['client', 'federation'] }] }],
      database: { name: 'sqlite3', args: { database: '/data/homeserver.db' } },
      media_store_path: '/data/media_store',
      signing_key_path: '/data/signing.key',
      registration_shared_secret: 'shared',
      trusted_key_servers: [],
      report_stats: false,
      max_event_delay_duration: '24h',
      experimental_features: { msc4143_enabled: true },
      matrix_rtc: { transports: [transport] },
    });
    for (const [key, value] of Object.entries(config)) {
      if (key.startsWith('rc_') && key !== 'rc_federation') expect(JSON.stringify(value)).toMatch(/"per_second":10000/);
    }
  });
});

describe('startSynapse()', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  async function freshDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'synapse-harness-'));
    dirs.push(dir);
    return dir;
  }

  it('refuses a data dir that is not empty', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, 'leftover'), '');
    await expect(startSynapse({ dataDir: dir })).rejects.toThrow(/is not empty/);
  });

  it('names the install script when the venv is missing', async () => {
    await expect(startSynapse({ dataDir: await freshDir(), pythonPath: '/nonexistent/python' })).rejects.toThrow(
      /native-config\/synapse\/install/,
    );
  });

  it('rejects with the tail of the Synapse log when Synapse exits during start-up', async () => {
    const dir = await freshDir();
    const template = join(await freshDir(), 'broken.yaml');
    const shipped = await readFile(DEFAULT_SYNAPSE_TEMPLATE, 'utf8');
    // A config Synapse refuses: an invalid max_event_delay_duration.
    await writeFile(template, shipped.replace('max_event_delay_duration: 24h', 'max_event_delay_duration: -1'));
    await expect(startSynapse({ dataDir: dir, templatePath: template, port: await findFreePort() })).rejects.toThrow(
      /Synapse exited early[\s\S]*tail of[\s\S]*max_event_delay_duration/,
    );
  });
});
