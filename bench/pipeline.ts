/**
 * `npm run bench`: the distributed path measured end to end on this machine.
 * capture (test pattern, 640x480 @ 30 fps) → redis-server → two gateway processes →
 * VIEWERS_PER_GATEWAY viewers on each. Reports per viewer: time to first frame, frame rate,
 * capture-to-receipt latency and X-Sequence gaps, summarised as medians and percentiles.
 *
 *   npm run bench -- --viewers 50 --seconds 10
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { OPEN_GATEWAY, StreamViewer } from '@camrelay/clients';
import { repoRoot, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    source: { type: 'string', default: 'pattern:640x480@30' },
  },
});
const viewersPerGateway = Number(values.viewers);
const seconds = Number(values.seconds);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const redis = await spawnRedis();
const capture = await spawnCapture({ REDIS_URL: redis.url, CAMERAS: `bench=${values.source}` }, ['bench']);
const gateways = await Promise.all([
  spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY }),
  spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY }),
]);
try {
  const viewers = gateways.flatMap((gateway) =>
    Array.from({ length: viewersPerGateway }, () => {
      const startedAt = performance.now();
      const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/bench/stream.mjpg`, { keepJpegs: false });
      const firstFrame = viewer.waitForFrames(1, 30_000).then(() => performance.now() - startedAt);
      return { viewer, firstFrame };
    }),
  );
  const firstFrameMs = (await Promise.all(viewers.map((v) => v.firstFrame))).sort((a, b) => a - b);
  const marks = viewers.map((v) => v.viewer.frames.length);
  const windowStart = Date.now();
  await sleep(seconds * 1000); // the measurement window
  const windowSeconds = (Date.now() - windowStart) / 1000;

  const fps: number[] = [];
  const latencies: number[] = [];
  let gaps = 0;
  viewers.forEach(({ viewer }, i) => {
    const frames = viewer.frames.slice(marks[i]);
    fps.push(frames.length / windowSeconds);
    for (let k = 0; k < frames.length; k++) {
      latencies.push(frames[k]!.receivedAt - frames[k]!.timestamp * 1000);
      if (k > 0 && frames[k]!.sequence !== frames[k - 1]!.sequence + 1) gaps++;
    }
    viewer.close();
  });
  fps.sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);

  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    source: values.source,
    gateways: gateways.length,
    viewers: viewers.length,
    windowSeconds: Math.round(windowSeconds * 10) / 10,
    fps: { median: percentile(fps, 50), p10: percentile(fps, 10), min: fps[0] },
    firstFrameMs: { median: percentile(firstFrameMs, 50), p99: percentile(firstFrameMs, 99), max: firstFrameMs[firstFrameMs.length - 1] },
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
    sequenceGaps: gaps,
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
  writeFileSync(join(repoRoot, 'bench', 'results', 'pipeline.json'), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await capture.stop();
  await redis.stop();
}
