/**
 * `npm run bench:capture`: cameras per capture, against the floor. Capture reads N local network
 * cameras (MJPEG over HTTP, 640x480 at 30 fps: tools/clients' MJPEG sources, in a child process
 * so they do not share an event loop with anything measured) and publishes them to a
 * redis-server. For each N and mode: capture's CPU per source frame published (its process and
 * every process below it), the slowest camera's frame rate as seen on the bus, capture's memory,
 * and how busy the whole machine was (anything else running on it shows there).
 * The floor, measured in the same run just before, on the same N streams: FFmpeg reading each
 * one and throwing it away (`ffmpeg -f mpjpeg -i URL -c copy -f null -`, a process per camera),
 * the least that reading a network camera costs.
 *
 * Modes: passthrough (capture publishes the cameras' own JPEGs, the default); re-encode
 * (MJPEG_PASSTHROUGH=off: every frame decoded and encoded again, as for a camera that does not
 * send JPEG); 320x240 (passthrough, with one viewer per camera of its 320x240 feed on a gateway,
 * so capture also decodes, resizes and encodes that size). A mode goes on to more cameras only
 * while it holds every camera at 90 % of its rate or more.
 *
 * It uses only environment variables, the bus and /proc: it measures whatever `npm run capture`
 * runs, one process or a fleet of them. Writes bench/results/capture.json and capture.md.
 *
 *   npm run bench:capture [-- --cameras 1,8,32,64 --modes passthrough,re-encode,320x240 --seconds 12]
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY, StreamViewer, spawnMjpegSources } from '@camrelay/clients';
import type { MjpegSources } from '@camrelay/clients';
import { framesChannel } from '@camrelay/bus';
import { feedId } from '@camrelay/frame';
import { repoRoot, spawnCapture, spawnGateway, spawnProcess, spawnRedis } from '@camrelay/stack';
import type { Running } from '@camrelay/stack';
import { frameSet } from './frames.js';
import { cpuMs, machineBusyMs, processTree, treeMemoryBytes } from './proc.js';
import { writeRows } from './report.js';

const MODES = {
  passthrough: { env: {}, smaller: undefined },
  're-encode': { env: { MJPEG_PASSTHROUGH: 'off' }, smaller: undefined },
  '320x240': { env: {}, smaller: '320x240' },
} as const satisfies Record<string, { env: NodeJS.ProcessEnv; smaller: string | undefined }>;
type Mode = keyof typeof MODES;

const { values } = parseArgs({
  options: {
    cameras: { type: 'string', default: '1,8,32,64' },
    modes: { type: 'string', default: Object.keys(MODES).join(',') },
    seconds: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '4' },
    /** File names under bench/results: a partial run keeps the full one's. */
    out: { type: 'string', default: 'capture' },
  },
});
const cameraCounts = values.cameras.split(',').map(Number);
if (cameraCounts.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error(`--cameras: expected counts like 1,8,32, got ${values.cameras}`);
const modes = values.modes.split(',') as Mode[];
const unknown = modes.find((mode) => !(mode in MODES));
if (unknown) throw new Error(`--modes: no mode "${unknown}"; the modes are ${Object.keys(MODES).join(', ')}`);
const windowMs = Number(values.seconds) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const results = join(repoRoot, 'bench', 'results');
const FPS = 30;
/** A camera that loses more than a tenth of its frames is not held: no more cameras for that mode. */
const HOLD = 0.9;
const cores = availableParallelism();

interface Floor {
  readonly msPerFrame: number;
  readonly slowestFps: number;
}

interface Measured {
  readonly cameras: number;
  readonly mode: Mode;
  readonly processes: number;
  readonly msPerFrame: number;
  readonly cores: number;
  readonly slowestFps: number;
  readonly smallerSlowestFps: number | null;
  readonly rssMB: number;
  readonly pssMB: number;
  /** Cores the whole machine kept busy over the window: capture, the cameras, Redis, this process and anything else running. */
  readonly machineBusyCores: number;
}

async function until(test: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/** Counts the messages on the frames channels it is told to watch (pub/sub; the payload is not read). */
class BusCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly subscriber: Redis) {
    subscriber.on('messageBuffer', (channel: Buffer) => {
      const name = channel.toString('latin1');
      this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    });
  }
  async watch(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.counts.set(channel, 0);
    await this.subscriber.subscribe(...channels);
  }
  async forget(): Promise<void> {
    await this.subscriber.unsubscribe();
    this.counts.clear();
  }
  of(channels: readonly string[]): number[] {
    return channels.map((channel) => this.counts.get(channel) ?? 0);
  }
}

/** The floor: one FFmpeg per camera, stream copied to nothing; CPU and frames read over the window. */
async function measureFloor(urls: readonly string[]): Promise<Floor> {
  const ffmpegs = urls.map((url) =>
    spawnProcess(
      'ffmpeg',
      // -progress prints `frame=N` every 0.1 s: the frames read, without parsing its log.
      ['-hide_banner', '-loglevel', 'error', '-nostdin', '-nostats', '-progress', 'pipe:1', '-stats_period', '0.1'].concat([
        '-f',
        'mpjpeg',
        '-i',
        url,
        '-c',
        'copy',
        '-f',
        'null',
        '-',
      ]),
      {},
      { keepLines: 60 },
    ),
  );
  const framesRead = (ffmpeg: Running) => Number(ffmpeg.output.findLast((line) => line.startsWith('frame='))?.slice('frame='.length) ?? 0);
  try {
    await until(() => ffmpegs.every((ffmpeg) => framesRead(ffmpeg) > 0), 'every FFmpeg reading its camera', 30_000);
    await sleep(Math.min(warmupMs, 2000)); // past FFmpeg's start-up (its libraries load in ~50 ms of CPU)
    const take = () => ({ at: performance.now(), cpu: ffmpegs.map((f) => cpuMs(f.process.pid!)), frames: ffmpegs.map(framesRead) });
    const start = take();
    await sleep(windowMs);
    const end = take();
    const seconds = (end.at - start.at) / 1000;
    const frames = end.frames.map((n, i) => n - start.frames[i]!);
    const cpu = end.cpu.reduce((sum, ms, i) => sum + ms - start.cpu[i]!, 0);
    return { msPerFrame: cpu / frames.reduce((a, b) => a + b, 0), slowestFps: Math.min(...frames) / seconds };
  } finally {
    await Promise.all(ffmpegs.map((ffmpeg) => ffmpeg.stop()));
  }
}

/** Capture on N cameras in one mode; `run` makes the camera ids unique, so no claim or lease of a previous run applies. */
async function measureCapture(redisUrl: string, bus: BusCounter, urls: readonly string[], mode: Mode, run: number): Promise<Measured> {
  const ids = urls.map((_, i) => `r${run}cam${i}`);
  const { env, smaller } = MODES[mode];
  const channels = ids.map((id) => framesChannel(id));
  const smallerChannels = smaller ? ids.map((id) => framesChannel(feedId(id, smaller))) : [];
  await bus.watch([...channels, ...smallerChannels]);
  const cameras = ids.map((id, i) => `${id}=${urls[i]},always`).join(';');
  // Ready when the bus says so, not from capture's log lines: those change with capture's design.
  const capture = await spawnCapture({ REDIS_URL: redisUrl, CAMERAS: cameras, ...env });
  let gateway: Running | undefined;
  const viewers: StreamViewer[] = [];
  try {
    await until(() => bus.of(channels).every((n) => n > 0), `${mode}: every camera publishing`, 60_000 + urls.length * 1000);
    if (smaller) {
      const started = await spawnGateway({ REDIS_URL: redisUrl, ...OPEN_GATEWAY });
      gateway = started;
      await started.ready();
      // One viewer per camera claims its smaller feed; ?fps=1 keeps the gateway and this process
      // light, while capture encodes the size for every frame all the same.
      for (const id of ids)
        viewers.push(new StreamViewer(`${started.baseUrl}/cameras/${id}/stream.mjpg?size=${smaller}&fps=1`, { keepJpegs: false }));
      await until(() => bus.of(smallerChannels).every((n) => n > 0), `${mode}: every camera publishing ${smaller}`, 30_000);
    }
    await sleep(warmupMs);
    const pid = capture.process.pid!;
    let [rss, pss, processes] = [0, 0, 0];
    const sample = () => {
      const memory = treeMemoryBytes(pid);
      [rss, pss, processes] = [Math.max(rss, memory.rss), Math.max(pss, memory.pss), Math.max(processes, processTree(pid).length)];
    };
    const take = () => ({
      at: performance.now(),
      cpu: cpuMs(pid),
      machine: machineBusyMs(),
      frames: bus.of(channels),
      smaller: bus.of(smallerChannels),
    });
    const start = take();
    const sampler = setInterval(sample, 1000);
    await sleep(windowMs);
    const end = take();
    clearInterval(sampler);
    sample();
    const seconds = (end.at - start.at) / 1000;
    const frames = end.frames.map((n, i) => n - start.frames[i]!);
    const total = frames.reduce((a, b) => a + b, 0);
    const smallerFrames = end.smaller.map((n, i) => n - start.smaller[i]!);
    return {
      cameras: urls.length,
      mode,
      processes,
      msPerFrame: (end.cpu - start.cpu) / total,
      cores: (end.cpu - start.cpu) / 1000 / seconds,
      slowestFps: Math.min(...frames) / seconds,
      smallerSlowestFps: smaller ? Math.min(...smallerFrames) / seconds : null,
      rssMB: rss / 2 ** 20,
      pssMB: pss / 2 ** 20,
      machineBusyCores: (end.machine - start.machine) / 1000 / seconds,
    };
  } finally {
    for (const viewer of viewers) viewer.close();
    await gateway?.stop();
    await capture.stop();
    await bus.forget();
  }
}

const frames = await frameSet(join(results, 'frames'), 640, 480);
const jpegBytes = Math.round(frames.jpegs.reduce((sum, jpeg) => sum + jpeg.length, 0) / frames.jpegs.length);
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const rows: Array<Record<string, string | number>> = [];
const measured: Array<Measured & { floorMsPerFrame: number; floorSlowestFps: number }> = [];
const stopped: string[] = [];

const redis = await spawnRedis();
const subscriber = new Redis(redis.url);
const bus = new BusCounter(subscriber);
let sources: MjpegSources | undefined;
try {
  sources = await spawnMjpegSources({ jpegs: frames.jpegs, fps: FPS });
  const active = new Set(modes);
  let run = 0;
  for (const n of cameraCounts) {
    if (active.size === 0) break;
    const urls = Array.from({ length: n }, (_, i) => sources!.url('healthy', i));
    const floor = await measureFloor(urls);
    console.log(JSON.stringify({ cameras: n, floor }));
    // FFmpeg alone cannot keep up: capture is measured at this count all the same, and no more.
    const floorHeld = floor.slowestFps >= HOLD * FPS;
    if (!floorHeld)
      stopped.push(
        `all modes: not past ${n} cameras: FFmpeg alone read the slowest camera at ${floor.slowestFps.toFixed(1)} fps of ${FPS}`,
      );
    for (const mode of [...active]) {
      let result: Measured;
      try {
        result = await measureCapture(redis.url, bus, urls, mode, run++);
      } catch (error) {
        active.delete(mode);
        stopped.push(`${mode}: failed at ${n} cameras: ${(error as Error).message.split('\n')[0]}`);
        continue;
      }
      measured.push({ ...result, floorMsPerFrame: floor.msPerFrame, floorSlowestFps: floor.slowestFps });
      const row = {
        cameras: n,
        mode: MODES[mode].smaller ? `passthrough + ${MODES[mode].smaller}` : mode,
        'capture processes': result.processes,
        'capture CPU ms / frame': result.msPerFrame.toFixed(2),
        'ffmpeg ms / frame': floor.msPerFrame.toFixed(2),
        '× floor': `${(result.msPerFrame / floor.msPerFrame).toFixed(1)}×`,
        'capture cores': result.cores.toFixed(2),
        'slowest camera fps': result.slowestFps.toFixed(1),
        [`slowest ${MODES['320x240'].smaller} fps`]: result.smallerSlowestFps === null ? '' : result.smallerSlowestFps.toFixed(1),
        'ffmpeg slowest fps': floor.slowestFps.toFixed(1),
        'capture RSS / PSS MB': `${result.rssMB.toFixed(0)} / ${result.pssMB.toFixed(0)}`,
        'machine busy, cores': `${result.machineBusyCores.toFixed(2)} of ${cores}`,
      };
      console.log(JSON.stringify(row));
      rows.push(row);
      if (result.slowestFps < HOLD * FPS) {
        active.delete(mode);
        stopped.push(
          `${mode}: not past ${n} cameras: the slowest camera had ${result.slowestFps.toFixed(1)} fps of ${FPS} (capture on ${result.cores.toFixed(2)} of ${cores} cores)`,
        );
      }
    }
    if (!floorHeld) break;
  }
} finally {
  await sources?.close();
  subscriber.disconnect();
  await redis.stop();
}

console.log(
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; ${FPS} fps cameras of 640x480 JPEGs of ${Math.round(jpegBytes / 1024)} KB on average; the cameras, Redis, capture, FFmpeg and this process on the same machine; ${windowMs / 1000} s windows.\n`,
);
console.log(writeRows(results, values.out, rows, { machine, fps: FPS, jpegBytes, windowMs, stopped, measured }));
for (const line of stopped) console.log(`stopped: ${line}`);
