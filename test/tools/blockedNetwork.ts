// A browser on a network that lets only a few TCP ports through, like an agency firewall
// that allows 443 and nothing else: Chromium runs in its own network namespace (unshare -n,
// needs root), whose loopback has no UDP path and no TCP path anywhere except the ports
// given, each forwarded through a Unix socket (the filesystem is shared) to the real
// 127.0.0.1:<port> outside. Everything is torn down with the browser: the namespace dies with
// its last process, and close() removes the sockets.

import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { CHROMIUM_PATH, launchBrowser, type BrowserHandle } from './browser.ts';

const FORWARDER = fileURLToPath(new URL('netnsForwarder.ts', import.meta.url));

/** Whether this process may make network namespaces (root, or CAP_SYS_ADMIN). */
export function canUnshareNetwork(): boolean {
  return spawnSync('unshare', ['-n', 'true'], { timeout: 5000 }).status === 0;
}

/**
 * Launches Chromium in a fresh network namespace that reaches only `tcpPorts` of 127.0.0.1
 * (over TCP; no UDP at all). close() of the handle also removes the forwarding sockets.
 */
export async function launchBrowserBehindFirewall(tcpPorts: readonly number[], extraArgs: readonly string[] = []): Promise<BrowserHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sfu-e2e-netns-'));
  const servers: Server[] = [];
  const cleanUp = async (): Promise<void> => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of tcpPorts) {
      const server = createServer((inbound) => {
        const outbound = connect(port, '127.0.0.1');
        inbound.pipe(outbound).pipe(inbound);
        inbound.on('error', () => outbound.destroy());
        outbound.on('error', () => inbound.destroy());
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(join(dir, `${port}.sock`), resolve);
      });
      servers.push(server);
    }
    const wrapper = join(dir, 'chromium-in-netns.sh');
    const inner = [
      'ip link set lo up',
      `'${process.execPath}' '${FORWARDER}' '${dir}' ${tcpPorts.join(' ')} &`,
      // Give the forwarder a moment to listen before the browser's first request.
      'sleep 0.3',
      `exec '${CHROMIUM_PATH}' "$@"`,
    ].join('\n');
    await writeFile(join(dir, 'inner.sh'), `#!/bin/sh\n${inner}\n`);
    await writeFile(wrapper, `#!/bin/sh\nexec unshare -n sh '${join(dir, 'inner.sh')}' "$@"\n`);
    await chmod(wrapper, 0o755);
    const browser = await launchBrowser(extraArgs, wrapper);
    return {
      ...browser,
      consoleLines: browser.consoleLines,
      newPage: (label) => browser.newPage(label),
      close: async () => {
        try {
          await browser.close();
        } finally {
          await cleanUp();
        }
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
