/**
 * `npm run bench:sizes`: what each smaller size costs capture, per source frame. One camera
 * per capture process, its smaller sizes claimed on the bus as a gateway claims them for its
 * viewers; capture's CPU time (from /proc) over the same window, with none, one and two of
 * them watched, for the test pattern (a picture, encoded anyway) and an MJPEG file (passed
 * through: a smaller size first needs a decode). Writes bench/results/sizes.json and sizes.md.
 *
 *   npm run bench:sizes [-- --seconds 8]
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RedisBus } from '@camrelay/bus';
import { fetchMetrics, metricValue } from '@camrelay/clients';
import { freePort, repoRoot, spawnCapture, spawnRedis } from '@camrelay/stack';
import { frameSet } from './frames.js';
import { cpuMs } from './proc.js';
import { writeRows } from './report.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' } } });
const windowMs = Number(values.seconds) * 1000;
const results = join(repoRoot, 'bench', 'results');
const CAMERA = 'cam';
const HOLDER = 'bench';

const frames = await frameSet(join(results, 'frames'), 640, 480);
const sources = [
  { name: 'test pattern 640x480@30', spec: 'pattern:640x480@30' },
  { name: 'MJPEG file 640x480@30 (passed through)', spec: `file:${frames.video}` },
];
const watched = [[], ['320x240'], ['320x240', '160x120']] as const;

const rows: Array<Record<string, string | number>> = [];
const redis = await spawnRedis();
const bus = new RedisBus({ url: redis.url });
if (!bus.isUp) await once(bus, 'up');
try {
  for (const source of sources) {
    const healthPort = await freePort();
    const capture = await spawnCapture(
      { REDIS_URL: redis.url, HEALTH_PORT: String(healthPort), CAMERAS: `${CAMERA}=${source.spec},always` },
      [CAMERA],
    );
    const captured = async () =>
      metricValue(await fetchMetrics(`http://127.0.0.1:${healthPort}`), 'camrelay_capture_frames_total', `camera="${CAMERA}"`);
    const pid = capture.process.pid!;
    let baseline = 0;
    try {
      for (const sizes of watched) {
        const feeds = sizes.map((size) => `${CAMERA}@${size}`);
        await bus.markWatched(HOLDER, feeds, 60_000);
        await sleep(1500); // capture's next look, and a second to settle
        const [cpu0, frames0] = [cpuMs(pid), await captured()];
        await sleep(windowMs);
        const [cpu1, frames1] = [cpuMs(pid), await captured()];
        const perFrame = (cpu1 - cpu0) / (frames1 - frames0);
        if (sizes.length === 0) baseline = perFrame;
        const row = {
          source: source.name,
          'sizes watched': sizes.length === 0 ? 'own size only' : `+ ${sizes.join(' + ')}`,
          'capture CPU ms per frame': perFrame.toFixed(2),
          'added by the smaller sizes, ms': sizes.length === 0 ? '' : (perFrame - baseline).toFixed(2),
          'fps captured': ((frames1 - frames0) / (windowMs / 1000)).toFixed(1),
        };
        console.log(JSON.stringify(row));
        rows.push(row);
        for (const feed of feeds) await bus.unmarkWatched(HOLDER, feed);
      }
    } finally {
      await capture.stop();
    }
  }
} finally {
  await bus.close();
  await redis.stop();
}

console.log(writeRows(results, 'sizes', rows, { windowMs }));
