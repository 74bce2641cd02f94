/** The plan as people read it (text) and as programs read it (JSON). */
import {
  CAMERAS_PER_CAPTURE,
  CAPTURE_MS_PER_FRAME,
  CONFIGURED,
  GATEWAY_US_PER_FRAME_HD,
  GATEWAY_US_PER_FRAME_VGA,
  H264_BYTES_RATIO,
  H264_ENCODE_MS_PER_FRAME,
  H264_GATEWAY_US_PER_FRAME,
  H264_INIT_SEGMENT_BYTES,
  JPEG_BYTES_AT_DEFAULT_QUALITY,
  REDIS_EGRESS_RUNS,
  REDIS_SHARD_EGRESS_CEILING,
  TIERS_FRAME,
  WIRE,
} from './inputs.js';
import type { Limit, Plan, RedisCase } from './model.js';

/** 58255 → "58 255"; 1.5 → "1.5". */
export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return String(value);
  const [whole = '', fraction] = Math.abs(value).toFixed(digits).split('.');
  const grouped = whole.length > 4 ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, ' ') : whole;
  return `${value < 0 ? '-' : ''}${grouped}${fraction ? `.${fraction}` : ''}`;
}

const n = formatNumber;
/** 30 → "30", 12.5 → "12.5". */
const short = (value: number) => n(value, Number.isInteger(value) ? 0 : value < 10 ? 2 : 1);
const mbps = (value: number) => `${n(value, value < 10 ? 2 : value < 100 ? 1 : 0)} MB/s`;
/** A share as a percentage: 0.5 → "50", 0.125 → "12.5", 0.9987 → "99.9" (a 100 is never rounded). */
const pct = (share: number) => {
  const value = share * 100;
  return n(value, Number.isInteger(value) ? 0 : 1);
};

export const LIMIT_NAMES: Record<Limit, string> = {
  cpu: 'CPU',
  nic: 'network (NIC)',
  'max-viewers': 'MAX_VIEWERS',
};

export const TIER_NAMES = { mjpeg: 'motion JPEG', h264: 'H.264' } as const;

function shardLine(label: string, redis: RedisCase): string {
  const shard = redis.shardPlan;
  if (shard.shards === null)
    return `  ${label.padEnd(12)} none is enough: one camera alone sends ${mbps(shard.busiestShardMBps)}, more than a shard carries`;
  return `  ${label.padEnd(12)} ${n(shard.shards)} shard${shard.shards === 1 ? '' : 's'}: busiest ${mbps(shard.busiestShardMBps)} (${n(shard.camerasOnBusiestShard)} camera${shard.camerasOnBusiestShard === 1 ? '' : 's'}), mean ${mbps(shard.meanShardMBps)}`;
}

/** With H.264 watched: how the cameras per instance were derived, and that they were. */
function captureH264Lines(plan: Plan, derived: number): string[] {
  const d = plan.deployment;
  const passthroughMs = CAPTURE_MS_PER_FRAME.value;
  const encodeMs = plan.capture.h264EncodeMsPerFrame;
  const { width, height } = TIERS_FRAME;
  return [
    `  with H.264 watched, ${n(derived, 2)} → ${n(plan.camerasPerCapture)} (derived, not measured): ${n(d.camerasPerCapture)} × ${short(passthroughMs)} / (${short(passthroughMs)} + ${n(encodeMs, 2)}), capture's CPU a frame in ms passed through, and with the H.264 encode added`,
    `  the encode: ${short(H264_ENCODE_MS_PER_FRAME.value)} ms a ${width}x${height} frame (npm run bench:tiers, ${H264_ENCODE_MS_PER_FRAME.date})${d.width === width && d.height === height ? '' : ', in proportion to pixels here'}; ${n((encodeMs * d.fps) / 1000, 2)} of a core per camera at ${short(d.fps)} fps`,
    ...(derived < 1
      ? ['  note: not even one camera fits in the CPU the measured instance used: each instance takes one, and needs more']
      : []),
  ];
}

function captureLines(plan: Plan): string[] {
  const d = plan.deployment;
  const measured = d.camerasPerCapture === CAMERAS_PER_CAPTURE.value;
  const asMeasured = d.width === 640 && d.height === 480 && d.fps === 30;
  const per = plan.camerasPerCapture;
  return [
    `Capture: ${n(plan.captureInstances)} instance${plan.captureInstances === 1 ? '' : 's'}, up to ${n(per)} camera${per === 1 ? '' : 's'} on each`,
    measured
      ? `  ${n(d.camerasPerCapture)} per instance as npm run bench:capture measured (640x480 at 30 fps, passed through, ${CAMERAS_PER_CAPTURE.date}); --cameras-per-capture to set it`
      : '  cameras per instance from --cameras-per-capture',
    ...(measured && !asMeasured
      ? [
          `  note: measured with 640x480 cameras at 30 fps; for ${d.width}x${d.height} at ${short(d.fps)} fps, measure with npm run bench:capture`,
        ]
      : []),
    ...(plan.capture.withH264 === null
      ? []
      : plan.capture.withH264Derived
        ? captureH264Lines(plan, plan.capture.withH264)
        : [`  with H.264 watched, ${n(plan.camerasPerCapture)} per instance from --cameras-per-capture-h264`]),
  ];
}

/** Without H.264 viewers: one line, motion JPEG's. */
function frameLines(plan: Plan): string[] {
  const d = plan.deployment;
  const jpeg = `  JPEG         ${n(plan.jpegBytes)} bytes ${plan.jpegBytesEstimated ? `(estimated for ${d.width}x${d.height} at JPEG_QUALITY ${CONFIGURED.jpegQuality} from measured sizes; --jpeg-bytes to set it)` : '(--jpeg-bytes)'}`;
  const perViewer = (megabytes: number) => `${mbps(megabytes)} = ${n(megabytes * 8, 1)} Mbit/s`;
  const { mjpeg, h264 } = plan.tiers;
  if (d.h264Share === 0)
    return [jpeg, `  per viewer   ${perViewer(mjpeg.viewerMBps)} (parts of ${n(mjpeg.frameBytes)} bytes × ${short(d.fps)} fps)`];
  return [
    jpeg,
    `  H.264        ${n(plan.h264Bytes)} bytes a frame ${plan.h264BytesEstimated ? `(estimated: ${H264_BYTES_RATIO.value} of a motion JPEG part, as npm run bench:tiers measured on a noisy source; --h264-bytes to set it)` : '(--h264-bytes)'}`,
    `  per viewer   motion JPEG  ${perViewer(mjpeg.viewerMBps)} (parts of ${n(mjpeg.frameBytes)} bytes × ${short(d.fps)} fps)`,
    `               H.264        ${perViewer(h264.viewerMBps)} (fragments of ${n(h264.frameBytes)} bytes × ${short(d.fps)} fps)`,
  ];
}

/** With H.264 viewers: each tier's viewers and bytes, and which tier fills the gateways' network. */
function mixLines(plan: Plan): string[] {
  const d = plan.deployment;
  const tier = (name: 'mjpeg' | 'h264') => {
    const t = plan.tiers[name];
    return `  ${TIER_NAMES[name].padEnd(12)} ${n(t.viewers).padStart(7)} viewer${t.viewers === 1 ? '' : 's'}, ${mbps(t.viewerMBps)} each, ${mbps(t.totalViewerMBps)} in all: ${pct(t.byteShare)} % of the gateways' bytes`;
  };
  const dominant = plan.tiers[plan.nicDominantTier];
  const share = plan.nicDominantTier === 'h264' ? d.h264Share : 1 - d.h264Share;
  return [
    `Tier mix: ${pct(d.h264Share)} % of the viewers in H.264`,
    tier('mjpeg'),
    tier('h264'),
    `  ${TIER_NAMES[plan.nicDominantTier]} dominates the gateways' network: ${pct(dominant.byteShare)} % of their bytes for ${pct(share)} % of their viewers`,
    `  the average viewer: ${mbps(plan.viewerMBps)} and ${n(plan.gatewayUsPerFrame, 1)} µs of gateway CPU a frame (motion JPEG ${n(plan.tiers.mjpeg.gatewayUsPerFrame, 1)}, H.264 ${n(plan.tiers.h264.gatewayUsPerFrame, 1)})`,
  ];
}

/** Redis's pushes: one line for motion JPEG alone, one per tier watched otherwise. */
function redisEachLines(plan: Plan): string[] {
  const d = plan.deployment;
  const { mjpeg, h264 } = plan.tiers;
  const jpeg = `${mbps(mjpeg.pairMBps)} (messages of ${n(mjpeg.redisMessageBytes)} bytes × ${short(d.fps)} fps)`;
  if (d.h264Share === 0) return [`  each         ${jpeg}`];
  return [
    ...(d.h264Share < 1 ? [`  each         motion JPEG  ${jpeg}`] : []),
    `  ${d.h264Share < 1 ? '             ' : 'each         '}H.264        ${mbps(h264.pairMBps)} (messages of ${n(h264.redisMessageBytes)} bytes on average × ${short(d.fps)} fps: envelope, fragment, an init segment a second)`,
  ];
}

/** Which subscriptions the worst case counts, and how the expected case splits them by tier. */
function redisCaseNotes(plan: Plan): { worst: string; expected: string } {
  const share = plan.deployment.h264Share;
  const worst = share === 0 ? 'every camera' : share === 1 ? 'every camera in H.264' : 'both tiers of every camera';
  const split = share > 0 && share < 1 ? `; ${n(plan.expected.mjpegPairs, 1)} motion JPEG, ${n(plan.expected.h264Pairs, 1)} H.264` : '';
  return { worst: `every gateway watches ${worst}`, expected: `viewers spread at random over the cameras${split}` };
}

export function renderText(plan: Plan): string {
  const d = plan.deployment;
  const percent = `${n(d.utilization * 100)} %`;
  const per = plan.viewersPerGateway;
  if (!Number.isFinite(plan.gateways))
    return `camrelay capacity: no gateway carries even one viewer of ${d.width}x${d.height} at ${short(d.fps)} fps within ${percent} of its ${LIMIT_NAMES[plan.binding]}: give it more (--gateway-cores, --nic-gbps) or send smaller frames.\n`;
  const mixed = d.h264Share > 0;
  const notes = redisCaseNotes(plan);
  const lines = [
    `camrelay capacity: ${n(d.cameras)} camera${d.cameras === 1 ? '' : 's'}, ${n(d.viewers)} viewers${mixed ? ` (${n(plan.tiers.h264.viewers)} in H.264)` : ''}, ${d.width}x${d.height} at ${short(d.fps)} fps`,
    '',
    'Frames',
    ...frameLines(plan),
    '',
    ...(mixed ? [...mixLines(plan), ''] : []),
    ...captureLines(plan),
    '',
    `Gateways: ${n(plan.gateways)}, bound by ${LIMIT_NAMES[plan.binding]}`,
    `  viewers one gateway carries at ${percent} of each limit:`,
    `    CPU          ${n(per.cpu).padStart(7)}  (${short(d.gatewayCores)} core${d.gatewayCores === 1 ? '' : 's'}; ${n(plan.gatewayUsPerFrame, 1)} µs per delivered frame${mixed ? ', the average viewer' : ''})`,
    `    network      ${n(per.nic).padStart(7)}  (${short(d.nicGbps)} Gbit/s${mixed ? `; ${mbps(plan.viewerMBps)} the average viewer` : ''})`,
    `    MAX_VIEWERS  ${n(per['max-viewers']).padStart(7)}  (a hard limit: not scaled)`,
    `  ${n(plan.viewersOnEachGateway)} viewers on each; each gateway takes up to ${mbps(plan.gatewayIngressMBps)} from Redis (every camera${mixed && d.h264Share < 1 ? ', both tiers' : ''})`,
    ...(plan.gatewayIngressShare > 0.1
      ? [
          `  note: that is ${n(plan.gatewayIngressShare * 100)} % of what a gateway writes, and the CPU of reading it is not in the model`,
          '  (measured with one camera): with this many cameras per gateway, expect fewer viewers per gateway',
        ]
      : []),
    `  to all viewers ${mbps(plan.totalViewerMBps)} = ${n((plan.totalViewerMBps * 8) / 1000, 1)} Gbit/s, all of it through the load balancer (in and out)`,
    '',
    'Redis egress (to the gateways)',
    `  worst case   ${n(plan.worst.pairs)} subscription${plan.worst.pairs === 1 ? '' : 's'} (${notes.worst}): ${mbps(plan.worst.egressMBps)}`,
    `  expected     ${n(plan.expected.pairs, 1)} subscriptions (${notes.expected}): ${mbps(plan.expected.egressMBps)}`,
    ...redisEachLines(plan),
    '',
    `Redis shards (each planned at ${mbps(plan.shardCapacityMBps)}: ${percent} of the lower of ${mbps(d.redisShardMBps)} for one redis-server core and ${short(d.redisNicGbps)} Gbit/s of network; ${plan.shardLimit === 'cpu' ? 'the core' : 'the network'} binds)`,
    shardLine('worst case', plan.worst),
    shardLine('expected', plan.expected),
  ];
  return `${lines.join('\n')}\n`;
}

export function renderJson(plan: Plan): string {
  const inputs = {
    CAMERAS_PER_CAPTURE,
    CAPTURE_MS_PER_FRAME,
    JPEG_BYTES_AT_DEFAULT_QUALITY,
    GATEWAY_US_PER_FRAME_VGA,
    GATEWAY_US_PER_FRAME_HD,
    H264_BYTES_RATIO,
    H264_GATEWAY_US_PER_FRAME,
    H264_ENCODE_MS_PER_FRAME,
    H264_INIT_SEGMENT_BYTES,
    REDIS_SHARD_EGRESS_CEILING,
    REDIS_EGRESS_RUNS,
    CONFIGURED,
    WIRE,
  };
  // Infinity (a limit no count of gateways meets) has no JSON form: null.
  return `${JSON.stringify({ ...plan, inputs }, (_key, value: unknown) => (value === Infinity ? null : value), 2)}\n`;
}
