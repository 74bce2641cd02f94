/**
 * The command line of `npm run capacity`: parsed with node:util parseArgs, every value checked,
 * and every mistake reported as a UsageError naming the flag.
 */
import { parseArgs } from 'node:util';
import type { Deployment } from './model.js';
import { CAMERAS_PER_CAPTURE, CONFIGURED, H264_BYTES_RATIO, REDIS_SHARD_EGRESS_CEILING } from './inputs.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * 10 Gbit/s: a gateway is sized by its network before its CPU, and 10 GbE is the common
 * server and cloud-VM link. At 1 Gbit/s a gateway carries about 50 viewers of 640x480 at
 * 30 fps, a twentieth of what its one core can write: say --nic-gbps 1 for such hosts.
 */
export const DEFAULT_NIC_GBPS = 10;
/** Plan for 70 % of every ceiling: room for bursts, a gateway lost, and the model's error. */
export const DEFAULT_UTILIZATION_PERCENT = 70;

export const HELP = `Usage: npm run capacity -- --cameras C --viewers V --fps F --size WxH [options]

How many capture instances, gateways and Redis shards a camrelay deployment needs, from
measured costs (docs/capacity.md says which, and how they were measured).

Required:
  --cameras C            cameras published (each one pub/sub channel)
  --viewers V            streams open at once, over all cameras (a viewer page with four
                         cameras showing is four)
  --fps F                frames per second of each camera (and of every viewer)
  --size WxH             frame size, e.g. 640x480

Options:
  --h264 P               percent of the viewers watching in H.264 (stream.mp4), 0 to 100
                         (default 0: all motion JPEG)
  --jpeg-bytes N         bytes per JPEG frame (default: estimated from --size at
                         JPEG_QUALITY ${CONFIGURED.jpegQuality}, from measured sizes)
  --h264-bytes N         bytes per H.264 frame, one fragment as a viewer gets it (default:
                         ${H264_BYTES_RATIO.value} of a motion JPEG part, measured: npm run bench:tiers)
  --nic-gbps G           network bandwidth per gateway, Gbit/s (default ${DEFAULT_NIC_GBPS}; gateways
                         sharing a host share its link: give each its share)
  --gateway-cores N      CPU cores per gateway (default 1: a gateway is one Node process whose
                         writes run on one thread; a fraction for a container CPU limit)
  --max-viewers N        MAX_VIEWERS of each gateway (default ${CONFIGURED.maxViewersPerGateway})
  --redis-shard-mbps M   MB/s one Redis shard's core can send (default ${REDIS_SHARD_EGRESS_CEILING.value}, measured)
  --redis-nic-gbps G     network bandwidth per Redis shard, Gbit/s (default: --nic-gbps)
  --utilization P        percent of every ceiling to plan for (default ${DEFAULT_UTILIZATION_PERCENT})
  --cameras-per-capture N
                         cameras one capture instance carries (default ${CAMERAS_PER_CAPTURE.value}, measured with
                         640x480 at 30 fps passed through: npm run bench:capture); with --h264
                         above 0, fewer for the H.264 encode (derived)
  --cameras-per-capture-h264 N
                         cameras one capture instance carries with their H.264 watched too, as
                         measured on your hosts (default: derived, see above)
  --json                 print the plan as JSON
  --help                 print this help
`;

export type Command = { readonly help: true } | { readonly help: false; readonly json: boolean; readonly deployment: Deployment };

const OPTIONS = {
  cameras: { type: 'string' },
  viewers: { type: 'string' },
  fps: { type: 'string' },
  size: { type: 'string' },
  'jpeg-bytes': { type: 'string' },
  'nic-gbps': { type: 'string' },
  'gateway-cores': { type: 'string' },
  'max-viewers': { type: 'string' },
  'redis-shard-mbps': { type: 'string' },
  'redis-nic-gbps': { type: 'string' },
  utilization: { type: 'string' },
  'cameras-per-capture': { type: 'string' },
  'cameras-per-capture-h264': { type: 'string' },
  h264: { type: 'string' },
  'h264-bytes': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Name = keyof typeof OPTIONS;

function integer(flag: Name, raw: string, min: number, max: number): number {
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError(`--${flag}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function positive(flag: Name, raw: string, max: number): number {
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value > 0 && value <= max)) throw new UsageError(`--${flag}: expected a number above 0 and at most ${max}, got "${raw}"`);
  return value;
}

/** 0 to 100, a fraction allowed (12.5): unlike positive(), 0 is a value. */
function percentage(flag: Name, raw: string): number {
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 0 && value <= 100)) throw new UsageError(`--${flag}: expected a percentage from 0 to 100, got "${raw}"`);
  return value;
}

function size(raw: string): { width: number; height: number } {
  const match = /^(\d+)x(\d+)$/.exec(raw);
  const [width, height] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || !(width >= 16 && width <= 16384 && height >= 16 && height <= 16384))
    throw new UsageError(`--size: expected WIDTHxHEIGHT, each 16 to 16384 pixels (e.g. 640x480), got "${raw}"`);
  return { width, height };
}

/** parseArgs' own errors (an unknown flag, a missing value, a stray word), reworded to start with the flag. */
function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    const quoted = /'([^' ]+)/.exec(message ?? '')?.[1] ?? '?';
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`${quoted}: no such option`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new UsageError(`${quoted}: needs a value (${quoted}=VALUE for one that starts with "-")`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected "${quoted}": every value follows its flag`);
      default:
        throw error;
    }
  }
}

export function parseCommand(argv: readonly string[]): Command {
  const values = parse(argv);
  if (values.help) return { help: true };
  const required = (flag: 'cameras' | 'viewers' | 'fps' | 'size', example: string): string => {
    const raw = values[flag];
    if (raw === undefined) throw new UsageError(`--${flag} is required (e.g. --${flag} ${example})`);
    return raw;
  };
  const optional = <T>(flag: Name, read: (raw: string) => T, fallback: T): T => {
    const raw = values[flag];
    return typeof raw === 'string' ? read(raw) : fallback;
  };
  const cameras = integer('cameras', required('cameras', '20'), 1, 1_000_000);
  const viewers = integer('viewers', required('viewers', '5000'), 1, 1_000_000_000);
  const fps = positive('fps', required('fps', '30'), 240);
  const { width, height } = size(required('size', '640x480'));
  const nicGbps = optional('nic-gbps', (raw) => positive('nic-gbps', raw, 10_000), DEFAULT_NIC_GBPS);
  return {
    help: false,
    json: values.json,
    deployment: {
      cameras,
      viewers,
      fps,
      width,
      height,
      jpegBytes: optional('jpeg-bytes', (raw) => integer('jpeg-bytes', raw, 100, 1 << 30), undefined),
      nicGbps,
      gatewayCores: optional('gateway-cores', (raw) => positive('gateway-cores', raw, 1024), 1),
      maxViewersPerGateway: optional('max-viewers', (raw) => integer('max-viewers', raw, 1, 10_000_000), CONFIGURED.maxViewersPerGateway),
      redisShardMBps: optional('redis-shard-mbps', (raw) => positive('redis-shard-mbps', raw, 1_000_000), REDIS_SHARD_EGRESS_CEILING.value),
      redisNicGbps: optional('redis-nic-gbps', (raw) => positive('redis-nic-gbps', raw, 10_000), nicGbps),
      utilization: optional('utilization', (raw) => positive('utilization', raw, 100), DEFAULT_UTILIZATION_PERCENT) / 100,
      camerasPerCapture: optional(
        'cameras-per-capture',
        (raw) => integer('cameras-per-capture', raw, 1, 1_000_000),
        CAMERAS_PER_CAPTURE.value,
      ),
      h264Share: optional('h264', (raw) => percentage('h264', raw), 0) / 100,
      h264Bytes: optional('h264-bytes', (raw) => integer('h264-bytes', raw, 100, 1 << 30), undefined),
      camerasPerCaptureH264: optional(
        'cameras-per-capture-h264',
        (raw) => integer('cameras-per-capture-h264', raw, 1, 1_000_000),
        undefined,
      ),
    },
  };
}
