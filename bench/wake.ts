/**
 * `npm run bench:wake`: how long a viewer of a sleeping camera waits. For the test pattern and
 * a file source, with Redis (capture and a gateway apart) and embedded (one process): the time
 * from the request to the first byte of the stream (the STARTING picture), to the first frame
 * captured after the request, and for a snapshot. Each round lets the camera fall asleep first
 * (CAPTURE_IDLE_AFTER=0 closes it at capture's next look at the claims).
 * Writes bench/results/wake.json and wake.md.
 *
 *   npm run bench:wake [-- --rounds 15]
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { OPEN_GATEWAY, StreamViewer } from '@camrelay/clients';
import { repoRoot, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { Running, Service } from '@camrelay/stack';
import { frameSet } from './frames.js';
import { writeRows } from './report.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const rounds = Number(values.rounds);
const results = join(repoRoot, 'bench', 'results');
const CAMERA = 'cam';

interface Setup {
  readonly gateway: Service;
  /** True once the camera is closed and the gateway lists it as asleep. */
  asleep(): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Closed: the process that runs capture logged "camera asleep" after its last "camera opened".
 * Listed: the gateway's camera list (cached up to a second) says so too, so the request takes
 * the path of a sleeping camera.
 */
async function isAsleep(captureProcess: Running, gateway: Service): Promise<boolean> {
  const last = captureProcess.output.findLast((line) => /"msg":"camera (asleep|opened)/.test(line));
  if (!last?.includes('camera asleep')) return false;
  const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string; sleeping: boolean }>;
  return cameras.find((camera) => camera.id === CAMERA)?.sleeping === true;
}

async function withRedis(source: string): Promise<Setup> {
  const redis = await spawnRedis();
  const capture: Running = await spawnCapture({ REDIS_URL: redis.url, CAMERAS: `${CAMERA}=${source}`, CAPTURE_IDLE_AFTER: '0' }, [CAMERA]);
  const gateway = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
  await gateway.ready();
  return {
    gateway,
    asleep: () => isAsleep(capture, gateway),
    async stop() {
      await gateway.stop();
      await capture.stop();
      await redis.stop();
    },
  };
}

async function embedded(source: string): Promise<Setup> {
  const gateway = await spawnGateway({ ...OPEN_GATEWAY, CAMERAS: `${CAMERA}=${source}`, CAPTURE_IDLE_AFTER: '0' });
  return { gateway, asleep: () => isAsleep(gateway, gateway), stop: async () => void (await gateway.stop()) };
}

async function untilAsleep(setup: Setup): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await setup.asleep())) {
    if (Date.now() > deadline) throw new Error('the camera did not fall asleep within 10 s');
    await sleep(50);
  }
  // Not in step with capture's look at the claims, every 200 ms.
  await sleep(Math.random() * 250);
}

interface Round {
  firstByteMs: number;
  firstFrameMs: number;
  snapshotMs: number;
}

async function measureRound(setup: Setup): Promise<Round> {
  const url = `${setup.gateway.baseUrl}/cameras/${CAMERA}`;
  await untilAsleep(setup);
  const askedAtMs = Date.now();
  let askedAt = performance.now();
  const viewer = new StreamViewer(`${url}/stream.mjpg`, { keepJpegs: false });
  const first = await viewer.waitForFrame(() => true, 'a first part', 0, 15_000);
  const firstByteMs = first.receivedAt - askedAtMs;
  await viewer.waitForFrame(
    (frame) => frame.headers['x-no-signal'] === undefined && frame.timestamp * 1000 >= askedAtMs,
    'a new frame',
    0,
    15_000,
  );
  const firstFrameMs = performance.now() - askedAt;
  viewer.close();

  await untilAsleep(setup);
  askedAt = performance.now();
  const response = await fetch(`${url}/snapshot.jpg`);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`snapshot: HTTP ${response.status}`);
  return { firstByteMs, firstFrameMs, snapshotMs: performance.now() - askedAt };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

const frames = await frameSet(join(results, 'frames'), 640, 480);
const sources = [
  { name: 'test pattern 640x480@30', spec: 'pattern:640x480@30' },
  { name: 'file, MJPEG 640x480@30', spec: `file:${frames.video}` },
];
const rows: Array<Record<string, string | number>> = [];
for (const source of sources) {
  for (const [mode, start] of [
    ['redis', withRedis],
    ['embedded', embedded],
  ] as const) {
    const setup = await start(source.spec);
    try {
      const measured: Round[] = [];
      for (let i = 0; i < rounds; i++) measured.push(await measureRound(setup));
      const summary = (pick: (round: Round) => number) => {
        const all = measured.map(pick);
        return `${percentile(all, 50).toFixed(0)} / ${percentile(all, 90).toFixed(0)}`;
      };
      const row = {
        source: source.name,
        mode,
        rounds,
        'first byte (STARTING) p50 / p90 ms': summary((round) => round.firstByteMs),
        'first new frame p50 / p90 ms': summary((round) => round.firstFrameMs),
        'snapshot p50 / p90 ms': summary((round) => round.snapshotMs),
      };
      console.log(JSON.stringify(row));
      rows.push(row);
    } finally {
      await setup.stop();
    }
  }
}

console.log(writeRows(results, 'wake', rows));
