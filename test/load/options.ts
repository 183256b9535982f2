// Command-line options of `npm run loadtest -- …`, parsed into a typed value or refused
// with every fault listed.

import { resolve } from 'node:path';
import type { LayerPreference } from './LoadRun.ts';
import { MAX_NODES, type NodeSplit } from './nodes.ts';

/** Simulcast layer bitrates of --simulcast: q 320×180, h 640×360, f 1280×720 (bits per second). */
export const DEFAULT_SIMULCAST_BITRATES: readonly [number, number, number] = [150_000, 500_000, 1_200_000];

/** What `npm run loadtest` does. */
export interface CliOptions {
  /**
   * single: one run; compare: SFU and baseline alternating; growth: SFU at each --sizes; max: largest room;
   * simulcast-compare: SFU and baseline, each without and with simulcast, alternating;
   * pipe-cost: the same room on one worker and spread over two, alternating;
   * node-cost: the same room on one node and across two, alternating.
   */
  readonly mode: 'single' | 'compare' | 'growth' | 'max' | 'simulcast-compare' | 'pipe-cost' | 'node-cost';
  readonly target: 'sfu' | 'baseline';
  readonly participants: number;
  readonly publishers: number | undefined;
  readonly subscribers: number | undefined;
  readonly video: boolean;
  readonly audio: boolean;
  readonly videoBitrate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly rooms: number;
  readonly rampPerSecond: number;
  /** mediasoup workers per node. */
  readonly workers: number;
  /** SfuNodes of our SFU target (1, or 2: a cluster on a redis-server, rooms spanning both nodes). */
  readonly nodes: number;
  /** Which node each participant of a room joins. */
  readonly nodeSplit: NodeSplit;
  readonly alternations: number;
  readonly sizes: number[];
  /** Room sizes tried by --max: start, step, limit. */
  readonly maxStart: number;
  readonly maxStep: number;
  readonly maxLimit: number;
  readonly maxWorkerLoad: number | undefined;
  /** conference.spreadConsumersPerWorker of our SFU (0 = a room stays on one worker); undefined = its default. */
  readonly spreadConsumersPerWorker: number | undefined;
  /** conference.spreadWorkerLoad of our SFU; undefined = its default. */
  readonly spreadWorkerLoad: number | undefined;
  readonly out: string;
  /** Another installed mediasoup package for the target (the SFU code and the baseline run against it). */
  readonly mediasoupDir: string | undefined;
  /** Stats polling interval of the SFU target (experiments). */
  readonly sfuStatsIntervalMs: number | undefined;
  /** Simulcast layer bitrates q, h, f when publishers send simulcast. */
  readonly simulcastBitrates: readonly [number, number, number] | undefined;
  readonly layers: LayerPreference;
  readonly layerCycleS: number;
  /** Share (0–1) of participants that join through the LiveKit edge. */
  readonly liveKitShare: number;
  readonly help: boolean;
}

export const USAGE = `npm run loadtest -- [options]

Modes (default: one run against our SFU):
  --compare              our SFU and bare mediasoup (baseline.ts) alternating, --alternations times
  --growth               our SFU at each of --sizes participants in one room
  --max                  largest all-see-all room with loss < 1 %: --max-start, grow by --max-step up to --max-limit
  --simulcast-compare    sfu, sfu simulcast, baseline, baseline simulcast alternating, --alternations times
                         (the runs without simulcast send one stream at --bitrate)
  --pipe-cost            the same room on one worker (spreadConsumersPerWorker 0) and spread over two
                         (--spread-consumers, default 1: participants alternate) alternating, --alternations
                         times, on --workers (default 2) workers: worker µs per packet that crossed a pipe
  --node-cost            the same room on one node and across two (--node-split) alternating, --alternations
                         times: worker µs per packet that crossed between nodes, delay the hop adds
Load:
  --target sfu|baseline  single mode only (default sfu)
  --participants N       total participants (default 6)
  --publishers P         publishers per room (default all)
  --subscribers S        subscribers per room (default all)
  --media av|video|audio what publishers send (default av: VP8 + Opus)
  --bitrate BPS          VP8 bits per second per publisher (default 300000)
  --duration S           measured steady-state seconds (default 10)
  --warmup S             seconds between the last join and the window (default 2)
  --rooms R              rooms the participants spread over (default 1)
  --ramp J               joins started per second, 0 = one after another (default 0)
  --workers W            mediasoup workers of our SFU, per node (default 1)
  --nodes N              SfuNodes of our SFU: 1 (default) or 2 (a cluster on a redis-server of the target's own;
                         a room spans both nodes, linked by the cascade's SRTP pipe transports)
  --node-split alternate|half  which node a participant joins (--nodes 2): alternate (default: the i-th of a room
                         on node i mod 2) or half (the first half of a room on node 1, the rest on node 2)
  --alternations K       A/B pairs in --compare (default 3)
  --sizes a,b,c          participant counts of --growth (default 10,25,50)
  --max-start N --max-step N --max-limit N   sizes of --max (default 10, 5, 60)
  --max-worker-load F    media.maxWorkerLoad of our SFU (admission control; default its config default)
  --spread-consumers N   conference.spreadConsumersPerWorker of our SFU: a worker with N consumers is full and
                         a room takes a router on another worker (0 = a room stays on one worker; default 400)
  --spread-worker-load F conference.spreadWorkerLoad of our SFU: a worker at this CPU share (0-1] is full (default 0.6)
  --out DIR              report folder (default .cache/loadtest/<time>)
  --sfu-stats-interval MS  stats polling interval of our SFU (experiment knob; default the SFU's 5000)
  --mediasoup DIR        run the target against another installed mediasoup package (DIR = …/node_modules/mediasoup)
Simulcast:
  --simulcast            publishers send three VP8 layers q/h/f (rids, L1T3, default 150000,500000,1200000 bit/s)
  --simulcast-bitrates q,h,f   layer bitrates (implies --simulcast)
  --layers high|low|mixed|cycle  preferred layer of the subscribers' simulcast consumers (default high;
                         mixed: q, h, f in turn; cycle: f, then every --layer-cycle s the next one: q, h, f, …)
  --layer-cycle S        seconds per step of --layers cycle (default 3)
Edges:
  --livekit-share F      share 0-1 of the participants that join through the LiveKit edge (/rtc) instead of
                         protocol v1, spread evenly (default 0; our SFU only: the baseline speaks protocol v1)
`;

function positive(name: string, value: string | undefined, faults: string[], allowZero = false): number {
  const number = Number(value);
  if (value === undefined || !Number.isFinite(number) || number < 0 || (!allowZero && number === 0)) {
    faults.push(`${name} needs a ${allowZero ? 'non-negative' : 'positive'} number`);
    return 1;
  }
  return number;
}

/** Parses argv (without node and script); throws an Error listing every fault. */
export function parseCliOptions(argv: readonly string[], nowIso = new Date().toISOString()): CliOptions {
  const faults: string[] = [];
  const o = {
    mode: 'single' as CliOptions['mode'],
    target: 'sfu' as CliOptions['target'],
    participants: 6,
    publishers: undefined as number | undefined,
    subscribers: undefined as number | undefined,
    video: true,
    audio: true,
    videoBitrate: 300_000,
    durationS: 10,
    warmupS: 2,
    rooms: 1,
    rampPerSecond: 0,
    workers: 1,
    nodes: 1,
    nodeSplit: 'alternate' as NodeSplit,
    alternations: 3,
    sizes: [10, 25, 50],
    maxStart: 10,
    maxStep: 5,
    maxLimit: 60,
    maxWorkerLoad: undefined as number | undefined,
    spreadConsumersPerWorker: undefined as number | undefined,
    spreadWorkerLoad: undefined as number | undefined,
    out: `.cache/loadtest/${nowIso.replace(/[:.]/g, '-')}`,
    mediasoupDir: undefined as string | undefined,
    sfuStatsIntervalMs: undefined as number | undefined,
    simulcastBitrates: undefined as readonly [number, number, number] | undefined,
    layers: 'high' as LayerPreference,
    layerCycleS: 3,
    liveKitShare: 0,
    help: false,
  };
  let workersGiven = false;
  let splitGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    const take = (): string | undefined => {
      i++;
      return value;
    };
    switch (arg) {
      case '--help':
      case '-h':
        o.help = true;
        break;
      case '--compare':
        o.mode = 'compare';
        break;
      case '--growth':
        o.mode = 'growth';
        break;
      case '--max':
        o.mode = 'max';
        break;
      case '--pipe-cost':
        o.mode = 'pipe-cost';
        break;
      case '--node-cost':
        o.mode = 'node-cost';
        break;
      case '--spread-consumers': {
        const consumers = Number(take());
        if (Number.isInteger(consumers) && consumers >= 0) o.spreadConsumersPerWorker = consumers;
        else faults.push('--spread-consumers is an integer >= 0 (0 = a room stays on one worker)');
        break;
      }
      case '--spread-worker-load': {
        const load = Number(take());
        if (Number.isFinite(load) && load > 0 && load <= 1) o.spreadWorkerLoad = load;
        else faults.push('--spread-worker-load is a CPU share in (0, 1]');
        break;
      }
      case '--simulcast-compare':
        o.mode = 'simulcast-compare';
        o.simulcastBitrates ??= DEFAULT_SIMULCAST_BITRATES;
        break;
      case '--simulcast':
        o.simulcastBitrates ??= DEFAULT_SIMULCAST_BITRATES;
        break;
      case '--simulcast-bitrates': {
        const bitrates = (take() ?? '').split(',').map(Number);
        if (bitrates.length !== 3 || bitrates.some((n) => !Number.isFinite(n) || n < 8000 || n > 20_000_000)) {
          faults.push('--simulcast-bitrates is three bitrates q,h,f in bit/s (8000 to 20000000)');
        } else o.simulcastBitrates = [bitrates[0]!, bitrates[1]!, bitrates[2]!];
        break;
      }
      case '--layers': {
        const layers = take();
        if (layers === 'high' || layers === 'low' || layers === 'mixed' || layers === 'cycle') o.layers = layers;
        else faults.push('--layers is high, low, mixed or cycle');
        break;
      }
      case '--livekit-share': {
        const share = Number(take());
        if (Number.isFinite(share) && share >= 0 && share <= 1) o.liveKitShare = share;
        else faults.push('--livekit-share is a share between 0 and 1');
        break;
      }
      case '--layer-cycle':
        o.layerCycleS = positive(arg, take(), faults);
        break;
      case '--target': {
        const target = take();
        if (target === 'sfu' || target === 'baseline') o.target = target;
        else faults.push('--target is sfu or baseline');
        break;
      }
      case '--media': {
        const media = take();
        if (media === 'av' || media === 'video' || media === 'audio') {
          o.video = media !== 'audio';
          o.audio = media !== 'video';
        } else faults.push('--media is av, video or audio');
        break;
      }
      case '--participants':
        o.participants = Math.round(positive(arg, take(), faults));
        break;
      case '--publishers':
        o.publishers = Math.round(positive(arg, take(), faults, true));
        break;
      case '--subscribers':
        o.subscribers = Math.round(positive(arg, take(), faults, true));
        break;
      case '--bitrate':
        o.videoBitrate = positive(arg, take(), faults);
        break;
      case '--duration':
        o.durationS = positive(arg, take(), faults);
        break;
      case '--warmup':
        o.warmupS = positive(arg, take(), faults, true);
        break;
      case '--rooms':
        o.rooms = Math.round(positive(arg, take(), faults));
        break;
      case '--ramp':
        o.rampPerSecond = positive(arg, take(), faults, true);
        break;
      case '--workers':
        o.workers = Math.round(positive(arg, take(), faults));
        workersGiven = true;
        break;
      case '--nodes': {
        const nodes = Number(take());
        if (Number.isInteger(nodes) && nodes >= 1 && nodes <= MAX_NODES) o.nodes = nodes;
        else faults.push(`--nodes is 1 or ${MAX_NODES} (the target runs at most ${MAX_NODES} SfuNodes: the nodes, Redis and the generator share this machine)`);
        break;
      }
      case '--node-split': {
        const split = take();
        splitGiven = true;
        if (split === 'alternate' || split === 'half') o.nodeSplit = split;
        else faults.push('--node-split is alternate or half');
        break;
      }
      case '--alternations':
        o.alternations = Math.round(positive(arg, take(), faults));
        break;
      case '--sizes': {
        const sizes = (take() ?? '').split(',').map(Number);
        if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 2)) faults.push('--sizes is a comma-separated list of integers >= 2');
        else o.sizes = sizes;
        break;
      }
      case '--max-start':
        o.maxStart = Math.round(positive(arg, take(), faults));
        break;
      case '--max-step':
        o.maxStep = Math.round(positive(arg, take(), faults));
        break;
      case '--max-limit':
        o.maxLimit = Math.round(positive(arg, take(), faults));
        break;
      case '--max-worker-load':
        o.maxWorkerLoad = positive(arg, take(), faults, true);
        break;
      case '--out': {
        const out = take();
        if (out) o.out = out;
        else faults.push('--out needs a folder');
        break;
      }
      case '--sfu-stats-interval':
        o.sfuStatsIntervalMs = Math.round(positive(arg, take(), faults));
        break;
      case '--mediasoup': {
        const dir = take();
        if (dir) o.mediasoupDir = resolve(dir);
        else faults.push('--mediasoup needs a folder');
        break;
      }
      default:
        faults.push(`unknown option ${arg}`);
    }
  }
  if (o.participants > 500) faults.push('--participants is at most 500');
  if (o.durationS > 600) faults.push('--duration is at most 600 s');
  if (o.maxLimit > 500) faults.push('--max-limit is at most 500');
  if (o.simulcastBitrates && !o.video) faults.push('--simulcast needs video (--media av or video)');
  if (o.mode === 'pipe-cost') {
    if (!workersGiven) o.workers = 2;
    else if (o.workers < 2) faults.push('--pipe-cost needs --workers 2 or more');
    if (o.spreadConsumersPerWorker === 0) faults.push('--pipe-cost spreads its second run by --spread-consumers: give one above 0 (or none: 1)');
    if (o.rooms !== 1) faults.push('--pipe-cost measures one room (--rooms 1)');
    if (o.target !== 'sfu') faults.push('--pipe-cost needs our SFU as the target');
  }
  if ((o.spreadConsumersPerWorker !== undefined || o.spreadWorkerLoad !== undefined) && o.target === 'baseline') {
    faults.push('--spread-consumers and --spread-worker-load are settings of our SFU (--target sfu)');
  }
  if (o.liveKitShare > 0 && (o.mode === 'compare' || o.mode === 'simulcast-compare' || o.target === 'baseline')) {
    faults.push('--livekit-share needs our SFU as the only target (the baseline speaks protocol v1 only)');
  }
  if (o.nodes > 1) {
    if (o.target !== 'sfu') faults.push('--nodes needs our SFU as the target (the baseline is one process)');
    if (o.mode === 'compare' || o.mode === 'simulcast-compare' || o.mode === 'pipe-cost') {
      faults.push(`--nodes ${o.nodes} does not combine with --${o.mode} (its runs compare targets or workers on one node)`);
    }
  } else if (splitGiven && o.mode !== 'node-cost') faults.push('--node-split needs --nodes 2 (or --node-cost)');
  if (o.mode === 'node-cost') {
    if (o.target !== 'sfu') faults.push('--node-cost needs our SFU as the target');
    if (o.nodes > 1) faults.push('--node-cost chooses the nodes itself (one, then two): leave --nodes out');
    if (o.rooms !== 1) faults.push('--node-cost measures one room (--rooms 1)');
  }
  if (faults.length > 0) throw new Error(`invalid options:\n  ${faults.join('\n  ')}\n\n${USAGE}`);
  return o;
}
