/**
 * `npm run bench:tiers`: the two tiers of a camera side by side, motion JPEG (stream.mjpg) and
 * H.264 (stream.mp4), on the same source pictures (tier-clips.ts: capture's test pattern, whose
 * grain stands still, and testsrc2 with new noise in every frame), played by capture as `file:`
 * cameras at 30 fps. In one run:
 *
 * 1. bytes a viewer receives per second from a gateway on Redis, both tiers at once;
 * 2. SSIM and PSNR against the source, offline on the same clips (tier-quality.ts), and the
 *    CRF at which H.264 reaches motion JPEG's SSIM;
 * 3. the gateway's CPU per delivered frame at N viewers, each tier against a raw-socket floor
 *    writing the same bytes (floor.ts, --fmp4 for H.264; loadgen.ts --format fmp4);
 * 4. time from request to first picture (a complete JPEG; the first keyframe fragment after
 *    the init segment), the camera streaming and watched on the gateway already;
 * 5. capture's CPU (its process tree: the camera's worker and its FFmpeg) with motion JPEG
 *    alone, then with H.264 watched as well.
 *
 * Writes bench/results/tiers.json and tiers.md.
 *
 *   npm run bench:tiers [-- --seconds 5 --viewers 100,500 --sizes 640x480,1280x720 --requests 10]
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RedisBus } from '@camrelay/bus';
import { CAPTURE_DEFAULTS, loadOpenCV } from '@camrelay/capture';
import type { OpenCV } from '@camrelay/capture';
import { Mp4Viewer, OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { feedId } from '@camrelay/frame';
import { freePort, repoRoot, spawnCapture, spawnGateway, spawnProcess, spawnRedis } from '@camrelay/stack';
import type { CaptureService, Service } from '@camrelay/stack';
import { percentile } from './percentile.js';
import { cpuMs } from './proc.js';
import { writeRows } from './report.js';
import { CLIP_FPS, sourceClip } from './tier-clips.js';
import type { Clip } from './tier-clips.js';
import { measureLoad } from './tier-load.js';
import type { LoadResult } from './tier-load.js';
import {
  X264_CRF,
  X264_PRESET,
  encodeH264,
  encodeJpegs,
  fragmentsOf,
  h264Quality,
  jpegQuality,
  readClip,
  scratchDir,
} from './tier-quality.js';
import type { Quality } from './tier-quality.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    viewers: { type: 'string', default: '100,500' },
    sizes: { type: 'string', default: '640x480,1280x720' },
    requests: { type: 'string', default: '10' },
  },
});
const windowMs = Number(values.seconds) * 1000;
const viewerCounts = values.viewers.split(',').map(Number);
const sizes = values.sizes.split(',').map((size) => size.split('x').map(Number) as [number, number]);
const requests = Number(values.requests);
if (!(windowMs > 0) || !viewerCounts.every((n) => Number.isInteger(n) && n > 0) || !sizes.every(([w, h]) => w > 0 && h > 0))
  throw new Error('usage: --seconds S --viewers N,N --sizes WxH,WxH --requests N');

const results = join(repoRoot, 'bench', 'results');
const JPEG_QUALITY = CAPTURE_DEFAULTS.jpegQuality;
/** Past a new stream's first picture, before a window: the encoder started, the viewers settled. */
const SETTLE_MS = 2000;
/** Lower CRFs tried, in order, until H.264 reaches motion JPEG's SSIM (x264: 6 lower is about twice the bytes). */
const MATCHING_CRFS = [20, 17, 14, 11];
const startedAt = performance.now();
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const busyAtStart = loadavg()[0]!;
console.log(`${machine}; load average at start ${busyAtStart.toFixed(2)}`);

// ---- 2. Quality, offline -------------------------------------------------------------------

interface QualityResult {
  readonly clip: string;
  readonly mjpeg: Quality;
  readonly h264: Quality;
  /** X264_CRF or the first of MATCHING_CRFS at which H.264's SSIM reaches motion JPEG's; null if none does (or not tried). */
  readonly matching: (Quality & { crf: number }) | null;
}

/** What the floors serve: the load clip encoded as capture encodes it. */
interface FloorInputs {
  readonly jpegDir: string;
  readonly fmp4File: string;
}

/** A clip as capture has it (raw BGR) and as each tier encodes it. */
interface Encoded {
  readonly frames: Buffer[];
  readonly jpegs: Buffer[];
  readonly fmp4: Buffer;
}

async function encodeClip(cv: OpenCV, clip: Clip): Promise<Encoded> {
  const frames = await readClip(cv, clip);
  return { frames, jpegs: encodeJpegs(cv, clip, frames, JPEG_QUALITY), fmp4: await encodeH264(clip, frames) };
}

async function measureQuality(clip: Clip, encoded: Encoded, scratch: string, matchCrf: boolean): Promise<QualityResult> {
  const mjpeg = await jpegQuality(clip, encoded.jpegs, scratch);
  const h264 = await h264Quality(clip, encoded.fmp4, scratch);
  let matching: QualityResult['matching'] = matchCrf && h264.ssim >= mjpeg.ssim ? { ...h264, crf: X264_CRF } : null;
  for (const crf of matchCrf && !matching ? MATCHING_CRFS : []) {
    const quality = await h264Quality(clip, await encodeH264(clip, encoded.frames, crf), scratch, crf);
    if (quality.ssim < mjpeg.ssim) continue;
    matching = { ...quality, crf };
    break;
  }
  const result = { clip: clip.label, mjpeg, h264, matching };
  console.log(JSON.stringify(result));
  return result;
}

/** The floors' inputs: the clip's JPEGs as files (floor.ts --frames) and its fragmented MP4 (--fmp4), whole groups of pictures. */
function writeFloorInputs(clip: Clip, encoded: Encoded, scratch: string): FloorInputs {
  const jpegDir = join(scratch, `floor-${clip.kind}-${clip.width}x${clip.height}`);
  mkdirSync(jpegDir, { recursive: true });
  encoded.jpegs.forEach((jpeg, i) => writeFileSync(join(jpegDir, `${String(i).padStart(3, '0')}.jpg`), jpeg));
  const keyframes = fragmentsOf(encoded.fmp4).flatMap((fragment, i) => (fragment.keyframe ? [i] : []));
  if (keyframes.length !== Math.ceil(clip.frames / CLIP_FPS)) throw new Error(`the floor's H.264: keyframes at ${keyframes.join(', ')}`);
  const fmp4File = join(scratch, `floor-${clip.kind}-${clip.width}x${clip.height}.mp4`);
  writeFileSync(fmp4File, encoded.fmp4);
  return { jpegDir, fmp4File };
}

// ---- 1, 4, 5. Live: bytes, first picture, capture's CPU --------------------------------------

interface CaptureWindow {
  readonly msPerFrame: number;
  /** Of one core. */
  readonly cpuPercent: number;
  readonly fps: number;
  readonly h264Fps: number;
  /** Frames the H.264 encoder was too busy to take. */
  readonly h264Behind: number;
}

interface FirstPicture {
  /** From the request to the picture's last byte, ms. */
  readonly medianMs: number | null;
  /** How old that picture was then (its capture time to its arrival), ms. */
  readonly ageMedianMs: number | null;
}

interface LiveResult {
  readonly clip: string;
  readonly mjpegOnly: CaptureWindow & { readonly mjpegBytesPerSecond: number };
  readonly both: CaptureWindow & { readonly mjpegBytesPerSecond: number; readonly h264BytesPerSecond: number };
  readonly firstPicture: { readonly mjpeg: FirstPicture; readonly h264: FirstPicture };
}

/** Capture's CPU and counters, and the bytes some sockets read, over one window. */
async function captureWindow(capture: CaptureService, camera: string, bytes: Array<() => number>) {
  const counters = async () => {
    const text = await fetchMetrics(capture.healthUrl);
    const of = (name: string) => metricValue(text, name, `camera="${camera}"`);
    return [
      of('camrelay_capture_frames_total'),
      of('camrelay_capture_h264_frames_total'),
      of('camrelay_capture_h264_frames_behind_total'),
    ] as const;
  };
  const pid = capture.process.pid!;
  const [c0, b0, t0] = [await counters(), bytes.map((read) => read()), performance.now()];
  const cpu0 = cpuMs(pid);
  await sleep(windowMs);
  const cpu1 = cpuMs(pid);
  const [c1, b1, t1] = [await counters(), bytes.map((read) => read()), performance.now()];
  const seconds = (t1 - t0) / 1000;
  const window: CaptureWindow = {
    msPerFrame: (cpu1 - cpu0) / (c1[0] - c0[0]),
    cpuPercent: ((cpu1 - cpu0) / (t1 - t0)) * 100,
    fps: (c1[0] - c0[0]) / seconds,
    h264Fps: (c1[1] - c0[1]) / seconds,
    h264Behind: c1[2] - c0[2],
  };
  return { window, bytesPerSecond: b1.map((n, i) => (n - b0[i]!) / seconds) };
}

const socketBytes = (viewer: StreamViewer | Mp4Viewer) => () => viewer.response?.socket?.bytesRead ?? 0;

/** New viewers one after another, `requests` of each tier, spaced so that each meets another moment of the group of pictures. */
async function firstPictures(url: string, tier: 'mjpeg' | 'h264'): Promise<FirstPicture> {
  const times: number[] = [];
  const ages: number[] = [];
  for (let i = 0; i < requests; i++) {
    const asked = Date.now();
    if (tier === 'mjpeg') {
      const viewer = new StreamViewer(url, { keepJpegs: false });
      const [frame] = await viewer.waitForFrames(1, 10_000).finally(() => viewer.close());
      times.push(frame!.receivedAt - asked);
      ages.push(frame!.receivedAt - frame!.timestamp * 1000);
    } else {
      const viewer = new Mp4Viewer(url, { keepBytes: false });
      const keyframe = await viewer.waitForKeyframe(0, 10_000).finally(() => viewer.close());
      times.push(keyframe.receivedAt - asked);
      ages.push(keyframe.receivedAt - keyframe.decodeTime * 1000);
    }
    await sleep(137); // not a divisor of the second between keyframes
  }
  const median = (list: number[]) =>
    percentile(
      list.sort((a, b) => a - b),
      50,
    );
  return { medianMs: median(times), ageMedianMs: median(ages) };
}

/** The gateway's camera list is read afresh at most once a second: a camera new to it may not be there yet. */
async function untilListed(gateway: Service, camera: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string }>;
    if (cameras.some((listed) => listed.id === camera)) return;
    await sleep(100);
  }
  throw new Error(`camera ${camera} not listed by the gateway within 10 s`);
}

async function measureLive(redisUrl: string, gateway: Service, clip: Clip): Promise<LiveResult> {
  const camera = `${clip.kind}-${clip.width}x${clip.height}`;
  const capture = await spawnCapture(
    { REDIS_URL: redisUrl, CAMERAS: `${camera}=file:${clip.path},always`, JPEG_QUALITY: String(JPEG_QUALITY) },
    [camera],
  );
  await untilListed(gateway, camera);
  const mjpegUrl = `${gateway.baseUrl}/cameras/${camera}/stream.mjpg`;
  const h264Url = `${gateway.baseUrl}/cameras/${camera}/stream.mp4`;
  const mjpeg = new StreamViewer(mjpegUrl, { keepJpegs: false });
  let h264: Mp4Viewer | undefined;
  try {
    await mjpeg.waitForFrames(1);
    await sleep(SETTLE_MS);
    const alone = await captureWindow(capture, camera, [socketBytes(mjpeg)]);
    h264 = new Mp4Viewer(h264Url, { keepBytes: false });
    await h264.waitForKeyframe();
    await sleep(SETTLE_MS);
    const both = await captureWindow(capture, camera, [socketBytes(mjpeg), socketBytes(h264)]);
    const result: LiveResult = {
      clip: clip.label,
      mjpegOnly: { ...alone.window, mjpegBytesPerSecond: alone.bytesPerSecond[0]! },
      both: { ...both.window, mjpegBytesPerSecond: both.bytesPerSecond[0]!, h264BytesPerSecond: both.bytesPerSecond[1]! },
      firstPicture: { mjpeg: await firstPictures(mjpegUrl, 'mjpeg'), h264: await firstPictures(h264Url, 'h264') },
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    mjpeg.close();
    h264?.close();
    await capture.stop();
  }
}

// ---- 3. Gateway CPU against the floor --------------------------------------------------------

interface LoadPair {
  readonly tier: 'mjpeg' | 'h264';
  readonly floor: LoadResult;
  readonly gateway: LoadResult;
}

const loadTiming = { warmupMs: SETTLE_MS, durationMs: windowMs };

async function floorLoad(inputs: FloorInputs, tier: 'mjpeg' | 'h264', viewers: number): Promise<LoadResult> {
  const port = await freePort();
  const input = tier === 'mjpeg' ? ['--frames', inputs.jpegDir] : ['--fmp4', inputs.fmp4File];
  const floor = spawnProcess(process.execPath, ['bench/dist/floor.js', '--port', String(port), '--fps', String(CLIP_FPS), ...input]);
  try {
    await floor.waitFor(/floor listening/);
    return await measureLoad(`http://127.0.0.1:${port}/`, floor.process.pid!, viewers, tier === 'mjpeg' ? 'multipart' : 'fmp4', loadTiming);
  } finally {
    await floor.stop();
  }
}

async function gatewayLoad(redisUrl: string, camera: string, tier: 'mjpeg' | 'h264', viewers: number): Promise<LoadResult> {
  const gateway = await spawnGateway({ REDIS_URL: redisUrl, ...OPEN_GATEWAY });
  try {
    await gateway.ready();
    const url = `${gateway.baseUrl}/cameras/${camera}/stream.${tier === 'mjpeg' ? 'mjpg' : 'mp4'}`;
    return await measureLoad(url, gateway.process.pid!, viewers, tier === 'mjpeg' ? 'multipart' : 'fmp4', loadTiming);
  } finally {
    await gateway.stop();
  }
}

/**
 * Each tier at each count: the floor, then a fresh gateway. Capture encodes both tiers all along
 * (the H.264 feed claimed on the bus), so every measurement shares the two cores with the same work.
 */
async function measureLoads(redisUrl: string, clip: Clip, inputs: FloorInputs): Promise<LoadPair[]> {
  const camera = `load-${clip.kind}`;
  const capture = await spawnCapture({ REDIS_URL: redisUrl, CAMERAS: `${camera}=file:${clip.path},always` }, [camera]);
  const bus = new RedisBus({ url: redisUrl });
  const holder = 'bench-tiers';
  const h264Feed = feedId(camera, undefined, 'h264');
  const pairs: LoadPair[] = [];
  try {
    if (!bus.isUp) await once(bus, 'up');
    await bus.markWatched(holder, [h264Feed], 600_000);
    for (const viewers of viewerCounts) {
      for (const tier of ['mjpeg', 'h264'] as const) {
        const pair = { tier, floor: await floorLoad(inputs, tier, viewers), gateway: await gatewayLoad(redisUrl, camera, tier, viewers) };
        console.log(JSON.stringify(pair));
        pairs.push(pair);
      }
    }
  } finally {
    await bus.unmarkWatched(holder, h264Feed).catch(() => undefined);
    await bus.close();
    await capture.stop();
  }
  return pairs;
}

// ---- The report ------------------------------------------------------------------------------

const kb = (bytes: number) => `${(bytes / 1000).toFixed(bytes < 10_000 ? 1 : 0)} KB`;
const f = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const ratio = (h264: number, mjpeg: number) => `${(h264 / mjpeg).toFixed(3)} (1/${(mjpeg / h264).toFixed(1)})`;
type Row = Record<string, string>;

function row(measure: string, source: string, mjpeg: string, h264: string, against: string): Row {
  return { measure, source, 'motion JPEG': mjpeg, 'H.264': h264, 'H.264 against motion JPEG': against };
}

function bytesRows(live: readonly LiveResult[]): Row[] {
  return live.map((r) =>
    row(
      'per viewer, per second (fps)',
      r.clip,
      `${kb(r.both.mjpegBytesPerSecond)} (${f(r.both.fps)})`,
      `${kb(r.both.h264BytesPerSecond)} (${f(r.both.h264Fps)})`,
      ratio(r.both.h264BytesPerSecond, r.both.mjpegBytesPerSecond),
    ),
  );
}

function qualityRows(quality: readonly QualityResult[]): Row[] {
  const cell = (q: Quality) => `SSIM ${q.ssim.toFixed(4)}, PSNR ${q.psnr.toFixed(2)} dB, ${kb(q.bytesPerFrame)} a frame`;
  const noiseCell = (q: { ssim: number; psnr: number }) => `SSIM ${q.ssim.toFixed(4)}, PSNR ${q.psnr.toFixed(2)} dB`;
  return quality.flatMap((r) => [
    row(
      `luma quality against the source, offline (JPEG q${JPEG_QUALITY}; x264 CRF ${X264_CRF})`,
      r.clip,
      cell(r.mjpeg),
      cell(r.h264),
      `bytes ${ratio(r.h264.bytesPerFrame, r.mjpeg.bytesPerFrame)}`,
    ),
    ...(r.mjpeg.noiseFree && r.h264.noiseFree
      ? [
          row(
            'luma quality against the picture before its noise, offline',
            r.clip,
            noiseCell(r.mjpeg.noiseFree),
            noiseCell(r.h264.noiseFree),
            '',
          ),
        ]
      : []),
    // Where CRF X264_CRF already reaches motion JPEG's SSIM, the row above says all.
    ...(r.matching && r.matching.crf !== X264_CRF
      ? [
          row(
            "H.264 at motion JPEG's luma SSIM or above, offline",
            r.clip,
            `SSIM ${r.mjpeg.ssim.toFixed(4)}`,
            `CRF ${r.matching.crf}: ${cell(r.matching)}`,
            `bytes ${ratio(r.matching.bytesPerFrame, r.mjpeg.bytesPerFrame)}`,
          ),
        ]
      : []),
  ]);
}

function loadRows(loads: readonly LoadPair[], clip: string): Row[] {
  const cell = (pair: LoadPair | undefined) =>
    pair
      ? `${f(pair.gateway.cpuUsPerFrame)} µs, ${f(pair.gateway.cpuUsPerFrame! / pair.floor.cpuUsPerFrame!, 2)}× its floor's ${f(pair.floor.cpuUsPerFrame)} (${f(pair.gateway.fpsMedian)} / ${f(pair.floor.fpsMedian)} fps)`
      : '–';
  return viewerCounts.map((viewers) => {
    const [mjpeg, h264] = (['mjpeg', 'h264'] as const).map((tier) => loads.find((p) => p.tier === tier && p.gateway.viewers === viewers));
    const perFrame =
      mjpeg && h264
        ? `${f(h264.gateway.cpuUsPerFrame! / mjpeg.gateway.cpuUsPerFrame!, 2)}× per frame; floors ${f(h264.floor.cpuUsPerFrame! / mjpeg.floor.cpuUsPerFrame!, 2)}×`
        : '';
    return row(`gateway CPU per delivered frame, ${viewers} viewers (fps gateway / floor)`, clip, cell(mjpeg), cell(h264), perFrame);
  });
}

function firstPictureRows(live: readonly LiveResult[]): Row[] {
  const cell = (p: FirstPicture) => `${f(p.medianMs, 0)} ms (the picture ${f(p.ageMedianMs, 0)} ms old)`;
  return live.map((r) =>
    row(`request to first picture, median of ${requests}`, r.clip, cell(r.firstPicture.mjpeg), cell(r.firstPicture.h264), ''),
  );
}

function captureRows(live: readonly LiveResult[]): Row[] {
  return live.map((r) =>
    row(
      'capture CPU per frame (share of a core): motion JPEG alone, then with H.264 too',
      r.clip,
      `${f(r.mjpegOnly.msPerFrame, 2)} ms (${f(r.mjpegOnly.cpuPercent)} %)`,
      `${f(r.both.msPerFrame, 2)} ms (${f(r.both.cpuPercent)} %)${r.both.h264Behind > 0 ? `, ${r.both.h264Behind} frames behind` : ''}`,
      `+${f(r.both.msPerFrame - r.mjpegOnly.msPerFrame, 2)} ms a frame, +${f(r.both.cpuPercent - r.mjpegOnly.cpuPercent)} % of a core`,
    ),
  );
}

// ---- The run ---------------------------------------------------------------------------------

const clips: Clip[] = [];
for (const [width, height] of sizes)
  for (const kind of ['pattern', 'noise'] as const) clips.push(await sourceClip(join(results, 'frames'), kind, width, height));
const loadClip = clips[0]!;
const scratch = scratchDir();
const cv = await loadOpenCV(process.env);
const quality: QualityResult[] = [];
let inputs: FloorInputs | undefined;
for (const clip of clips) {
  const encoded = await encodeClip(cv, clip);
  quality.push(await measureQuality(clip, encoded, scratch, clip.width === loadClip.width));
  if (clip === loadClip) inputs = writeFloorInputs(clip, encoded, scratch);
}

const live: LiveResult[] = [];
let loads: LoadPair[];
const redis = await spawnRedis();
try {
  const gateway = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
  try {
    await gateway.ready();
    for (const clip of clips) live.push(await measureLive(redis.url, gateway, clip));
  } finally {
    await gateway.stop();
  }
  loads = await measureLoads(redis.url, loadClip, inputs!);
} finally {
  await redis.stop();
}

const rows = [
  ...bytesRows(live),
  ...qualityRows(quality),
  ...loadRows(loads, loadClip.label),
  ...firstPictureRows(live),
  ...captureRows(live),
];
const runSeconds = Math.round((performance.now() - startedAt) / 1000);
const table = writeRows(results, 'tiers', rows, {
  machine,
  loadAverageAtStart: busyAtStart,
  fps: CLIP_FPS,
  jpegQuality: JPEG_QUALITY,
  x264: { preset: X264_PRESET, crf: X264_CRF },
  windowMs,
  runSeconds,
  quality,
  live,
  loads,
});
console.log(`\n${table}\n\n${runSeconds} s`);
