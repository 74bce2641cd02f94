/**
 * `npm run bench:failover`: how long a killed capture instance's cameras stay dark. A fleet of
 * three capture instances shares six cameras (test pattern 320x240 at 30 fps) on one
 * redis-server; one viewer per camera watches it through one gateway. Each round SIGKILLs the
 * instance holding the most cameras and times, for each camera it held, the kill to the first
 * live frame of a higher fencing epoch at that camera's viewer; then starts a replacement and
 * waits for the six cameras to be spread 2/2/2 again, with no hand-over under way, and --settle
 * seconds more (spare workers loading OpenCV). Every viewer's stream must stay open and its
 * X-Sequence rise throughout.
 *
 * Of that time, the killed holder's lease still had some to run (its last renewal + 1.5 s, read
 * from Redis at the kill): the fleet waits that out by design. The rest is a survivor's next look
 * at the leases (every 300 ms), the camera's open in a spare worker, its first frame, and the
 * path through Redis and the gateway. Writes bench/results/failover.json and failover.md.
 *
 *   npm run bench:failover [-- --kills 20 --settle 2]
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { cameraLeaseKey } from '@camrelay/bus';
import { epochOf } from '@camrelay/frame';
import { freePort, repoRoot, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { Running } from '@camrelay/stack';
import { machineBusyMs } from './proc.js';
import { writeRows } from './report.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    /** After 2/2/2, time for the instances' spare workers to finish loading OpenCV before the next kill. */
    settle: { type: 'string', default: '2' },
  },
});
const kills = Number(values.kills);
if (!Number.isInteger(kills) || kills < 1) throw new Error(`--kills: expected a count like 20, got ${values.kills}`);
const settleMs = Number(values.settle) * 1000;
const results = join(repoRoot, 'bench', 'results');
const CAMERAS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
const SOURCE = 'pattern:320x240@30';
const INSTANCES = 3;
/** What capture's defaults give a lease (leaseTtlMs): the most the fleet waits after a holder's last renewal. */
const LEASE_TTL_MS = 1500;
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

interface Instance {
  readonly running: Running;
  readonly health: string;
  /** The capture process itself: spawnCapture's process is the parent that redacts its output. */
  readonly pid: number;
  /** Its name in the fleet and in the leases it holds. */
  readonly member: string;
}

interface Health {
  readonly pid: number;
  readonly fleet: { readonly member: string };
}

interface Moved {
  readonly kill: number;
  readonly camera: string;
  /** From the kill to the first live frame of a higher epoch at the camera's viewer. */
  readonly ms: number;
  /** What the killed holder's lease had left to run at the kill. */
  readonly leaseLeftMs: number;
  readonly epochBefore: number;
  readonly epochAfter: number;
  /** The machine's 1-minute load average at the kill, and how busy its cores were until the last camera was back. */
  readonly loadAverage: number;
  readonly machineBusyCores: number;
}

const live = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === undefined;

/** The cameras an instance holds: `camrelay_capture_camera_held{camera="ID"} 1` in its /metrics. */
function heldCameras(metrics: string): string[] {
  return [...metrics.matchAll(/^camrelay_capture_camera_held\{([^}]*)\} (\S+)$/gm)]
    .filter((match) => Number(match[2]) === 1)
    .map((match) => /(?:^|,)camera="([^"]*)"/.exec(match[1]!)?.[1] ?? '')
    .sort();
}

/** Where X-Sequence fell: a live frame not above the last live one, or a NO SIGNAL picture below it (it repeats the last number). */
function sequenceFault(frames: readonly ReceivedFrame[]): string | undefined {
  let lastLive: number | undefined;
  for (const [i, frame] of frames.entries()) {
    if (lastLive !== undefined && (live(frame) ? frame.sequence <= lastLive : frame.sequence < lastLive))
      return `frame ${i}${live(frame) ? '' : ' (NO SIGNAL)'}: X-Sequence ${frame.sequence} after ${lastLive}`;
    if (live(frame)) lastLive = frame.sequence;
  }
  return undefined;
}

/** Nearest rank: with 40 samples, p99 is the largest. */
const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const summary = (values: readonly number[]) =>
  `${percentile(values, 50).toFixed(0)} / ${percentile(values, 99).toFixed(0)} / ${Math.max(...values).toFixed(0)}`;

const redis = await spawnRedis();
const leases = new Redis(redis.url);
const gateway = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
const instances: Instance[] = [];
const viewers = new Map<string, StreamViewer>();

async function startInstance(): Promise<Instance> {
  const healthPort = await freePort();
  const running = await spawnCapture({
    REDIS_URL: redis.url,
    HEALTH_PORT: String(healthPort),
    CAMERAS: CAMERAS.map((id) => `${id}=${SOURCE}`).join(';'),
    CAPTURE_IDLE_AFTER: '600',
  });
  const health = `http://127.0.0.1:${healthPort}`;
  const { pid, fleet } = (await (await fetch(`${health}/healthz`)).json()) as Health;
  const instance = { running, health, pid, member: fleet.member };
  instances.push(instance);
  return instance;
}

const heldBy = async (instance: Instance) => heldCameras(await fetchMetrics(instance.health));

interface Lease {
  readonly epoch: number;
  readonly holder: string;
  /** Redis's clock (TIME, ms): this machine's clock too. */
  readonly until: number;
  /** A hand-over's reservation: who opens the camera to take it over, until when. */
  readonly next: string;
  readonly nextUntil: number;
}

async function readLease(id: string): Promise<Lease> {
  const [epoch, holder, until, next, nextUntil] = await leases.hmget(cameraLeaseKey(id), 'epoch', 'holder', 'until', 'next', 'nextUntil');
  if (epoch === null) throw new Error(`${id}: no lease in Redis`);
  return { epoch: Number(epoch), holder: holder ?? '', until: Number(until), next: next ?? '', nextUntil: Number(nextUntil ?? 0) };
}

/**
 * Who holds what, once every camera is held once and each instance holds as many (2/2/2), each
 * lease in Redis names the instance that says it holds it, and no hand-over is under way (one
 * that finished during a kill would look like a failover faster than the lease allows).
 */
async function evenlyShared(timeoutMs = 60_000): Promise<{ held: string[][]; leases: Map<string, Lease> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await Promise.all(instances.map(heldBy));
    const byCamera = new Map(await Promise.all(CAMERAS.map(async (id) => [id, await readLease(id)] as const)));
    const now = Date.now();
    const even =
      held.flat().sort().join() === [...CAMERAS].sort().join() &&
      held.every((cameras) => cameras.length === CAMERAS.length / instances.length);
    const agreed = held.every((cameras, i) => cameras.every((id) => byCamera.get(id)!.holder === instances[i]!.member));
    const quiet = [...byCamera.values()].every((lease) => lease.next === '' || lease.nextUntil <= now);
    if (even && agreed && quiet) return { held, leases: byCamera };
    if (Date.now() > deadline) {
      const logs = instances.map(
        (instance, i) => `capture ${i + 1} (${instance.member}):\n${instance.running.output.slice(-15).join('\n')}`,
      );
      throw new Error(
        `the cameras were not spread evenly within ${timeoutMs} ms: ${JSON.stringify({ held, even, agreed, quiet, leases: [...byCamera] })}\n${logs.join('\n')}`,
      );
    }
    await sleep(200);
  }
}

function checkViewers(): void {
  for (const [id, viewer] of viewers) {
    if (viewer.isClosed) throw new Error(`${id}: the viewer's stream ended`);
    const fault = sequenceFault(viewer.frames);
    if (fault) throw new Error(`${id}: X-Sequence must rise; ${fault}`);
  }
}

async function killOne(kill: number): Promise<Moved[]> {
  const { held, leases: before } = await evenlyShared();
  // The one holding the most; all hold two here, so the oldest goes first.
  const at = held.reduce((best, cameras, i) => (cameras.length > held[best]!.length ? i : best), 0);
  const victim = instances[at]!;
  const moving = held[at]!;
  const from = new Map(moving.map((id) => [id, viewers.get(id)!.frames.length]));

  const load = loadavg()[0]!;
  const busyAt = machineBusyMs();
  const killedAt = Date.now(); // as the viewers' receivedAt
  process.kill(victim.pid, 'SIGKILL');
  // Nobody renews the victim's leases now; 20 ms for a renewal it wrote just before it died to
  // be read by Redis first.
  await sleep(20);
  const untils = await Promise.all(
    moving.map(async (id) => {
      const lease = await readLease(id);
      if (lease.holder !== victim.member || lease.epoch !== before.get(id)!.epoch)
        throw new Error(`${id}: its lease moved at the kill (${JSON.stringify(before.get(id))} then ${JSON.stringify(lease)})`);
      return lease.until;
    }),
  );
  const epochs = new Map(moving.map((id) => [id, before.get(id)!.epoch]));
  const frames = await Promise.all(
    moving.map((id) =>
      viewers
        .get(id)!
        .waitForFrame(
          (frame) => live(frame) && epochOf(frame.sequence) > epochs.get(id)!,
          `${id}: a live frame of an epoch above ${epochs.get(id)}`,
          from.get(id),
          30_000,
        ),
    ),
  ).catch(async (error: Error) => {
    const survivors = await Promise.all(
      instances.filter((instance) => instance !== victim).map(async (instance) => (await fetch(`${instance.health}/healthz`)).text()),
    );
    throw new Error(`${error.message}; the survivors' /healthz: ${survivors.join(' ')}`);
  });
  const moved = moving.map((id, i) => ({
    kill,
    camera: id,
    ms: frames[i]!.receivedAt - killedAt,
    leaseLeftMs: untils[i]! - killedAt,
    epochBefore: epochs.get(id)!,
    epochAfter: epochOf(frames[i]!.sequence),
    loadAverage: load,
    machineBusyCores: (machineBusyMs() - busyAt) / (Date.now() - killedAt),
  }));
  console.log(JSON.stringify({ kill, moved: moved.map(({ camera, ms, leaseLeftMs }) => ({ camera, ms, leaseLeftMs })) }));

  // Its parent exits once its camera workers, which share its output, have gone too.
  const gone = await Promise.race([victim.running.exited.then(() => true), sleep(10_000, false, { ref: false })]);
  if (!gone) throw new Error(`the killed capture (pid ${victim.pid}) or its workers still run 10 s after the kill`);
  instances.splice(at, 1);
  checkViewers();
  await startInstance();
  await evenlyShared();
  await sleep(settleMs);
  checkViewers();
  return moved;
}

const moved: Moved[] = [];
try {
  for (let i = 0; i < INSTANCES; i++) await startInstance();
  await evenlyShared();
  for (const id of CAMERAS) viewers.set(id, new StreamViewer(`${gateway.baseUrl}/cameras/${id}/stream.mjpg`, { keepJpegs: false }));
  await Promise.all([...viewers.values()].map((viewer) => viewer.waitForFrame(live, 'a live frame', 0, 30_000)));
  await sleep(settleMs);
  for (let kill = 1; kill <= kills; kill++) moved.push(...(await killOne(kill)));
} finally {
  for (const viewer of viewers.values()) viewer.close();
  await Promise.all(instances.map((instance) => instance.running.stop()));
  await gateway.stop();
  leases.disconnect();
  await redis.stop();
}

const times = moved.map((sample) => sample.ms);
const leaseLeft = moved.map((sample) => sample.leaseLeftMs);
const afterExpiry = moved.map((sample) => sample.ms - sample.leaseLeftMs);
const leaseShare = moved.map((sample) => sample.leaseLeftMs / sample.ms);
const busy = moved.map((sample) => sample.machineBusyCores);
const load = moved.map((sample) => sample.loadAverage);
const rows = [
  {
    kills,
    'cameras moved': moved.length,
    'kill to first new-epoch frame p50 / p99 / max ms': summary(times),
    'lease left at the kill p50 / p99 / max ms': summary(leaseLeft),
    'after the lease expired p50 / p99 / max ms': summary(afterExpiry),
    'lease share of the time, p50': `${(percentile(leaseShare, 50) * 100).toFixed(0)} %`,
    'machine busy until back, cores p50 / max': `${percentile(busy, 50).toFixed(2)} / ${Math.max(...busy).toFixed(2)} of ${cpus().length}`,
    'load average at the kill, p50 / max': `${percentile(load, 50).toFixed(1)} / ${Math.max(...load).toFixed(1)}`,
  },
];
console.log(
  `\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machine}; ${INSTANCES} capture instances sharing ${CAMERAS.length} cameras (${SOURCE}), one gateway, one viewer per camera, Redis, all on the same machine; leases of ${LEASE_TTL_MS} ms renewed every 300 ms.\n`,
);
console.log(
  writeRows(results, 'failover', rows, {
    machine,
    source: SOURCE,
    instances: INSTANCES,
    cameras: CAMERAS.length,
    leaseTtlMs: LEASE_TTL_MS,
    moved,
  }),
);
