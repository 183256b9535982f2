// Runs inside the browser's network namespace (test/tools/blockedNetwork.ts): listens on
// 127.0.0.1:<port> for each port given and forwards every TCP connection to the Unix socket
// <dir>/<port>.sock, which the test process (outside the namespace) connects on to the real
// 127.0.0.1:<port>. Exits when its parent (the browser) is gone.
//
// Usage: node netnsForwarder.ts <socket dir> <port>...

import { connect, createServer } from 'node:net';
import { join } from 'node:path';

const [dir, ...ports] = process.argv.slice(2);
if (!dir || ports.length === 0) {
  console.error('usage: netnsForwarder.ts <socket dir> <port>...');
  process.exit(2);
}
for (const port of ports.map(Number)) {
  createServer((inbound) => {
    const outbound = connect(join(dir, `${port}.sock`));
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  }).listen(port, '127.0.0.1');
}
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500);
