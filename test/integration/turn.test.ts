// The secret wiring is real: a real coturn (test/tools/coturn.ts, loopback, its own config)
// grants an allocation to a credential the SFU's TurnService issued with the shared secret
// from the secret file, and refuses expired, forged and foreign-secret credentials. Also the
// join reply of a real node carries those credentials. The production example config starts
// (addresses, ports and certificate moved to loopback) and relays to the SFU's address only.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coturnInstalled, startTestCoturn, turnAllocate, type CoturnInstance } from '../tools/coturn.ts';
import { turnRestCredential } from '../../src/server/turn/credentials.ts';
import { TurnService } from '../../src/server/turn/TurnService.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { TestClient } from '../tools/wsClient.ts';
import { LiveKitWsClient } from '../tools/liveKitWsClient.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';

const PRODUCTION_EXAMPLE = fileURLToPath(new URL('../../native-config/coturn/turnserver.conf', import.meta.url));
let coturn: CoturnInstance | undefined;

beforeAll(async () => {
  if (!coturnInstalled()) throw new Error('coturn is missing: apt-get install coturn (native-config/packages/debian-test.txt)');
  coturn = await startTestCoturn({ tls: false });
});

afterAll(async () => {
  await coturn?.stop();
});

function turnConfig(instance: CoturnInstance) {
  return { urls: [instance.urls.udp, instance.urls.tcp], sharedSecretFile: instance.secretFile, credentialLifetimeMs: 600_000, relayAddresses: [instance.relayIp] };
}

describe('coturn with use-auth-secret', () => {
  it('grants an allocation on the relay address to a credential the TurnService issued from the secret file, relaying to the SFU alone', async () => {
    const service = TurnService.fromConfig(turnConfig(coturn!))!;
    const [server] = service.issue('@alice:synapse.test:DEV1', 'native');
    const result = await turnAllocate(coturn!.listenIp, coturn!.port, server!.username, server!.credential, { permissionPeers: ['127.0.0.1', '127.0.0.5', '0.0.0.1'] });
    // The SFU's 127.0.0.1 may be a peer; other loopback addresses may not (403 Forbidden).
    expect(result).toEqual({ ok: true, relayedIp: coturn!.relayIp, relayedPort: expect.any(Number), permissions: { '127.0.0.1': 0, '127.0.0.5': 403, '0.0.0.1': 403 } });
  });

  it('refuses an expired credential with 401', async () => {
    const expired = turnRestCredential(coturn!.secret, 'expired0000', Date.now() - 120_000, 60_000);
    expect(await turnAllocate(coturn!.listenIp, coturn!.port, expired.username, expired.credential)).toEqual({ ok: false, errorCode: 401 });
  });

  it('refuses a forged password and a credential made with another secret with 401', async () => {
    const valid = turnRestCredential(coturn!.secret, 'forged00000', Date.now(), 600_000);
    const forged = `${valid.credential.slice(0, -4)}AAA=`;
    expect(await turnAllocate(coturn!.listenIp, coturn!.port, valid.username, forged)).toEqual({ ok: false, errorCode: 401 });
    const foreign = turnRestCredential('some-other-secret-0000', 'foreign0000', Date.now(), 600_000);
    expect(await turnAllocate(coturn!.listenIp, coturn!.port, foreign.username, foreign.credential)).toEqual({ ok: false, errorCode: 401 });
  });

  it('refuses a credential whose expiry was moved into the future without re-signing', async () => {
    const valid = turnRestCredential(coturn!.secret, 'moved000000', Date.now() - 120_000, 60_000);
    const [, identity] = valid.username.split(':');
    const moved = `${Math.floor(Date.now() / 1000) + 3600}:${identity}`;
    expect(await turnAllocate(coturn!.listenIp, coturn!.port, moved, valid.credential)).toEqual({ ok: false, errorCode: 401 });
  });
});

describe('the production example native-config/coturn/turnserver.conf', () => {
  it('starts, grants allocations to SFU credentials, and relays to the SFU address alone: never loopback, private, link-local or reserved peers', async () => {
    const example = readFileSync(PRODUCTION_EXAMPLE, 'utf8');
    const production = await startTestCoturn({
      tls: true,
      // Only what cannot be on loopback changes: addresses, ports, certificate, log, database; the secret as static-auth-secret.
      renderConfig: (values) =>
        example
          .replace(/^listening-ip=.*$/m, `listening-ip=${values.listenIp}`)
          .replace(/^relay-ip=.*$/m, `relay-ip=${values.relayIp}`)
          .replace(/^listening-port=.*$/m, `listening-port=${values.port}`)
          .replace(/^tls-listening-port=.*$/m, `tls-listening-port=${values.tlsPort!}`)
          .replace(/^min-port=.*$/m, `min-port=${values.minRelayPort}`)
          .replace(/^max-port=.*$/m, `max-port=${values.maxRelayPort}`)
          .replace(/^cert=.*$/m, `cert=${values.certFile!}`)
          .replace(/^pkey=.*$/m, `pkey=${values.keyFile!}`)
          .replace(/^syslog$/m, 'log-file=stdout') +
        `static-auth-secret=${values.secret}\nuserdb=${join(values.dataDir, 'turndb')}\npidfile=${join(values.dataDir, 'turnserver.pid')}\n`,
    });
    try {
      expect(example).not.toMatch(/^allow-loopback-peers/m);
      expect(example).not.toMatch(/^static-auth-secret/m);
      const credential = turnRestCredential(production.secret, 'production0', Date.now(), 600_000);
      const peers = ['203.0.113.10', '203.0.113.11', '127.0.0.1', '10.1.2.3', '172.16.5.4', '192.168.1.1', '169.254.1.1', '100.64.0.1', '0.0.0.1', '198.51.100.7', '240.0.0.1', '8.8.8.8'];
      const result = await turnAllocate(production.listenIp, production.port, credential.username, credential.credential, { permissionPeers: peers });
      expect(result.ok).toBe(true);
      const permissions = result.ok ? result.permissions : {};
      // The SFU (allowed-peer-ip) and a public address are granted; everything else is 403.
      expect(permissions).toEqual(Object.fromEntries(peers.map((peer) => [peer, peer === '203.0.113.10' || peer === '8.8.8.8' ? 0 : 403])));
      const expired = turnRestCredential(production.secret, 'production1', Date.now() - 120_000, 60_000);
      expect(await turnAllocate(production.listenIp, production.port, expired.username, expired.credential)).toEqual({ ok: false, errorCode: 401 });
    } finally {
      await production.stop();
    }
  });
});

describe('a node with turn.urls', () => {
  it('puts TURN credentials coturn accepts into every join reply, counted per edge, and never logs them', async () => {
    const lines: string[] = [];
    const config = loadConfig({
      overrides: { server: { port: 0 }, auth: { mode: 'none' }, media: { numWorkers: 1, basePort: await freeMediaBasePort() }, turn: turnConfig(coturn!) },
    });
    const node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }) });
    try {
      const client = await TestClient.open(`${node.wsUrl}?conference=turn&participant=alice&name=Alice`);
      try {
        const reply = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES });
        expect(reply.ok).toBe(true);
        const joined = reply.data as { iceServers?: Array<{ urls: string[]; username: string; credential: string }> };
        expect(joined.iceServers).toHaveLength(1);
        const [server] = joined.iceServers!;
        expect(server!.urls).toEqual([coturn!.urls.udp, coturn!.urls.tcp]);
        expect(await turnAllocate(coturn!.listenIp, coturn!.port, server!.username, server!.credential)).toMatchObject({ ok: true });
        const scrape = await node.metrics.scrape();
        expect(scrape).toContain('sfu_turn_credentials_issued_total{edge="native"} 1');
        expect(lines.join('\n')).not.toContain(server!.credential);
        expect(lines.join('\n')).not.toContain(coturn!.secret);
      } finally {
        client.close();
      }
    } finally {
      await node.stop();
    }
  });

  it('puts TURN credentials coturn accepts into the LiveKit JoinResponse.iceServers', async () => {
    const config = loadConfig({
      overrides: { server: { port: 0 }, auth: { mode: 'none' }, media: { numWorkers: 1, basePort: await freeMediaBasePort() }, turn: turnConfig(coturn!) },
    });
    const node = await SfuNode.start({ config, logger: createLogger({ level: 'warn', sink: () => undefined }) });
    try {
      // Development admission takes an unsigned LiveKit token naming the room and identity.
      const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
      const token = `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: 'lk-alice', video: { room: 'turn-lk', roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
      const connected = await LiveKitWsClient.connect(node.publicUrl, token);
      if (!connected.ok) throw new Error(`LiveKit connect refused: ${connected.status} ${connected.body}`);
      try {
        const join = await connected.client.next('join');
        expect(join.iceServers).toHaveLength(1);
        const [server] = join.iceServers;
        expect(server!.urls).toEqual([coturn!.urls.udp, coturn!.urls.tcp]);
        expect(await turnAllocate(coturn!.listenIp, coturn!.port, server!.username, server!.credential)).toMatchObject({ ok: true });
        expect(await node.metrics.scrape()).toContain('sfu_turn_credentials_issued_total{edge="livekit"} 1');
      } finally {
        connected.client.close();
      }
    } finally {
      await node.stop();
    }
  });

  it('refuses to start when the secret file cannot be read, naming the key', async () => {
    const config = loadConfig({
      overrides: { server: { port: 0 }, auth: { mode: 'none' }, media: { numWorkers: 1, basePort: await freeMediaBasePort() }, turn: { ...turnConfig(coturn!), sharedSecretFile: '/nonexistent/turn-secret' } },
    });
    await expect(SfuNode.start({ config, logger: createLogger({ level: 'error', sink: () => undefined }) })).rejects.toThrow(/turn\.sharedSecretFile: cannot read/);
  });
});
