/**
 * Capture as a fleet (issue 24), on a real redis-server: instances started with the same
 * CAMERAS share them evenly, each camera held by one under a lease; a joining instance takes
 * its share and a stopping one hands its cameras over, each opened by its new holder before
 * the old lets go (no NO SIGNAL, dark for well under a second); a paused instance's frames never
 * reach a viewer after its cameras moved, whether its workers were killed as hung meanwhile (10 s)
 * or handed it the frames they captured (a shorter pause: published under its lost epochs, fenced
 * by the gateway); a killed one's cameras are live again within 3 s; a camera's worker that crashes
 * costs that camera alone. Each viewer's X-Sequence rises throughout.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { framesChannel } from '@camrelay/bus';
import { FRAMES_PER_EPOCH, decodeEnvelope, encodeEnvelope, epochOf, sequenceOf } from '@camrelay/frame';
import { freePort, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { heldCameras, sequenceFault } from './harness/capture-fleet.js';
import { eventually } from './harness/eventually.js';

const CAMERAS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
const FPS = 15;
/** Capture's default: a worker silent this long is killed (services/capture/src/defaults.ts, workerHungAfterMs). */
const WORKER_HUNG_AFTER_MS = 10_000;

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

  /**
   * Records every frame published on these cameras' channels (their own size: what the viewers
   * watch), with its X-Sequence and X-Timestamp as a gateway would send them.
   */
  const recordPublished = async (ids: readonly string[]) => {
    const subscriber = new Redis(redis.url);
    const byChannel = new Map(ids.map((id) => [framesChannel(id), id]));
    const frames = new Map(ids.map((id) => [id, [] as Array<{ sequence: number; timestamp: string }>]));
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const { sequence, capturedAt } = decodeEnvelope(message);
      frames.get(byChannel.get(channel.toString())!)!.push({ sequence, timestamp: (capturedAt / 1000).toFixed(6) });
    });
    await subscriber.subscribe(...byChannel.keys());
    return { frames, close: () => subscriber.disconnect() };
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

  /**
   * SIGSTOPs an instance with no publish in flight, and returns when. A feed's publish still in
   * flight when it stops would have the frames its workers send it meanwhile dropped on SIGCONT
   * (one publish in flight per feed: the others are dropped), and it would publish nothing stale.
   * So its workers are stopped first; once it has published what they had sent (its /healthz
   * answered after), Redis has run those publishes (a PING answered after them) and it has read
   * their replies (its /healthz answered again), it is stopped, and its workers go on.
   */
  const stopIdle = async (instance: Instance, cameras: readonly string[]): Promise<number> => {
    const health = (await (await fetch(`${instance.health}/healthz`)).json()) as Health;
    const workers = health.cameras.filter((camera) => cameras.includes(camera.id)).map((camera) => camera.workerPid);
    assert.ok(workers.length === cameras.length && workers.every((pid) => pid !== null), `workers of ${cameras.join(', ')} running`);
    const barrier = new Redis(redis.url);
    for (const pid of workers) process.kill(pid, 'SIGSTOP');
    try {
      await (await fetch(`${instance.health}/healthz`)).text();
      await barrier.ping();
      await (await fetch(`${instance.health}/healthz`)).text();
      const stoppedAt = Date.now();
      process.kill(instance.pid, 'SIGSTOP');
      return stoppedAt;
    } finally {
      for (const pid of workers) process.kill(pid, 'SIGCONT');
      barrier.disconnect();
    }
  };

  /**
   * Pauses an instance (SIGSTOP) for `pauseMs`, or until its cameras moved if that is longer:
   * each taken over by the other within `backWithinMs`, the survivor's frames at the viewers.
   * Then resumes it (SIGCONT) and waits until the fleet has settled again. Every
   * frame published on its cameras' channels is recorded on the way, as the gateway gets it:
   * what the paused instance published after it resumed under the epochs it had lost
   * (`staleAfterResume`), and which of those reached a viewer (`staleAtViewer`). A stale frame is
   * known at a viewer by its epoch or, should a gateway renumber it (X-Sequence), by its capture
   * time (X-Timestamp) on a frame the camera's new holders did not publish so.
   */
  const pauseThenResume = async (
    t: TestContext,
    { pauseMs, backWithinMs, idle = false }: { pauseMs: number; backWithinMs: number; idle?: boolean },
  ) => {
    const holdings = await evenlyShared(alive());
    const [paused, survivor] = [...holdings.keys()] as [Instance, Instance];
    const moving = holdings.get(paused)!;
    // Its epochs as it holds them (a viewer's X-Sequence says the same, unless a gateway renumbered it).
    const metrics = await fetchMetrics(paused.health);
    const epochs = new Map(moving.map((id) => [id, metricValue(metrics, 'camrelay_capture_camera_epoch', `camera="${id}"`)]));
    const published = await recordPublished(moving);
    let resumedFrom: Map<string, number>;
    let publishedBefore: Map<string, number>;
    try {
      const from = seen();
      let stoppedAt = Date.now();
      if (idle) stoppedAt = await stopIdle(paused, moving);
      else process.kill(paused.pid, 'SIGSTOP');
      try {
        for (const id of moving) {
          const frame = await newEpochFrame(id, epochs.get(id)!, from.get(id)!, 10_000);
          t.diagnostic(`${id}: live on the survivor ${(frame.receivedAt - stoppedAt).toFixed(0)} ms after the pause`);
          assert.ok(frame.receivedAt - stoppedAt < backWithinMs, `${id} back within ${backWithinMs} ms`);
        }
        assert.deepEqual((await heldBy(survivor)).sort(), [...CAMERAS].sort(), 'the survivor holds every camera');
        await sleep(Math.max(0, stoppedAt + pauseMs - Date.now())); // the pause itself: time, not an event
      } finally {
        process.kill(paused.pid, 'SIGCONT');
        resumedFrom = seen();
        publishedBefore = new Map(moving.map((id) => [id, published.frames.get(id)!.length]));
      }
      // Back, the paused instance finds its leases gone, stops those cameras, and takes its share again by hand-over.
      await evenlyShared(alive());
      for (const id of CAMERAS) await viewers.get(id)!.waitForFrames(resumedFrom.get(id)! + FPS);
    } finally {
      published.close();
    }
    const staleAfterResume = new Map<string, number>();
    const staleAtViewer: string[] = [];
    for (const id of moving) {
      const lost = epochs.get(id)!;
      const frames = published.frames.get(id)!;
      const stale = frames.slice(publishedBefore.get(id)).filter((frame) => epochOf(frame.sequence) <= lost);
      staleAfterResume.set(id, stale.length);
      const staleTimes = new Set(stale.map((frame) => frame.timestamp));
      const newer = frames.filter((frame) => epochOf(frame.sequence) > lost);
      const asPublished = new Set(newer.map((frame) => `${frame.sequence}@${frame.timestamp}`));
      for (const frame of viewers.get(id)!.frames.slice(resumedFrom.get(id)).filter(live)) {
        const timestamp = frame.headers['x-timestamp']!;
        if (epochOf(frame.sequence) <= lost) staleAtViewer.push(`${id}: X-Sequence ${frame.sequence} (epoch ${epochOf(frame.sequence)})`);
        else if (staleTimes.has(timestamp) && !asPublished.has(`${frame.sequence}@${timestamp}`))
          staleAtViewer.push(`${id}: X-Timestamp ${timestamp}, published under epoch ${lost}, renumbered X-Sequence ${frame.sequence}`);
      }
    }
    t.diagnostic(
      `frames of a lost epoch the paused instance published after SIGCONT: ${JSON.stringify(Object.fromEntries(staleAfterResume))}`,
    );
    return { epochs, staleAfterResume, staleAtViewer };
  };

  it('a paused instance (SIGSTOP 10 s) loses its cameras to the others, and none of its frames reaches a viewer after', async (t) => {
    // On SIGCONT its workers' hang watchdog (10 s) is due: it kills them, mostly before it has
    // read what they captured meanwhile, so that it publishes no frame of its lost epochs, or one
    // now and then. The shorter pause below has it publish such frames every time.
    const { epochs, staleAtViewer } = await pauseThenResume(t, { pauseMs: 10_000, backWithinMs: 3000 });
    assert.deepEqual(staleAtViewer, [], `no frame of the paused instance's epochs ${JSON.stringify([...epochs])} after it resumed`);
    checkSequences();
  });

  it("a paused instance (SIGSTOP until its cameras moved: past its leases, within its workers' hang watchdog) publishes its buffered frames after SIGCONT: the gateway fences every one", async (t) => {
    // Paused past its leases (1.5 s: its cameras moved) but not past its workers' hang watchdog
    // (10 s, which would kill them first), and with no publish in flight: on SIGCONT it publishes
    // what its workers captured meanwhile, under the epochs it lost, before it learns that it
    // lost them.
    const fencedBefore = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_frames_fenced_total');
    const { epochs, staleAfterResume, staleAtViewer } = await pauseThenResume(t, {
      pauseMs: 0,
      backWithinMs: WORKER_HUNG_AFTER_MS - 2000,
      idle: true,
    });
    assert.ok(
      [...staleAfterResume.values()].some((count) => count > 0),
      'the paused instance published frames of its lost epochs after SIGCONT',
    );
    assert.deepEqual(staleAtViewer, [], `no frame of the paused instance's epochs ${JSON.stringify([...epochs])} after it resumed`);
    const fenced = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_frames_fenced_total') - fencedBefore;
    t.diagnostic(`the gateway fenced ${fenced} frames`);
    assert.ok(fenced > 0, 'the gateway fenced frames');
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
