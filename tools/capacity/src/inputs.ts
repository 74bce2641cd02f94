/**
 * Every measured input of the capacity model, with its value, unit, the command that measured
 * it and when: docs/capacity.md quotes them from here. Measured on the project's 2-core machine
 * (2 × AMD EPYC, 24 GiB, Node v20.20.2, Debian 12), everything on loopback.
 *
 * Defaults of the project's own configuration (MAX_VIEWERS, JPEG_QUALITY) and byte counts
 * that follow from the wire formats are here too, marked as such; a test checks them against
 * the code they come from.
 */

export interface Measured<T = number> {
  readonly value: T;
  readonly unit: string;
  /** What was measured, in a few words. */
  readonly what: string;
  /** The command that measured it, run from the repository's root. */
  readonly command: string;
  /** ISO date of the measurement. */
  readonly date: string;
}

const FRAME_SIZES_COMMAND =
  "node --input-type=module -e \"const { frameSet } = await import('./bench/dist/frames.js'); for (const [w, h] of [[320, 240], [640, 480], [1280, 720], [1920, 1080]]) { const f = await frameSet('/tmp/camrelay-capacity-frames', w, h); console.log(w + 'x' + h, Math.round(f.jpegs.reduce((s, j) => s + j.length, 0) / f.jpegs.length)); }\"";

/**
 * Average JPEG bytes of the benchmark's frames (the test pattern: colour bars with sensor-like
 * grain, moving shapes, text; 60 frames each) at JPEG_QUALITY 80, by size. Bytes per pixel
 * fall as pictures grow: 0.232 at 320x240, 0.190 at 640x480, 0.169 at 1280x720, 0.162 at
 * 1920x1080. `npm run bench` measured 58 152 bytes at 640x480 on 2026-11-25
 * (bench/results/results.json, frameBytes), within 0.2 % of this run.
 */
export const JPEG_BYTES_AT_DEFAULT_QUALITY: Measured<
  readonly { readonly width: number; readonly height: number; readonly bytes: number }[]
> = {
  value: [
    { width: 320, height: 240, bytes: 17_778 },
    { width: 640, height: 480, bytes: 58_255 },
    { width: 1280, height: 720, bytes: 155_505 },
    { width: 1920, height: 1080, bytes: 335_048 },
  ],
  unit: 'bytes per JPEG (average of 60 frames)',
  what: 'JPEG size of the test pattern at JPEG_QUALITY 80, by frame size',
  command: FRAME_SIZES_COMMAND,
  date: '2026-12-01',
};

/**
 * Gateway CPU time per delivered frame (user + system of the gateway process, over the
 * measurement window, divided by frames the viewers received), 640x480 frames of 58 152
 * bytes, 1000 viewers at 29.6 fps: 25.0 µs (24.4 at 500 viewers, 32.0 at 100 where fixed
 * costs weigh more). bench/results/results.json, run "camrelay" 640x480 1000.
 */
export const GATEWAY_US_PER_FRAME_VGA: Measured = {
  value: 25.0,
  unit: 'µs of gateway CPU per delivered frame (58 152-byte JPEG)',
  what: 'gateway CPU per delivered 640x480 frame, 1000 viewers on one gateway',
  command: 'npm run bench',
  date: '2026-11-25',
};

/**
 * The same at 1280x720, 500 viewers (25.3 fps: the machine was full): 54.7 µs. The frames were
 * made by the same generator as JPEG_BYTES_AT_DEFAULT_QUALITY's 1280x720 (155 505 bytes).
 * With the 640x480 figure this gives the cost's dependence on bytes (see model.ts).
 */
export const GATEWAY_US_PER_FRAME_HD: Measured = {
  value: 54.7,
  unit: 'µs of gateway CPU per delivered frame (about 155 500-byte JPEG)',
  what: 'gateway CPU per delivered 1280x720 frame, 500 viewers on one gateway',
  command: 'npm run bench',
  date: '2026-11-25',
};

/** The JPEG sizes the two CPU figures were measured with. */
export const GATEWAY_CPU_JPEG_BYTES = { vga: 58_152, hd: 155_505 } as const;

/**
 * The two runs of `node bench/dist/redis-egress.js` (defaults: 100 subscribers, SSUBSCRIBE /
 * SPUBLISH of 58 176-byte messages, the rate raised in 3 s steps), redis-server pinned to one
 * core that other agents' test runs shared (it was 90-100 % busy at the top steps).
 * `sustainedMBps`: the highest step delivery kept up with (≥ 95 % of published × subscribers);
 * the next step fell behind with redis-server at 69-71 % of its core, the rest taken by other
 * processes. `perCoreMBps`: MB sent per CPU-second of redis-server (its own; and with its core's
 * softirq time, which on loopback includes the receivers' TCP work).
 */
export const REDIS_EGRESS_RUNS = [
  { at: '2026-12-01T17:37:49Z', sustainedMBps: 2950, redisCpuPercent: 87, perCoreMBps: { own: 3404, withSoftirq: 2823 } },
  { at: '2026-12-01T17:38:58Z', sustainedMBps: 2057, redisCpuPercent: 71, perCoreMBps: { own: 2898, withSoftirq: 2496 } },
] as const;

/**
 * What one redis-server (7.0.15, Debian's /usr/bin/redis-server, one core: no io-threads)
 * sends to its pub/sub subscribers: the lower of REDIS_EGRESS_RUNS' sustained figures, rounded
 * down. A core of its own would do more (2.5-2.8 GB per CPU-second counting softirq), but a
 * shard shares its machine too.
 */
export const REDIS_SHARD_EGRESS_CEILING: Measured = {
  value: 2000,
  unit: 'MB/s (10^6 bytes) of pub/sub egress per redis-server core',
  what: 'sharded pub/sub egress one redis-server sustains, 100 subscribers, 58 176-byte messages, loopback',
  command: 'node bench/dist/redis-egress.js',
  date: '2026-12-01',
};

/**
 * Cameras one capture instance carries: the most that `npm run bench:capture` has run and
 * capture held at full rate, passthrough, on a 2-core host (bench/results/capture.json,
 * 2026-12-06, capture as a fleet of camera processes): 16 local MJPEG cameras of 640x480 at 30
 * fps, slowest 29.7 fps on the bus, capture at 1.78 ms of CPU per frame (0.85 of the machine's
 * 2 cores; 2.20 ms at 8 cameras, 4.36 ms for one alone), FFmpeg reading the same streams 0.14
 * ms. 32 were not run: at 1.78 ms a frame they would need 1.7 of these 2 cores for capture
 * alone. With a 320x240 feed watched too, 8 cameras held 29.7 fps (5.08 ms per frame) and 16
 * fell to 16.7; re-encoding every frame (MJPEG_PASSTHROUGH=off, or a camera that does not send
 * JPEG) held 8 cameras at 23.7 fps (7.92 ms): such cameras need more instances than this says.
 */
export const CAMERAS_PER_CAPTURE: Measured = {
  value: 16,
  unit: 'cameras (640x480 at 30 fps, MJPEG passed through) per capture instance',
  what: 'cameras one capture instance held at their full frame rate, read from local MJPEG network cameras',
  command: 'npm run bench:capture -- --cameras 1,8,16',
  date: '2026-12-06',
};

/**
 * Capture's CPU per frame per camera at the figure above: 16 cameras of 640x480 at 30 fps, passed
 * through (bench/results/capture.json: 1.78 ms; 2.20 at 8 cameras, 4.36 for one alone). With
 * H264_ENCODE_MS_PER_FRAME it gives the cameras an instance carries with H.264 watched (model.ts).
 */
export const CAPTURE_MS_PER_FRAME: Measured = {
  value: 1.78,
  unit: 'ms of capture CPU per frame per camera (16 cameras, 640x480 at 30 fps, passed through)',
  what: "capture's CPU per frame at the cameras of CAMERAS_PER_CAPTURE",
  command: 'npm run bench:capture -- --cameras 1,8,16',
  date: '2026-12-06',
};

/**
 * The run of `npm run bench:tiers` the H.264 inputs come from (bench/results/tiers.json and
 * tiers.md, 2026-12-07, its defaults: 5 s windows, 100 and 500 viewers, 640x480 and 1280x720,
 * first pictures a median of 10; load average 0.3 at its start). Two sources, each played by capture at 30 fps:
 * capture's test pattern (grain that stands still, as JPEG_BYTES_AT_DEFAULT_QUALITY's frames)
 * and FFmpeg's testsrc2 with new noise in every frame. H.264 as capture encodes it:
 * libx264, CRF 23, veryfast, Constrained Baseline, a keyframe every second.
 */
const TIERS_COMMAND = 'npm run bench:tiers';

/** The frame size bench:tiers measured at: the H.264 encode's cost is scaled from it by pixels. */
export const TIERS_FRAME = { width: 640, height: 480 } as const;

/**
 * Bytes an H.264 viewer receives per frame over those a motion JPEG viewer receives, at the same
 * size and rate: bytes read by the two viewers' sockets per second on one gateway, both tiers of
 * one camera at once. The noisy source: 187 KB/s against 986 KB/s, 0.189 (offline, frame by
 * frame: 6.4 KB against 33 KB, 0.195; at 1280x720, 0.224). The test pattern gave 0.100 (178 KB/s against 1776): its
 * grain stands still, and H.264 sends only what changes. The model takes the noisy figure, the
 * higher. Both sources made about 6 KB an H.264 frame (6.0 and 6.3 KB), so applied to the test
 * pattern's JPEG size (the model's estimate) this ratio says about twice what was measured for
 * that picture: for a real camera, measure its JPEGs (--jpeg-bytes) or its fragments (--h264-bytes).
 */
export const H264_BYTES_RATIO: Measured = {
  value: 0.189,
  unit: 'H.264 fragment bytes per motion JPEG part byte, as the viewers receive them',
  what: 'H.264 (CRF 23) against motion JPEG (quality 80), 640x480 at 30 fps, noise in every frame, bytes per viewer per second',
  command: TIERS_COMMAND,
  date: '2026-12-07',
};

/**
 * Gateway CPU per delivered frame of each tier, the same run, gateway, source (the test
 * pattern: 59 KB JPEGs, H264_GATEWAY_CPU_FRAGMENT_BYTES fragments) and viewers (100): H.264
 * 0.67 of motion JPEG's cost a frame, for a tenth of the bytes (0.52 at 500 viewers: 10.8
 * against 20.7 µs). Each against a raw-socket floor writing the same bytes: motion JPEG 1.24 ×
 * its 19.3 µs, H.264 1.14 × its 14.0 µs; both at 30 fps.
 */
export const H264_GATEWAY_US_PER_FRAME: Measured<{ readonly mjpeg: number; readonly h264: number }> = {
  value: { mjpeg: 24.0, h264: 16.0 },
  unit: 'µs of gateway CPU per delivered frame, 100 viewers of one camera',
  what: 'gateway CPU per delivered frame, motion JPEG and H.264 of the test pattern at 640x480, 100 viewers on one gateway',
  command: TIERS_COMMAND,
  date: '2026-12-07',
};

/**
 * The H.264 fragments of that measurement, as the viewers received them: 177 770 bytes a second
 * at 30.08 fps on the live run of the same source (tiers.json, live, pattern 640x480).
 */
export const H264_GATEWAY_CPU_FRAGMENT_BYTES = 5910;

/**
 * Capture CPU the H.264 encode adds per frame at 640x480: capture's process tree (the camera's
 * worker and its FFmpeg) with a viewer of each tier, less with motion JPEG alone, one camera.
 * The noisy source: 4.87 → 11.39 ms, +6.52 ms (+20 % of a core at 30 fps); the test pattern:
 * 4.67 → 10.79, +6.13 ms. The model takes the noisy figure, the higher. At 1280x720: +14.4 ms
 * (noise) and +9.5 (pattern), less than pixels alone say (+22.6): the model's scaling by pixels
 * errs high there.
 */
export const H264_ENCODE_MS_PER_FRAME: Measured = {
  value: 6.52,
  unit: 'ms of capture CPU per 640x480 frame added by the H.264 encode',
  what: "capture's CPU per frame with H.264 watched too, less motion JPEG alone, one camera, noise in every frame",
  command: TIERS_COMMAND,
  date: '2026-12-07',
};

/**
 * The init segment (ftyp + moov) capture writes for its H.264 encode (services/capture/src/h264/
 * fmp4-writer.ts, from FFmpeg's decoder configuration): on the bus with every keyframe, once a
 * second; the same to a few bytes at any size.
 */
export const H264_INIT_SEGMENT_BYTES: Measured = {
  value: 661,
  unit: 'bytes (ftyp + moov)',
  what: "the init segment of capture's H.264 encode, 640x480 at 30 fps",
  command:
    "node --input-type=module -e \"import { spawnSync } from 'node:child_process'; import { FlvReader, ffmpegArgs, fmp4InitSegment } from '@camrelay/capture'; const raw = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=30', '-frames:v', '2', '-f', 'rawvideo', '-pix_fmt', 'bgr24', 'pipe:1'], { maxBuffer: 1 << 26 }).stdout; new FlvReader((avcC) => console.log(fmp4InitSegment(avcC, 640, 480).length), () => undefined).push(spawnSync('ffmpeg', ffmpegArgs(640, 480, 30), { input: raw, maxBuffer: 1 << 26 }).stdout);\"",
  date: '2026-12-07',
};

/** Defaults of the project's configuration the model uses (not measured). */
export const CONFIGURED = {
  /** services/gateway/src/defaults.ts, GATEWAY_DEFAULTS.maxViewers (MAX_VIEWERS). */
  maxViewersPerGateway: 2000,
  /** services/capture/src/defaults.ts, jpegQuality (JPEG_QUALITY). */
  jpegQuality: 80,
  /** services/capture/src/h264/ffmpeg-args.ts: what the H.264 inputs were measured with. */
  x264Crf: 23,
  x264Preset: 'veryfast',
} as const;

/** Bytes the wire formats add to a JPEG (from the code; a test checks them against it). */
export const WIRE = {
  /**
   * packages/multipart encodePart: headers (Content-Type, Content-Length, X-Timestamp,
   * X-Sequence) and the next delimiter, for a 5-digit length and a 7-digit sequence.
   */
  multipartPartOverhead: 123,
  /** packages/frame ENVELOPE_HEADER_BYTES: the bus message's header. */
  envelopeHeader: 24,
  /** packages/frame SEGMENT_HEADER_BYTES: an H.264 fragment's bus message header. */
  segmentHeader: 32,
  /** A typical camera id's length, for the channel name in each pub/sub push. */
  cameraIdLength: 8,
} as const;
