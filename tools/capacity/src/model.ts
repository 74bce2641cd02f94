/**
 * The capacity model: pure functions from a deployment (cameras, viewers, frame rate and size,
 * the share of viewers in H.264, the hardware) to what it needs (capture instances, gateways,
 * Redis egress, Redis shards). Every measured number comes from inputs.ts; nothing here reads a
 * clock, a file or the environment.
 *
 * Units: bytes, seconds, MB = 10^6 bytes, Gbit = 10^9 bits.
 */
import {
  CAPTURE_MS_PER_FRAME,
  GATEWAY_CPU_JPEG_BYTES,
  GATEWAY_US_PER_FRAME_HD,
  GATEWAY_US_PER_FRAME_VGA,
  H264_BYTES_RATIO,
  H264_ENCODE_MS_PER_FRAME,
  H264_GATEWAY_CPU_FRAGMENT_BYTES,
  H264_GATEWAY_US_PER_FRAME,
  H264_INIT_SEGMENT_BYTES,
  JPEG_BYTES_AT_DEFAULT_QUALITY,
  TIERS_FRAME,
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
  /** Cameras one capture instance carries, passed through (measured: CAMERAS_PER_CAPTURE). */
  readonly camerasPerCapture: number;
  /** The share of the viewers watching in H.264 (stream.mp4), 0 to 1; the others watch motion JPEG. */
  readonly h264Share: number;
  /** Bytes per H.264 frame as a viewer gets it (one fragment: moof + mdat); estimated from the JPEG when absent. */
  readonly h264Bytes?: number | undefined;
  /** Cameras one capture instance carries with their H.264 watched too; derived from camerasPerCapture when absent. */
  readonly camerasPerCaptureH264?: number | undefined;
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

/**
 * H.264 bytes per frame as a viewer gets it (one fragment) when not given: the measured ratio of
 * an H.264 viewer's bytes to a motion JPEG viewer's (H264_BYTES_RATIO, the noisier of the two
 * sources), applied to the motion JPEG part of the same size.
 */
export function estimateH264Bytes(jpegBytes: number): number {
  return Math.round(H264_BYTES_RATIO.value * partBytes(jpegBytes));
}

/** A RESP2 `smessage` push: the command's name, the channel, the payload, each a bulk string. */
function pushBytes(channelLength: number, payloadBytes: number): number {
  const bulk = (n: number) => `$${Math.round(n)}\r\n`.length + n + 2;
  return '*3\r\n'.length + bulk('smessage'.length) + bulk(channelLength) + bulk(payloadBytes);
}

/** One pub/sub push as Redis writes it to a subscriber (RESP2 `smessage`, channel, envelope). */
export function redisMessageBytes(jpegBytes: number, cameraIdLength: number = WIRE.cameraIdLength): number {
  return pushBytes('camrelay:{}:frames'.length + cameraIdLength, WIRE.envelopeHeader + jpegBytes);
}

/**
 * One H.264 pub/sub push, on average: its channel (`frames.h264`), the segment envelope and the
 * fragment, and the init segment that a keyframe carries, once a second (every frame below 1 fps).
 */
export function redisSegmentMessageBytes(fragmentBytes: number, fps: number, cameraIdLength: number = WIRE.cameraIdLength): number {
  const initPerFrame = H264_INIT_SEGMENT_BYTES.value * Math.min(1, 1 / fps);
  return pushBytes('camrelay:{}:frames.h264'.length + cameraIdLength, WIRE.segmentHeader + initPerFrame + fragmentBytes);
}

/** The line of gatewayUsPerFrame: µs per byte written (the kernel copies every byte into every socket). */
function gatewayUsPerByte(): number {
  const [x0, y0] = [partBytes(GATEWAY_CPU_JPEG_BYTES.vga), GATEWAY_US_PER_FRAME_VGA.value];
  const [x1, y1] = [partBytes(GATEWAY_CPU_JPEG_BYTES.hd), GATEWAY_US_PER_FRAME_HD.value];
  return (y1 - y0) / (x1 - x0);
}

/**
 * Gateway CPU per delivered frame, µs: a fixed part and a part per byte, the line through the
 * benchmark's two measurements (640x480 and 1280x720). The cost grows with bytes (the kernel
 * copies every part into every socket), a little less than in proportion.
 */
export function gatewayUsPerFrame(jpegBytes: number): number {
  const [x0, y0] = [partBytes(GATEWAY_CPU_JPEG_BYTES.vga), GATEWAY_US_PER_FRAME_VGA.value];
  return y0 + gatewayUsPerByte() * (partBytes(jpegBytes) - x0);
}

/**
 * Gateway CPU per delivered H.264 frame (one fragment), µs. Not the line above: at the measured
 * fragments (5.9 KB) it says 9.1 µs, 0.36 of motion JPEG's cost, where bench:tiers measured 0.67
 * (16.0 µs against 24.0, the same gateway, source and 100 viewers; 0.52 at 500); a frame costs more than its
 * bytes say. Derived from that: the measured ratio times the line's motion JPEG cost at 640x480
 * (25.0 µs; the ratio carries the measurement over to the line's 1000 viewers, where costs that
 * do not grow with bytes weigh less, so if anything it is high), and the line's cost per byte
 * from the measured fragment size on.
 */
export function h264GatewayUsPerFrame(fragmentBytes: number): number {
  const { mjpeg, h264 } = H264_GATEWAY_US_PER_FRAME.value;
  const atMeasured = (h264 / mjpeg) * gatewayUsPerFrame(GATEWAY_CPU_JPEG_BYTES.vga);
  return atMeasured + gatewayUsPerByte() * (fragmentBytes - H264_GATEWAY_CPU_FRAGMENT_BYTES);
}

/**
 * Capture instances for C cameras: ⌈C / cameras per instance⌉. A camera is read by one capture
 * at a time, so instances add up; the figure per instance is measured, not derived (capture's
 * cost per frame falls as cameras share its fixed costs, and the machine's other work counts).
 */
export function captureInstancesNeeded(cameras: number, camerasPerCapture: number): number {
  return Math.ceil(cameras / camerasPerCapture);
}

/** Capture CPU the H.264 encode adds per frame, ms: the measured 640x480 figure, in proportion to pixels. */
export function h264EncodeMsPerFrame(width: number, height: number): number {
  return (H264_ENCODE_MS_PER_FRAME.value * pixels(width, height)) / pixels(TIERS_FRAME.width, TIERS_FRAME.height);
}

/**
 * Cameras one capture instance carries when their H.264 is watched too (unrounded). Derived, not
 * measured: the instance keeps the CPU it used for its cameras passed through, 1.78 ms a frame
 * each (CAPTURE_MS_PER_FRAME), and each camera costs the encode more, so the cameras fall in
 * proportion: N × 1.78 / (1.78 + encode). One viewer in H.264 starts a camera's encoder, so the
 * plan counts it on every camera. The encode does not share fixed costs between cameras (each
 * has its own FFmpeg) as passthrough does; fewer cameras share those: if anything this is high.
 */
export function camerasPerCaptureWithH264(camerasPerCapture: number, width: number, height: number): number {
  const passthroughMs = CAPTURE_MS_PER_FRAME.value;
  return (camerasPerCapture * passthroughMs) / (passthroughMs + h264EncodeMsPerFrame(width, height));
}

export type Limit = 'cpu' | 'nic' | 'max-viewers';

/** What an average viewer of the mix costs a gateway per frame: bytes written, and CPU (µs). */
export function viewerFrameCost(d: Deployment, jpegBytes: number, h264Bytes: number): { bytes: number; us: number } {
  const [mjpeg, h264] = [1 - d.h264Share, d.h264Share];
  return {
    bytes: mjpeg * partBytes(jpegBytes) + h264 * h264Bytes,
    us: mjpeg * gatewayUsPerFrame(jpegBytes) + h264 * h264GatewayUsPerFrame(h264Bytes),
  };
}

/**
 * Viewers one gateway can carry under each limit, at the planned utilization. With both tiers
 * watched, a gateway's viewers are the mix: the load balancer does not sort them by tier.
 */
export function viewersPerGateway(d: Deployment, jpegBytes: number, h264Bytes = estimateH264Bytes(jpegBytes)): Record<Limit, number> {
  const cost = viewerFrameCost(d, jpegBytes, h264Bytes);
  const cpuSecondsPerViewer = (d.fps * cost.us) / 1e6;
  const bytesPerViewer = d.fps * cost.bytes;
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
  /** (gateway, feed) subscriptions: a camera watched in both tiers on a gateway is two. */
  readonly pairs: number;
  readonly mjpegPairs: number;
  readonly h264Pairs: number;
  readonly egressMBps: number;
  readonly shardPlan: ShardPlan;
}

/** One tier's part of the plan. */
export interface TierPlan {
  /** Viewers in this tier (a share of all; not necessarily whole). */
  readonly viewers: number;
  /** What one of its viewers gets per frame: a multipart part, or a fragment. */
  readonly frameBytes: number;
  readonly viewerMBps: number;
  readonly totalViewerMBps: number;
  /** Of the bytes the gateways send: this tier's share. */
  readonly byteShare: number;
  readonly gatewayUsPerFrame: number;
  /** One pub/sub push (on average, for H.264). */
  readonly redisMessageBytes: number;
  /** One (gateway, camera) subscription of this tier, MB/s out of Redis. */
  readonly pairMBps: number;
}

export interface CapturePlan {
  /** Cameras one instance carries as given or measured, passed through. */
  readonly passthrough: number;
  /** With H.264 watched: given, or derived (camerasPerCaptureWithH264, unrounded); null without H.264 viewers. */
  readonly withH264: number | null;
  readonly withH264Derived: boolean;
  /** Capture CPU the H.264 encode adds per frame at this size, ms. */
  readonly h264EncodeMsPerFrame: number;
}

export interface Plan {
  readonly deployment: Deployment;
  readonly jpegBytes: number;
  readonly jpegBytesEstimated: boolean;
  readonly h264Bytes: number;
  readonly h264BytesEstimated: boolean;
  /** Capture instances for the cameras. */
  readonly captureInstances: number;
  /** Cameras on each capture instance at most: what the plan divides by. */
  readonly camerasPerCapture: number;
  readonly capture: CapturePlan;
  readonly partBytes: number;
  /** Per viewer: the average over the tier mix (motion JPEG's alone without H.264 viewers). */
  readonly viewerMBps: number;
  /** All viewers together: what the gateways send, and what the load balancer passes on. */
  readonly totalViewerMBps: number;
  /** Per delivered frame, the average over the tier mix. */
  readonly gatewayUsPerFrame: number;
  readonly tiers: { readonly mjpeg: TierPlan; readonly h264: TierPlan };
  /** The tier that sends most of the gateways' bytes (motion JPEG at an even mix: its frames are 5 times larger). */
  readonly nicDominantTier: 'mjpeg' | 'h264';
  readonly viewersPerGateway: Record<Limit, number>;
  readonly gateways: number;
  readonly binding: Limit;
  readonly viewersOnEachGateway: number;
  /** Motion JPEG's (tiers.h264 has H.264's). */
  readonly redisMessageBytes: number;
  /** One (gateway, camera) subscription of motion JPEG, MB/s out of Redis. */
  readonly pairMBps: number;
  /** Into each gateway from Redis when it watches every camera (in each tier that has viewers), MB/s. */
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
  const h264Bytes = d.h264Bytes ?? estimateH264Bytes(jpegBytes);
  const perGateway = viewersPerGateway(d, jpegBytes, h264Bytes);
  const { gateways, binding } = gatewaysNeeded(d.viewers, perGateway);
  const cost = viewerFrameCost(d, jpegBytes, h264Bytes);
  const viewerMBps = (d.fps * cost.bytes) / MB;
  const tier = (share: number, frameBytes: number, usPerFrame: number, message: number): TierPlan => ({
    viewers: d.viewers * share,
    frameBytes,
    viewerMBps: (d.fps * frameBytes) / MB,
    totalViewerMBps: (d.viewers * share * d.fps * frameBytes) / MB,
    byteShare: (share * frameBytes) / cost.bytes,
    gatewayUsPerFrame: usPerFrame,
    redisMessageBytes: message,
    pairMBps: (d.fps * message) / MB,
  });
  const tiers = {
    mjpeg: tier(1 - d.h264Share, partBytes(jpegBytes), gatewayUsPerFrame(jpegBytes), redisMessageBytes(jpegBytes)),
    h264: tier(d.h264Share, h264Bytes, h264GatewayUsPerFrame(h264Bytes), redisSegmentMessageBytes(h264Bytes, d.fps)),
  };
  const shardCpu = d.redisShardMBps * d.utilization;
  const shardNic = (d.redisNicGbps * 1e9 * d.utilization) / 8 / MB;
  const shardCapacityMBps = Math.min(shardCpu, shardNic);
  // A camera's feeds (both tiers) share its hash slot: its egress is the sum of the two, on one shard.
  const redisCase = (mjpegGatewaysPerCamera: number, h264GatewaysPerCamera: number): RedisCase => {
    const perCameraMBps = mjpegGatewaysPerCamera * tiers.mjpeg.pairMBps + h264GatewaysPerCamera * tiers.h264.pairMBps;
    return {
      pairs: (mjpegGatewaysPerCamera + h264GatewaysPerCamera) * d.cameras,
      mjpegPairs: mjpegGatewaysPerCamera * d.cameras,
      h264Pairs: h264GatewaysPerCamera * d.cameras,
      egressMBps: mjpegGatewaysPerCamera * d.cameras * tiers.mjpeg.pairMBps + h264GatewaysPerCamera * d.cameras * tiers.h264.pairMBps,
      shardPlan: shardsNeeded(d.cameras, perCameraMBps, shardCapacityMBps),
    };
  };
  // Worst case: every gateway subscribes every camera in each tier that has a viewer anywhere.
  // Expected: a gateway subscribes a camera's feed when one of its viewers of that tier watches it.
  const watching = (viewers: number) => (viewers > 0 ? expectedGatewaysPerCamera(viewers, gateways, d.cameras) : 0);
  const capture: CapturePlan = {
    passthrough: d.camerasPerCapture,
    withH264: d.h264Share > 0 ? (d.camerasPerCaptureH264 ?? camerasPerCaptureWithH264(d.camerasPerCapture, d.width, d.height)) : null,
    withH264Derived: d.camerasPerCaptureH264 === undefined,
    h264EncodeMsPerFrame: h264EncodeMsPerFrame(d.width, d.height),
  };
  // A fraction of a camera is no instance's: below one, each instance still takes one (and needs more than the measured CPU).
  const camerasPerCapture = capture.withH264 === null ? d.camerasPerCapture : Math.max(1, Math.floor(capture.withH264));
  const ingressMBps = d.cameras * ((d.h264Share < 1 ? tiers.mjpeg.pairMBps : 0) + (d.h264Share > 0 ? tiers.h264.pairMBps : 0));
  return {
    deployment: d,
    jpegBytes,
    jpegBytesEstimated: d.jpegBytes === undefined,
    h264Bytes,
    h264BytesEstimated: d.h264Bytes === undefined,
    captureInstances: captureInstancesNeeded(d.cameras, camerasPerCapture),
    camerasPerCapture,
    capture,
    partBytes: partBytes(jpegBytes),
    viewerMBps,
    totalViewerMBps: (d.viewers * d.fps * cost.bytes) / MB,
    gatewayUsPerFrame: cost.us,
    tiers,
    nicDominantTier: tiers.h264.byteShare > tiers.mjpeg.byteShare ? 'h264' : 'mjpeg',
    viewersPerGateway: perGateway,
    gateways,
    binding,
    viewersOnEachGateway: Math.ceil(d.viewers / gateways),
    redisMessageBytes: tiers.mjpeg.redisMessageBytes,
    pairMBps: tiers.mjpeg.pairMBps,
    gatewayIngressMBps: ingressMBps,
    gatewayIngressShare: ingressMBps / ((Math.ceil(d.viewers / gateways) * d.fps * cost.bytes) / MB),
    shardCapacityMBps,
    shardLimit: shardCpu <= shardNic ? 'cpu' : 'nic',
    worst: redisCase(d.h264Share < 1 ? gateways : 0, d.h264Share > 0 ? gateways : 0),
    expected: redisCase(watching(d.viewers * (1 - d.h264Share)), watching(d.viewers * d.h264Share)),
  };
}
