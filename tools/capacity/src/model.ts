/**
 * The capacity model: pure functions from a deployment (cameras, viewers, frame rate and size,
 * the hardware) to what it needs (capture instances, gateways, Redis egress, Redis shards). Every
 * measured number comes from inputs.ts; nothing here reads a clock, a file or the environment.
 *
 * Units: bytes, seconds, MB = 10^6 bytes, Gbit = 10^9 bits.
 */
import {
  GATEWAY_CPU_JPEG_BYTES,
  GATEWAY_US_PER_FRAME_HD,
  GATEWAY_US_PER_FRAME_VGA,
  JPEG_BYTES_AT_DEFAULT_QUALITY,
  WIRE,
} from './inputs.js';

export interface Deployment {
  readonly cameras: number;
  /** Open streams at once, over all cameras (a viewer page showing four cameras is four). */
  readonly viewers: number;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** JPEG bytes per frame; estimated from width × height when absent. */
  readonly jpegBytes?: number | undefined;
  /** Network bandwidth one gateway may use for its viewers, Gbit/s. */
  readonly nicGbps: number;
  /** CPU cores one gateway process uses (a fraction for a container's CPU limit). */
  readonly gatewayCores: number;
  /** MAX_VIEWERS of each gateway. */
  readonly maxViewersPerGateway: number;
  /** What one Redis shard's core can send, MB/s. */
  readonly redisShardMBps: number;
  /** Network bandwidth of one Redis shard, Gbit/s. */
  readonly redisNicGbps: number;
  /** The share of each ceiling (CPU, NIC, Redis) to plan for, 0 < u ≤ 1. */
  readonly utilization: number;
  /** Cameras one capture instance carries (measured: CAMERAS_PER_CAPTURE). */
  readonly camerasPerCapture: number;
}

export const MB = 1e6;

const pixels = (width: number, height: number) => width * height;

/**
 * JPEG bytes of a frame of width × height at the default quality: bytes per pixel interpolated
 * between the measured sizes on a log scale of pixels, and carried on beyond them with the
 * slope of the nearest two (bytes per pixel fall slowly as pictures grow).
 */
export function estimateJpegBytes(width: number, height: number): number {
  const points = [...JPEG_BYTES_AT_DEFAULT_QUALITY.value]
    .map((p) => ({ x: Math.log(pixels(p.width, p.height)), bpp: p.bytes / pixels(p.width, p.height) }))
    .sort((a, b) => a.x - b.x);
  const x = Math.log(pixels(width, height));
  let i = points.findIndex((p) => p.x >= x);
  if (i <= 0) i = 1; // below the smallest, or exactly it: the first segment
  const [a, b] = [points[i - 1]!, points[i]!];
  const bpp = a.bpp + ((b.bpp - a.bpp) * (x - a.x)) / (b.x - a.x);
  // Extrapolated far beyond the measurements, bytes per pixel never drop below half the lowest measured.
  const floor = Math.min(...points.map((p) => p.bpp)) / 2;
  return Math.round(Math.max(bpp, floor) * pixels(width, height));
}

/** One multipart part as the gateway writes it to every viewer: headers, JPEG, next delimiter. */
export function partBytes(jpegBytes: number): number {
  return jpegBytes + WIRE.multipartPartOverhead;
}

/** One pub/sub push as Redis writes it to a subscriber (RESP2 `smessage`, channel, envelope). */
export function redisMessageBytes(jpegBytes: number, cameraIdLength: number = WIRE.cameraIdLength): number {
  const channel = 'camrelay:{}:frames'.length + cameraIdLength;
  const bulk = (n: number) => `$${n}\r\n`.length + n + 2;
  const payload = WIRE.envelopeHeader + jpegBytes;
  return '*3\r\n'.length + bulk('smessage'.length) + bulk(channel) + bulk(payload);
}

/**
 * Gateway CPU per delivered frame, µs: a fixed part and a part per byte, the line through the
 * benchmark's two measurements (640x480 and 1280x720). The cost grows with bytes (the kernel
 * copies every part into every socket), a little less than in proportion.
 */
export function gatewayUsPerFrame(jpegBytes: number): number {
  const [x0, y0] = [partBytes(GATEWAY_CPU_JPEG_BYTES.vga), GATEWAY_US_PER_FRAME_VGA.value];
  const [x1, y1] = [partBytes(GATEWAY_CPU_JPEG_BYTES.hd), GATEWAY_US_PER_FRAME_HD.value];
  const perByte = (y1 - y0) / (x1 - x0);
  return y0 + perByte * (partBytes(jpegBytes) - x0);
}

/**
 * Capture instances for C cameras: ⌈C / cameras per instance⌉. A camera is read by one capture
 * at a time, so instances add up; the figure per instance is measured, not derived (capture's
 * cost per frame falls as cameras share its fixed costs, and the machine's other work counts).
 */
export function captureInstancesNeeded(cameras: number, camerasPerCapture: number): number {
  return Math.ceil(cameras / camerasPerCapture);
}

export type Limit = 'cpu' | 'nic' | 'max-viewers';

/** Viewers one gateway can carry under each limit, at the planned utilization. */
export function viewersPerGateway(d: Deployment, jpegBytes: number): Record<Limit, number> {
  const cpuSecondsPerViewer = (d.fps * gatewayUsPerFrame(jpegBytes)) / 1e6;
  const bytesPerViewer = d.fps * partBytes(jpegBytes);
  return {
    cpu: Math.floor((d.gatewayCores * d.utilization) / cpuSecondsPerViewer),
    nic: Math.floor((d.nicGbps * 1e9 * d.utilization) / 8 / bytesPerViewer),
    'max-viewers': d.maxViewersPerGateway,
  };
}

/**
 * Gateways needed: the viewers over the tightest limit's viewers per gateway, rounded up. That
 * limit binds: the others leave room on every gateway.
 */
export function gatewaysNeeded(viewers: number, perGateway: Record<Limit, number>): { gateways: number; binding: Limit } {
  const binding = (['cpu', 'nic', 'max-viewers'] as const).reduce((tightest, limit) =>
    perGateway[limit] < perGateway[tightest] ? limit : tightest,
  );
  const per = perGateway[binding];
  return { gateways: per >= 1 ? Math.max(1, Math.ceil(viewers / per)) : Infinity, binding };
}

/**
 * Expected number of gateways watching one camera: the load balancer gives each of G gateways
 * V / G viewers (leastconn), and each viewer watches one of C cameras chosen uniformly and
 * independently. A gateway misses a camera with probability (1 − 1/C)^(V/G).
 */
export function expectedGatewaysPerCamera(viewers: number, gateways: number, cameras: number): number {
  if (cameras === 1) return gateways;
  const missed = Math.exp((viewers / gateways) * Math.log1p(-1 / cameras));
  return gateways * (1 - missed);
}

export interface ShardPlan {
  /** Shards needed, or null when one camera's egress alone exceeds a shard. */
  readonly shards: number | null;
  /** A camera is never split: the busiest shard holds this many cameras. */
  readonly camerasOnBusiestShard: number;
  readonly busiestShardMBps: number;
  readonly meanShardMBps: number;
}

/**
 * Shards for C cameras of equal egress on shards of a given capacity: a camera's channel lives
 * in one slot, so a shard holds ⌊capacity / per camera⌋ cameras and C cameras need
 * ⌈C / that⌉ shards (at least ⌈total / capacity⌉). Assumes the cameras' slots are spread evenly.
 */
export function shardsNeeded(cameras: number, perCameraMBps: number, shardCapacityMBps: number): ShardPlan {
  const fit = perCameraMBps > 0 ? Math.floor(shardCapacityMBps / perCameraMBps) : cameras;
  if (fit < 1) return { shards: null, camerasOnBusiestShard: 1, busiestShardMBps: perCameraMBps, meanShardMBps: perCameraMBps };
  const shards = Math.ceil(cameras / Math.min(fit, cameras));
  const camerasOnBusiestShard = Math.ceil(cameras / shards);
  return {
    shards,
    camerasOnBusiestShard,
    busiestShardMBps: camerasOnBusiestShard * perCameraMBps,
    meanShardMBps: (cameras * perCameraMBps) / shards,
  };
}

export interface RedisCase {
  /** (gateway, camera) subscriptions. */
  readonly pairs: number;
  readonly egressMBps: number;
  readonly shardPlan: ShardPlan;
}

export interface Plan {
  readonly deployment: Deployment;
  readonly jpegBytes: number;
  readonly jpegBytesEstimated: boolean;
  /** Capture instances for the cameras. */
  readonly captureInstances: number;
  readonly partBytes: number;
  readonly viewerMBps: number;
  /** All viewers together: what the gateways send, and what the load balancer passes on. */
  readonly totalViewerMBps: number;
  readonly gatewayUsPerFrame: number;
  readonly viewersPerGateway: Record<Limit, number>;
  readonly gateways: number;
  readonly binding: Limit;
  readonly viewersOnEachGateway: number;
  readonly redisMessageBytes: number;
  /** One (gateway, camera) subscription, MB/s out of Redis. */
  readonly pairMBps: number;
  /** Into each gateway from Redis when it watches every camera, MB/s. */
  readonly gatewayIngressMBps: number;
  /**
   * That ingress over what the gateway writes to its viewers. Its CPU (reading and parsing
   * Redis's pushes) is not in the model: the benchmark had one camera, where it is negligible.
   */
  readonly gatewayIngressShare: number;
  readonly shardCapacityMBps: number;
  readonly shardLimit: 'cpu' | 'nic';
  readonly worst: RedisCase;
  readonly expected: RedisCase;
}

export function plan(d: Deployment): Plan {
  const jpegBytes = d.jpegBytes ?? estimateJpegBytes(d.width, d.height);
  const perGateway = viewersPerGateway(d, jpegBytes);
  const { gateways, binding } = gatewaysNeeded(d.viewers, perGateway);
  const message = redisMessageBytes(jpegBytes);
  const pairMBps = (d.fps * message) / MB;
  const shardCpu = d.redisShardMBps * d.utilization;
  const shardNic = (d.redisNicGbps * 1e9 * d.utilization) / 8 / MB;
  const shardCapacityMBps = Math.min(shardCpu, shardNic);
  const redisCase = (gatewaysPerCamera: number): RedisCase => ({
    pairs: gatewaysPerCamera * d.cameras,
    egressMBps: gatewaysPerCamera * d.cameras * pairMBps,
    shardPlan: shardsNeeded(d.cameras, gatewaysPerCamera * pairMBps, shardCapacityMBps),
  });
  return {
    deployment: d,
    jpegBytes,
    jpegBytesEstimated: d.jpegBytes === undefined,
    captureInstances: captureInstancesNeeded(d.cameras, d.camerasPerCapture),
    partBytes: partBytes(jpegBytes),
    viewerMBps: (d.fps * partBytes(jpegBytes)) / MB,
    totalViewerMBps: (d.viewers * d.fps * partBytes(jpegBytes)) / MB,
    gatewayUsPerFrame: gatewayUsPerFrame(jpegBytes),
    viewersPerGateway: perGateway,
    gateways,
    binding,
    viewersOnEachGateway: Math.ceil(d.viewers / gateways),
    redisMessageBytes: message,
    pairMBps,
    gatewayIngressMBps: d.cameras * pairMBps,
    gatewayIngressShare: (d.cameras * pairMBps) / ((Math.ceil(d.viewers / gateways) * d.fps * partBytes(jpegBytes)) / MB),
    shardCapacityMBps,
    shardLimit: shardCpu <= shardNic ? 'cpu' : 'nic',
    worst: redisCase(gateways),
    expected: redisCase(expectedGatewaysPerCamera(d.viewers, gateways, d.cameras)),
  };
}
