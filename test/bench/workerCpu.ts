// Worker CPU per forwarded packet, side by side: the mediasoup of this project and, when
// present, another version in a scratch folder (e.g. the old 3.12.16 at .cache/ms3.12),
// each with io_uring on and off where the version has it (3.14+ on Linux >= 6).
//
// The same load for every run: one Opus producer on a PlainTransport (plain RTP in, 1000-byte
// payloads at --pps packets/s from a Node UDP socket on loopback) and --consumers consumers,
// each on its own PlainTransport with SRTP (AES_CM_128_HMAC_SHA1_80) sending to one Node
// sink socket. So every forwarded packet goes through the worker's SRTP encryption (our
// libsrtp 3 shim on 3.19) and its UDP send path (io_uring or libuv). Worker CPU is read from
// /proc/<pid>/stat (utime + stime) over the measured seconds; forwarded packets are the
// consumers' outbound-rtp packetCount (what the worker sent; the Node sink may drop some on
// a busy machine, its count is shown too). Reports, never asserts: the machine is shared
// and the numbers are noisy.
//
// Usage: node test/bench/workerCpu.ts [--seconds 8] [--pps 2000] [--consumers 10] [--repeat 1]
//        [--mediasoup DIR]...   (default: node_modules/mediasoup and .cache/ms3.12/node_modules/mediasoup)
// Internal: --child DIR on|off|n/a  runs one configuration and prints one JSON line.

import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Options {
  seconds: number;
  pps: number;
  consumers: number;
  repeat: number;
  dirs: string[];
}

interface Result {
  version: string;
  liburing: string;
  liburingActive: boolean | undefined;
  sqeProcessed: number | undefined;
  seconds: number;
  packetsIn: number;
  packetsOut: number;
  packetsAtSink: number;
  cpuSeconds: number;
  cpuUsPerPacket: number;
  cpuPercent: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { seconds: 8, pps: 2000, consumers: 10, repeat: 1, dirs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    const number = Number(value);
    switch (arg) {
      case '--seconds':
      case '--pps':
      case '--consumers':
      case '--repeat':
        if (!Number.isFinite(number) || number <= 0) throw new Error(`${arg} needs a positive number`);
        options[arg.slice(2) as 'seconds' | 'pps' | 'consumers' | 'repeat'] = number;
        i++;
        break;
      case '--mediasoup':
        if (!value) throw new Error('--mediasoup needs a directory');
        options.dirs.push(resolve(value));
        i++;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (options.dirs.length === 0) {
    options.dirs.push(join(repo, 'node_modules/mediasoup'));
    const old = join(repo, '.cache/ms3.12/node_modules/mediasoup');
    if (existsSync(join(old, 'worker/out/Release/mediasoup-worker'))) options.dirs.push(old);
  }
  return options;
}

function packageVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** utime + stime of a process, in seconds. */
function cpuSecondsOf(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

function rtpPacket(seq: number, timestamp: number, ssrc: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 100;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc, 8);
  return Buffer.concat([header, payload]);
}

// The parts of mediasoup's API the bench uses, across 3.12 and 3.19.
interface MsTransport {
  tuple: { localPort: number };
  produce(options: unknown): Promise<{ id: string }>;
  consume(options: unknown): Promise<MsConsumer>;
  connect(options: unknown): Promise<void>;
}
interface MsConsumer {
  getStats(): Promise<Array<{ type?: string; packetCount?: number }>>;
}
interface MsRouter {
  rtpCapabilities: unknown;
  createPlainTransport(options: unknown): Promise<MsTransport>;
}
interface MsWorker {
  pid: number;
  createRouter(options: unknown): Promise<MsRouter>;
  dump(): Promise<{ liburing?: { sqeProcessCount?: number } }>;
  close(): void;
}
interface Ms {
  version: string;
  createWorker(options: unknown): Promise<MsWorker>;
}

async function runChild(dir: string, liburing: string, options: Options): Promise<Result> {
  const ms = createRequire(import.meta.url)(dir) as Ms;
  const [major, minor] = ms.version.split('.').map(Number) as [number, number];
  const modern = major > 3 || minor >= 13;
  const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const worker = await ms.createWorker({ logLevel: 'warn', ...(liburing === 'off' ? { disableLiburing: true } : {}) });
  const sink = createSocket('udp4');
  const sender = createSocket('udp4');
  try {
    const router = await worker.createRouter({
      mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000, channels: 2 }],
    });
    const listen = modern ? { listenInfo: { protocol: 'udp', ip: '127.0.0.1' } } : { listenIp: '127.0.0.1' };
    const inbound = await router.createPlainTransport({ ...listen, rtcpMux: true, comedia: true });
    const ssrc = 0x1234_5678;
    const producer = await inbound.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48_000, channels: 2 }],
        encodings: [{ ssrc }],
      },
    });

    let received = 0;
    sink.on('message', () => received++);
    await new Promise<void>((done) => sink.bind(0, '127.0.0.1', done));
    const sinkPort = sink.address().port;
    const consumers: MsConsumer[] = [];
    const sentByConsumers = async (): Promise<number> => {
      let total = 0;
      for (const consumer of consumers) {
        for (const stat of await consumer.getStats()) if (stat.type === 'outbound-rtp') total += stat.packetCount ?? 0;
      }
      return total;
    };
    for (let i = 0; i < options.consumers; i++) {
      const outbound = await router.createPlainTransport({
        ...listen,
        rtcpMux: true,
        comedia: false,
        enableSrtp: true,
        srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
      });
      await outbound.connect({
        ip: '127.0.0.1',
        port: sinkPort,
        srtpParameters: { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: randomBytes(30).toString('base64') },
      });
      consumers.push(await outbound.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities }));
    }

    const payload = randomBytes(1000);
    let seq = 0;
    let sent = 0;
    const perTick = Math.max(1, Math.round(options.pps / 100));
    const tick = setInterval(() => {
      for (let i = 0; i < perTick; i++) {
        sender.send(rtpPacket(seq, seq * 960, ssrc, payload), inbound.tuple.localPort, '127.0.0.1');
        seq++;
        sent++;
      }
    }, 10);
    try {
      await new Promise((done) => setTimeout(done, 1000)); // warm-up
      const cpuBefore = cpuSecondsOf(worker.pid, ticksPerSecond);
      const receivedBefore = received;
      const sentBefore = sent;
      const sqeBefore = (await worker.dump()).liburing?.sqeProcessCount;
      const forwardedBefore = await sentByConsumers();
      const started = process.hrtime.bigint();
      await new Promise((done) => setTimeout(done, options.seconds * 1000));
      const cpuAfter = cpuSecondsOf(worker.pid, ticksPerSecond);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const dump = await worker.dump();
      const packetsOut = (await sentByConsumers()) - forwardedBefore;
      const packetsAtSink = received - receivedBefore;
      const cpuSeconds = cpuAfter - cpuBefore;
      return {
        version: ms.version,
        liburing,
        liburingActive: modern ? dump.liburing !== undefined : undefined,
        sqeProcessed:
          dump.liburing?.sqeProcessCount !== undefined && sqeBefore !== undefined
            ? dump.liburing.sqeProcessCount - sqeBefore
            : undefined,
        seconds,
        packetsIn: sent - sentBefore,
        packetsOut,
        packetsAtSink,
        cpuSeconds,
        cpuUsPerPacket: packetsOut > 0 ? (cpuSeconds * 1e6) / packetsOut : Number.NaN,
        cpuPercent: (cpuSeconds / seconds) * 100,
      };
    } finally {
      clearInterval(tick);
    }
  } finally {
    sender.close();
    sink.close();
    worker.close();
  }
}

function runParent(options: Options): void {
  const self = fileURLToPath(import.meta.url);
  const passOn = ['--seconds', String(options.seconds), '--pps', String(options.pps), '--consumers', String(options.consumers)];
  const results: Result[] = [];
  console.log(
    `worker CPU per forwarded packet: ${options.pps} pps in (1000-byte Opus payloads) x ${options.consumers} SRTP consumers, ${options.seconds} s, loopback`,
  );
  for (let round = 0; round < options.repeat; round++) {
    for (const dir of options.dirs) {
      const version = packageVersion(dir);
      const [, minor] = version.split('.').map(Number) as [number, number];
      const settings = minor >= 14 ? ['on', 'off'] : ['n/a'];
      for (const liburing of settings) {
        const env = { ...process.env };
        delete env['MEDIASOUP_WORKER_BIN'];
        const child = spawnSync(process.execPath, [self, '--child', dir, liburing, ...passOn], {
          encoding: 'utf8',
          env,
          timeout: (options.seconds + 60) * 1000,
        });
        const line = child.stdout.split('\n').find((text) => text.startsWith('{'));
        if (child.status !== 0 || !line) {
          console.log(`${version} io_uring ${liburing}: failed (${child.status ?? child.signal}) ${child.stderr.slice(-500)}`);
          continue;
        }
        results.push(JSON.parse(line) as Result);
      }
    }
  }
  console.log('version   io_uring  active  sqe/s     in pps  out pps  at sink  worker CPU %  CPU us/packet');
  for (const r of results) {
    console.log(
      [
        r.version.padEnd(9),
        r.liburing.padEnd(9),
        String(r.liburingActive ?? '-').padEnd(7),
        (r.sqeProcessed === undefined ? '-' : (r.sqeProcessed / r.seconds).toFixed(0)).padEnd(9),
        (r.packetsIn / r.seconds).toFixed(0).padStart(6),
        (r.packetsOut / r.seconds).toFixed(0).padStart(8),
        (r.packetsAtSink / r.seconds).toFixed(0).padStart(8),
        r.cpuPercent.toFixed(1).padStart(13),
        r.cpuUsPerPacket.toFixed(2).padStart(14),
      ].join(' '),
    );
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  const [, dir, liburing, ...rest] = argv;
  const options = parseOptions(rest);
  runChild(dir!, liburing!, options).then(
    (result) => {
      console.log(JSON.stringify(result));
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  runParent(parseOptions(argv));
}
