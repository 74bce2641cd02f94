/**
 * Capture as a fleet (issue 24), on a real redis-server: instances started with the same
 * CAMERAS share them evenly, each camera held by one under a lease; a joining instance takes
 * its share and a stopping one hands its cameras over, each opened by its new holder before
 * the old lets go (no NO SIGNAL, dark for well under a second); a paused instance's frames never
 * reach a viewer after its cameras moved (fencing epochs); a killed one's cameras are live
 * again within 3 s; a camera's worker that crashes costs that camera alone. Each viewer's
 * X-Sequence rises throughout.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { framesChannel } from '@camrelay/bus';
import { FRAMES_PER_EPOCH, encodeEnvelope, epochOf, sequenceOf } from '@camrelay/frame';
import { freePort, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { heldCameras, sequenceFault } from './harness/capture-fleet.js';
import { eventually } from './harness/eventually.js';

const CAMERAS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
const FPS = 15;

interface Instance {
  readonly name: string;
  readonly running: Running;
  readonly health: string;
  /** The capture process itself (spawnCapture's process is the parent that redacts its output). */
  readonly pid: number;
}

interface Health {
  readonly pid: number;
  readonly cameras: ReadonlyArray<{ id: string; epoch: number | null; workerPid: number | null }>;
}

const live = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === undefined;

/** The longest wait between two live frames a viewer got from index `from` on, in ms. */
function longestGap(frames: readonly ReceivedFrame[], from = 0): number {
  const times = frames
    .slice(from)
    .filter(live)
    .map((frame) => frame.receivedAt);
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

describe('capture as a fleet: leases, hand-overs, fencing and failover', () => {
  let redis: RedisServer;
  let gateway: Service;
  const instances: Instance[] = [];
  const viewers = new Map<string, StreamViewer>();
  let nextName = 1;

  const start = async (): Promise<Instance> => {
    const healthPort = await freePort();
    const running = await spawnCapture({
      REDIS_URL: redis.url,
      HEALTH_PORT: String(healthPort),
      CAMERAS: CAMERAS.map((id) => `${id}=pattern:160x120@${FPS}`).join(';'),
      CAPTURE_IDLE_AFTER: '600',
    });
    const health = `http://127.0.0.1:${healthPort}`;
    const { pid } = (await (await fetch(`${health}/healthz`)).json()) as Health;
    const instance = { name: `capture-${nextName++}`, running, health, pid };
    instances.push(instance);
    return instance;
  };
  const alive = () =>
    instances.filter((instance) => instance.running.process.exitCode === null && instance.running.process.signalCode === null);
  const heldBy = async (instance: Instance) => heldCameras(await fetchMetrics(instance.health));
  /** Waits until the live instances hold every camera once, spread evenly, and returns who holds what. */
  const evenlyShared = (among: readonly Instance[], timeoutMs = 30_000) =>
    eventually(
      async () => {
        const held = await Promise.all(among.map(heldBy));
        const all = held.flat().sort();
        assert.deepEqual(all, [...CAMERAS].sort(), `each camera held once: ${JSON.stringify(held)}`);
        const counts = held.map((cameras) => cameras.length);
        assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `spread evenly: ${JSON.stringify(held)}`);
        return new Map(among.map((instance, i) => [instance, held[i]!]));
      },
      timeoutMs,
      200,
    );
  const seen = () => new Map(CAMERAS.map((id) => [id, viewers.get(id)!.frames.length]));
  const checkSequences = () => {
    for (const [id, viewer] of viewers) assert.equal(sequenceFault(viewer.frames), undefined, `${id}: X-Sequence must rise`);
  };
  const newEpochFrame = (id: string, above: number, from: number, timeoutMs: number) =>
    viewers
      .get(id)!
      .waitForFrame(
        (frame) => live(frame) && epochOf(frame.sequence) > above,
        `${id}: a frame of an epoch above ${above}`,
        from,
        timeoutMs,
      );
  const epochNow = (id: string) => epochOf(viewers.get(id)!.liveFrames.at(-1)!.sequence);

  /** A live instance, one of its cameras with a worker running, and the other cameras. */
  const aCameraAndItsWorker = async () => {
    const [instance] = alive();
    const health = (await (await fetch(`${instance!.health}/healthz`)).json()) as Health;
    const victim = health.cameras.find((camera) => camera.workerPid !== null)!;
    return { instance, victim, others: CAMERAS.filter((id) => id !== victim.id) };
  };

  before(async () => {
    redis = await spawnRedis();
    gateway = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
    await Promise.all([start(), start()]);
    await evenlyShared(instances);
    for (const id of CAMERAS) viewers.set(id, new StreamViewer(`${gateway.baseUrl}/cameras/${id}/stream.mjpg`, { keepJpegs: false }));
    await Promise.all([...viewers.values()].map((viewer) => viewer.waitForFrame(live, 'a live frame', 0, 30_000)));
  });

  after(async () => {
    for (const viewer of viewers.values()) viewer.close();
    for (const instance of instances) {
      try {
        process.kill(instance.pid, 'SIGCONT');
      } catch {
        // gone already
      }
    }
    await Promise.all(instances.map((instance) => instance.running.stop()));
    await gateway?.stop();
    await redis?.stop();
  });

  it('shares the cameras evenly; a joining instance takes its share, each camera moving without a gap', async (t) => {
    const before = await evenlyShared(alive());
    assert.deepEqual([...before.values()].map((held) => held.length).sort(), [3, 3]);
    const from = seen();
    const epochs = new Map(CAMERAS.map((id) => [id, epochNow(id)]));
    const joined = await start();
    const after = await evenlyShared(alive());
    assert.equal(after.get(joined)!.length, 2, 'the new instance holds its share');
    for (const id of after.get(joined)!) await newEpochFrame(id, epochs.get(id)!, from.get(id)!, 10_000);
    // A moved camera was opened by its new holder before the old one let go: frames all along.
    await Promise.all(CAMERAS.map((id) => viewers.get(id)!.waitForFrames(from.get(id)! + FPS)));
    for (const id of CAMERAS) {
      const frames = viewers.get(id)!.frames.slice(from.get(id));
      assert.ok(frames.every(live), `${id}: no NO SIGNAL picture while cameras moved`);
      const gap = longestGap(frames);
      t.diagnostic(`${id}: longest gap between frames ${gap.toFixed(0)} ms${after.get(joined)!.includes(id) ? ' (moved)' : ''}`);
      assert.ok(gap < 1000, `${id}: dark for ${gap.toFixed(0)} ms`);
    }
    checkSequences();
  });

  it('a stopping instance (SIGTERM) hands its cameras over before it exits: no NO SIGNAL, no gap', async (t) => {
    const holdings = await evenlyShared(alive());
    const [leaving] = [...holdings.keys()];
    const moving = holdings.get(leaving!)!;
    const from = seen();
    const stoppedAt = performance.now();
    await leaving!.running.stop('SIGTERM');
    t.diagnostic(`stopped after ${(performance.now() - stoppedAt).toFixed(0)} ms`);
    assert.equal(leaving!.running.process.exitCode, 0);
    await evenlyShared(alive());
    for (const id of CAMERAS) await viewers.get(id)!.waitForFrames(from.get(id)! + FPS);
    for (const id of moving) {
      const frames = viewers.get(id)!.frames.slice(from.get(id));
      assert.ok(frames.every(live), `${id}: no NO SIGNAL picture`);
      const gap = longestGap(frames);
      t.diagnostic(`${id} (handed over): longest gap ${gap.toFixed(0)} ms`);
      assert.ok(gap < 1000, `${id}: dark for ${gap.toFixed(0)} ms`);
    }
    checkSequences();
  });

  it('a paused instance (SIGSTOP 10 s) loses its cameras to the others, and none of its frames reaches a viewer after', async (t) => {
    const holdings = await evenlyShared(alive());
    const [paused, survivor] = [...holdings.keys()] as [Instance, Instance];
    const moving = holdings.get(paused)!;
    const epochs = new Map(moving.map((id) => [id, epochNow(id)]));
    const from = seen();
    process.kill(paused.pid, 'SIGSTOP');
    try {
      const stoppedAt = Date.now();
      for (const id of moving) {
        const frame = await newEpochFrame(id, epochs.get(id)!, from.get(id)!, 10_000);
        t.diagnostic(`${id}: live on the survivor ${(frame.receivedAt - stoppedAt).toFixed(0)} ms after the pause`);
        assert.ok(frame.receivedAt - stoppedAt < 3000, `${id} back within 3 s`);
      }
      assert.deepEqual((await heldBy(survivor)).sort(), [...CAMERAS].sort(), 'the survivor holds every camera');
      await eventually(() => assert.ok(Date.now() - stoppedAt >= 10_000), 11_000, 100);
    } finally {
      process.kill(paused.pid, 'SIGCONT');
    }
    const resumedFrom = seen();
    // Back, the paused instance finds its leases gone, stops those cameras, and takes its share again by hand-over.
    await evenlyShared(alive());
    for (const id of CAMERAS) await viewers.get(id)!.waitForFrames(resumedFrom.get(id)! + FPS);
    for (const id of moving) {
      const stale = viewers
        .get(id)!
        .frames.slice(resumedFrom.get(id))
        .filter((frame) => epochOf(frame.sequence) <= epochs.get(id)!);
      assert.deepEqual(stale, [], `${id}: no frame of the paused instance's epoch ${epochs.get(id)} after it resumed`);
    }
    checkSequences();
  });

  it('a frame of an older epoch published on the bus never reaches a viewer (the gateway fences it)', async () => {
    const id = CAMERAS[0]!;
    const viewer = viewers.get(id)!;
    const newest = viewer.liveFrames.at(-1)!;
    const epoch = epochOf(newest.sequence);
    const fencedBefore = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_frames_fenced_total');
    const publisher = new Redis(redis.url);
    const from = viewer.frames.length;
    const staleSequences = new Set<number>();
    try {
      const jpeg = newest.jpeg.length > 0 ? newest.jpeg : Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
      for (let i = 0; i < 10; i++) {
        // A stale holder: the epoch before, numbered far ahead, timestamped now.
        const sequence = sequenceOf(epoch - 1, FRAMES_PER_EPOCH - 100 + i);
        staleSequences.add(sequence);
        await publisher.publish(framesChannel(id), encodeEnvelope({ sequence, capturedAt: Date.now(), width: 16, height: 16, jpeg }));
        await sleep(20);
      }
    } finally {
      publisher.disconnect();
    }
    await viewer.waitForFrames(from + FPS);
    assert.deepEqual(
      viewer.frames.slice(from).filter((frame) => staleSequences.has(frame.sequence)),
      [],
      'no stale frame sent',
    );
    // Seen and dropped, not lost on the way (frames arriving together are coalesced first: not all ten are counted).
    await eventually(async () =>
      assert.ok(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_frames_fenced_total') > fencedBefore, 'counted as fenced'),
    );
    checkSequences();
  });

  it("a camera's worker that crashes costs that camera alone: restarted, the others never pause", async (t) => {
    const { instance, victim, others } = await aCameraAndItsWorker();
    const from = seen();
    process.kill(victim.workerPid!, 'SIGSEGV');
    await eventually(async () => {
      const ends = metricValue(
        await fetchMetrics(instance!.health),
        'camrelay_capture_worker_ends_total',
        `camera="${victim.id}",reason="exited"`,
      );
      assert.equal(ends, 1);
    });
    const back = await viewers
      .get(victim.id)!
      .waitForFrame(live, `${victim.id}: live again`, viewers.get(victim.id)!.frames.length, 15_000);
    t.diagnostic(`${victim.id}: live again at ${back.sequence}`);
    for (const id of others) await viewers.get(id)!.waitForFrames(viewers.get(id)!.frames.length + FPS);
    for (const id of others) {
      const gap = longestGap(viewers.get(id)!.frames, from.get(id));
      assert.ok(gap < 1000, `${id} paused ${gap.toFixed(0)} ms while another camera's worker crashed`);
    }
    checkSequences();
  });

  it("a camera's worker that hangs (stopped) is killed and replaced after 10 s of silence; the others never pause", async (t) => {
    const { instance, victim, others } = await aCameraAndItsWorker();
    const from = seen();
    const stoppedAt = performance.now();
    process.kill(victim.workerPid!, 'SIGSTOP');
    await eventually(
      async () => {
        const hung = metricValue(
          await fetchMetrics(instance!.health),
          'camrelay_capture_worker_ends_total',
          `camera="${victim.id}",reason="hung"`,
        );
        assert.equal(hung, 1);
      },
      20_000,
      200,
    );
    t.diagnostic(`${victim.id}: its silent worker replaced after ${(performance.now() - stoppedAt).toFixed(0)} ms`);
    await viewers.get(victim.id)!.waitForFrame(live, `${victim.id}: live again`, viewers.get(victim.id)!.frames.length, 15_000);
    for (const id of others) {
      const gap = longestGap(viewers.get(id)!.frames, from.get(id));
      assert.ok(gap < 1000, `${id} paused ${gap.toFixed(0)} ms while another camera's worker hung`);
    }
    checkSequences();
  });

  it('a killed instance (SIGKILL): its cameras are live again on the others within 3 s, their streams open throughout', async (t) => {
    const holdings = await evenlyShared(alive());
    const [killed] = [...holdings.keys()] as [Instance];
    const moving = holdings.get(killed)!;
    const epochs = new Map(moving.map((id) => [id, epochNow(id)]));
    const from = seen();
    const killedAt = Date.now(); // as the viewers' receivedAt
    process.kill(killed.pid, 'SIGKILL');
    for (const id of moving) {
      const frame = await newEpochFrame(id, epochs.get(id)!, from.get(id)!, 10_000);
      const after = frame.receivedAt - killedAt;
      t.diagnostic(`${id}: live again ${after.toFixed(0)} ms after the kill`);
      assert.ok(after < 3000, `${id}: live again after ${after.toFixed(0)} ms`);
    }
    for (const viewer of viewers.values())
      assert.equal(await Promise.race([viewer.ended.then(() => 'ended'), Promise.resolve('open')]), 'open');
    checkSequences();
  });
});

describe('capture on demand in a fleet', () => {
  let redis: RedisServer;
  let gateway: Service;
  const healths: string[] = [];
  const captures: Running[] = [];
  const IDS = ['d1', 'd2'];

  const openOn = async (id: string) => {
    const values = await Promise.all(
      healths.map(async (health) => {
        const text = await fetchMetrics(health);
        return heldCameras(text).includes(id) ? metricValue(text, 'camrelay_capture_camera_open', `camera="${id}"`) : null;
      }),
    );
    const held = values.filter((value) => value !== null);
    assert.equal(held.length, 1, `${id} held by one instance`);
    return held[0] === 1;
  };

  before(async () => {
    redis = await spawnRedis();
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      healths.push(`http://127.0.0.1:${port}`);
      captures.push(
        await spawnCapture({
          REDIS_URL: redis.url,
          HEALTH_PORT: String(port),
          CAMERAS: IDS.map((id) => `${id}=pattern:160x120@10`).join(';'),
          CAPTURE_IDLE_AFTER: '1',
        }),
      );
    }
    gateway = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
  });

  after(async () => {
    await Promise.all(captures.map((capture) => capture.stop()));
    await gateway?.stop();
    await redis?.stop();
  });

  it("a sleeping camera is opened by its lease's holder for its first viewer, and sleeps again after", async () => {
    await eventually(
      async () => {
        for (const id of IDS) assert.equal(await openOn(id), false, `${id} asleep`);
      },
      30_000,
      200,
    );
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/d1/stream.mjpg`, { keepJpegs: false });
    try {
      await viewer.waitForFrame(live, 'a live frame of d1', 0, 20_000);
      assert.equal(await openOn('d1'), true, 'd1 open for its viewer');
      assert.equal(await openOn('d2'), false, 'd2 still asleep');
    } finally {
      viewer.close();
    }
    await eventually(async () => assert.equal(await openOn('d1'), false, 'd1 asleep again'), 20_000, 200);
  });
});
