// `npm run bench`: runs every bench script in turn, each in its own Node 24
// process, and prints their reports. Benchmarks assert nothing; they report.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES: ReadonlyArray<readonly [string, string[]]> = [
  ['sframe.bench.ts', []],
  ['e2eeFrame.ts', ['2000']],
  ['metricsScrape.ts', ['100']],
  ['admission.ts', ['120']],
  // Worker CPU per forwarded packet; also compares .cache/ms3.12 when that scratch copy exists.
  ['workerCpu.ts', ['--seconds', '5']],
  // Join → first remote frame, livekit-client through the livekit edge vs our own client.
  ['liveKitJoin.ts', ['20']],
  // Join → first remote frame, direct vs relayed through a real coturn over UDP, TCP and TLS.
  ['turnJoin.ts', ['10']],
  // One room across two nodes: added one-way latency of the hop and worker CPU per piped packet.
  ['cascadeHop.ts', ['--seconds', '10']],
];

let failed = 0;
for (const [file, args] of BENCHES) {
  const path = fileURLToPath(new URL(file, import.meta.url));
  console.log(`\n=== ${file} ===`);
  const result = spawnSync(process.execPath, [path, ...args], { stdio: 'inherit', timeout: 600_000 });
  if (result.status !== 0) {
    failed++;
    console.log(`(${file} exited with ${result.status ?? result.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
