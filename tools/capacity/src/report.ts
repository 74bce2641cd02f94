/** The plan as people read it (text) and as programs read it (JSON). */
import {
  CAMERAS_PER_CAPTURE,
  CONFIGURED,
  GATEWAY_US_PER_FRAME_HD,
  GATEWAY_US_PER_FRAME_VGA,
  JPEG_BYTES_AT_DEFAULT_QUALITY,
  REDIS_EGRESS_RUNS,
  REDIS_SHARD_EGRESS_CEILING,
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

export const LIMIT_NAMES: Record<Limit, string> = {
  cpu: 'CPU',
  nic: 'network (NIC)',
  'max-viewers': 'MAX_VIEWERS',
};

function shardLine(label: string, redis: RedisCase): string {
  const shard = redis.shardPlan;
  if (shard.shards === null)
    return `  ${label.padEnd(12)} none is enough: one camera alone sends ${mbps(shard.busiestShardMBps)}, more than a shard carries`;
  return `  ${label.padEnd(12)} ${n(shard.shards)} shard${shard.shards === 1 ? '' : 's'}: busiest ${mbps(shard.busiestShardMBps)} (${n(shard.camerasOnBusiestShard)} camera${shard.camerasOnBusiestShard === 1 ? '' : 's'}), mean ${mbps(shard.meanShardMBps)}`;
}

function captureLines(plan: Plan): string[] {
  const d = plan.deployment;
  const measured = d.camerasPerCapture === CAMERAS_PER_CAPTURE.value;
  const asMeasured = d.width === 640 && d.height === 480 && d.fps === 30;
  return [
    `Capture: ${n(plan.captureInstances)} instance${plan.captureInstances === 1 ? '' : 's'}, up to ${n(d.camerasPerCapture)} camera${d.camerasPerCapture === 1 ? '' : 's'} on each`,
    measured
      ? `  ${n(d.camerasPerCapture)} per instance as npm run bench:capture measured (640x480 at 30 fps, passed through, ${CAMERAS_PER_CAPTURE.date}); --cameras-per-capture to set it`
      : '  cameras per instance from --cameras-per-capture',
    ...(measured && !asMeasured
      ? [
          `  note: measured with 640x480 cameras at 30 fps; for ${d.width}x${d.height} at ${short(d.fps)} fps, measure with npm run bench:capture`,
        ]
      : []),
  ];
}

export function renderText(plan: Plan): string {
  const d = plan.deployment;
  const percent = `${n(d.utilization * 100)} %`;
  const per = plan.viewersPerGateway;
  if (!Number.isFinite(plan.gateways))
    return `camrelay capacity: no gateway carries even one viewer of ${d.width}x${d.height} at ${short(d.fps)} fps within ${percent} of its ${LIMIT_NAMES[plan.binding]}: give it more (--gateway-cores, --nic-gbps) or send smaller frames.\n`;
  const lines = [
    `camrelay capacity: ${n(d.cameras)} camera${d.cameras === 1 ? '' : 's'}, ${n(d.viewers)} viewers, ${d.width}x${d.height} at ${short(d.fps)} fps`,
    '',
    'Frames',
    `  JPEG         ${n(plan.jpegBytes)} bytes ${plan.jpegBytesEstimated ? `(estimated for ${d.width}x${d.height} at JPEG_QUALITY ${CONFIGURED.jpegQuality} from measured sizes; --jpeg-bytes to set it)` : '(--jpeg-bytes)'}`,
    `  per viewer   ${mbps(plan.viewerMBps)} = ${n(plan.viewerMBps * 8, 1)} Mbit/s (parts of ${n(plan.partBytes)} bytes × ${short(d.fps)} fps)`,
    '',
    ...captureLines(plan),
    '',
    `Gateways: ${n(plan.gateways)}, bound by ${LIMIT_NAMES[plan.binding]}`,
    `  viewers one gateway carries at ${percent} of each limit:`,
    `    CPU          ${n(per.cpu).padStart(7)}  (${short(d.gatewayCores)} core${d.gatewayCores === 1 ? '' : 's'}; ${n(plan.gatewayUsPerFrame, 1)} µs per delivered frame)`,
    `    network      ${n(per.nic).padStart(7)}  (${short(d.nicGbps)} Gbit/s)`,
    `    MAX_VIEWERS  ${n(per['max-viewers']).padStart(7)}  (a hard limit: not scaled)`,
    `  ${n(plan.viewersOnEachGateway)} viewers on each; each gateway takes up to ${mbps(plan.gatewayIngressMBps)} from Redis (every camera)`,
    ...(plan.gatewayIngressShare > 0.1
      ? [
          `  note: that is ${n(plan.gatewayIngressShare * 100)} % of what a gateway writes, and the CPU of reading it is not in the model`,
          '  (measured with one camera): with this many cameras per gateway, expect fewer viewers per gateway',
        ]
      : []),
    `  to all viewers ${mbps(plan.totalViewerMBps)} = ${n((plan.totalViewerMBps * 8) / 1000, 1)} Gbit/s, all of it through the load balancer (in and out)`,
    '',
    'Redis egress (to the gateways)',
    `  worst case   ${n(plan.worst.pairs)} subscription${plan.worst.pairs === 1 ? '' : 's'} (every gateway watches every camera): ${mbps(plan.worst.egressMBps)}`,
    `  expected     ${n(plan.expected.pairs, 1)} subscriptions (viewers spread at random over the cameras): ${mbps(plan.expected.egressMBps)}`,
    `  each         ${mbps(plan.pairMBps)} (messages of ${n(plan.redisMessageBytes)} bytes × ${short(d.fps)} fps)`,
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
    JPEG_BYTES_AT_DEFAULT_QUALITY,
    GATEWAY_US_PER_FRAME_VGA,
    GATEWAY_US_PER_FRAME_HD,
    REDIS_SHARD_EGRESS_CEILING,
    REDIS_EGRESS_RUNS,
    CONFIGURED,
    WIRE,
  };
  // Infinity (a limit no count of gateways meets) has no JSON form: null.
  return `${JSON.stringify({ ...plan, inputs }, (_key, value: unknown) => (value === Infinity ? null : value), 2)}\n`;
}
