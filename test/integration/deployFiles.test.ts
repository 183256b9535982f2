// The operator files of native-config/ do what the README's "Deployment" section says:
// the systemd unit passes `systemd-analyze verify`; the nginx example passes `nginx -t` and,
// run for real on loopback in front of a node, serves TLS, upgrades WebSockets, keeps
// /metrics internal and hands the SFU an X-Forwarded-For it trusts (server.trustedProxies)
// that a client cannot forge; the documented openssl command makes a key the SFU loads; the
// production example configuration is valid. A tool that is not installed skips its test,
// and says so in the test's name.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { loadSigningKey } from '../../src/server/auth/JwtKeys.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { statusPage } from '../../src/server/statusPage.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { findFreePort } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { PROTOCOL_NAME } from '../../src/common/protocol/messages.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = join(REPO, 'native-config/systemd/matrix-sfu.service');
const NGINX_CONF = join(REPO, 'native-config/nginx/matrix-sfu.conf');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const NGINX = '/usr/sbin/nginx';
const OPENSSL = '/usr/bin/openssl';
const children: ChildProcess[] = [];
let node: SfuNode | undefined;

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await node?.stop();
});

/** The nginx example with its ports, upstream and certificate paths moved to a test directory. */
async function nginxConfig(dir: string, ports: { http: number; https: number; upstream: number }): Promise<string> {
  await run(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=sfu.example.org',
    '-keyout', join(dir, 'privkey.pem'), '-out', join(dir, 'fullchain.pem')]);
  const site = (await readFile(NGINX_CONF, 'utf8'))
    .replaceAll('/etc/letsencrypt/live/sfu.example.org', dir)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.upstream};`)
    .replace(/listen 80;\n\s*listen \[::\]:80;/, `listen 127.0.0.1:${ports.http};`)
    .replace(/listen 443 ssl http2;\n\s*listen \[::\]:443 ssl http2;/, `listen 127.0.0.1:${ports.https} ssl http2;`);
  await writeFile(join(dir, 'site.conf'), site);
  const main = `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`;
  await writeFile(join(dir, 'nginx.conf'), main);
  return join(dir, 'nginx.conf');
}

/** GET over TLS to the self-signed test proxy. */
function tlsGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: '127.0.0.1', port, path, rejectUnauthorized: false, servername: 'sfu.example.org', timeout: 5000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('deployment files in native-config/', () => {
  const haveSystemd = existsSync(SYSTEMD_ANALYZE);
  it.skipIf(!haveSystemd)(`the systemd unit passes systemd-analyze verify${haveSystemd ? '' : ' (skipped: systemd-analyze not installed)'}`, async () => {
    // verify checks that ExecStart exists: point the unit at this tree instead of /opt/matrix-sfu.
    const dir = await mkdtemp(join(tmpdir(), 'sfu-unit-'));
    const unit = (await readFile(UNIT, 'utf8')).replaceAll('/opt/matrix-sfu', REPO.replace(/\/$/, ''));
    await writeFile(join(dir, 'matrix-sfu.service'), unit);
    const { stdout, stderr } = await run(SYSTEMD_ANALYZE, ['verify', join(dir, 'matrix-sfu.service')]);
    expect(`${stdout}${stderr}`.trim()).toBe('');
  });

  const haveNginx = existsSync(NGINX) && existsSync(OPENSSL);
  it.skipIf(!haveNginx)(`the nginx example passes nginx -t, serves TLS, upgrades WebSockets, hides /metrics and forwards an address the SFU trusts${haveNginx ? '' : ' (skipped: nginx or openssl not installed)'}`, async () => {
    const lines: string[] = [];
    const dir = await mkdtemp(join(tmpdir(), 'sfu-nginx-'));
    const upstream = await findFreePort();
    const config = loadConfig({
      overrides: {
        server: { port: upstream, dataDir: join(dir, 'data'), trustedProxies: ['127.0.0.1'] },
        media: { numWorkers: 1, basePort: await freeMediaBasePort() },
        auth: { mode: 'none' },
      },
    });
    // GET / as main.ts serves it outside dev mode.
    const routes = new Map([['/', statusPage(config, () => node)]]);
    node = await SfuNode.start({ config, routes, logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }) });
    const ports = { http: await findFreePort(), https: await findFreePort(), upstream };
    const conf = await nginxConfig(dir, ports);
    await run(NGINX, ['-t', '-q', '-c', conf, '-p', dir]);
    const nginx = spawn(NGINX, ['-c', conf, '-p', dir], { stdio: 'ignore' });
    children.push(nginx);
    await waitFor(async () => (await tlsGet(ports.https, '/healthz').catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 10_000, description: 'nginx proxies /healthz' });

    expect((await tlsGet(ports.https, '/metrics')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${upstream}/metrics`)).status).toBe(200);
    expect((await tlsGet(ports.https, '/')).body).toContain('matrix-sfu is running');
    const redirect = await fetch(`http://127.0.0.1:${ports.http}/healthz`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);

    // A client that forges X-Forwarded-For: nginx overwrites it with the address it saw.
    const socket = new WebSocket(`wss://127.0.0.1:${ports.https}/ws?conference=proxied&participant=alice`, [PROTOCOL_NAME], {
      rejectUnauthorized: false,
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await waitFor(() => lines.find((line) => line.includes('"component":"signalling"') && line.includes('"remote"')), { description: 'a session log line' });
    const remotes = lines.filter((line) => line.includes('"component":"signalling"')).map((line) => (JSON.parse(line) as { remote?: string }).remote);
    expect(remotes).toContain('127.0.0.1');
    expect(remotes).not.toContain('203.0.113.9');
    socket.close();
  }, 60_000);

  const haveOpenssl = existsSync(OPENSSL);
  it.skipIf(!haveOpenssl)(`the documented openssl command makes a JWT key the SFU loads${haveOpenssl ? '' : ' (skipped: openssl not installed)'}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sfu-jwtkey-'));
    const keyFile = join(dir, 'jwt-ed25519.pem');
    await run(OPENSSL, ['genpkey', '-algorithm', 'ed25519', '-out', keyFile]);
    const { key, generated } = await loadSigningKey({ algorithm: 'EdDSA', keyFile, dataDir: dir });
    expect(generated).toBe(false);
    expect(key.alg).toBe('EdDSA');
  });

  it('the production example configuration is valid', () => {
    const config = loadConfig({
      file: join(REPO, 'native-config/matrix/sfu.production.example.yaml'),
      env: { SFU_MATRIX_ACCESS_TOKEN: 'syt_example' },
    });
    expect(config.server.publicUrl).toBe('https://sfu.example.org');
    expect(config.server.trustedProxies).toEqual(['127.0.0.1']);
    expect(config.widget.homeserverUrls).toEqual(['https://matrix.example.org']);
  });
});
