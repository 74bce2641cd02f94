/**
 * Capture only while watched, across the deployment: a camera opens when the first viewer on
 * any gateway (stream or snapshot) asks for it, stays open while any gateway has a viewer,
 * closes CAPTURE_IDLE_AFTER after the last one left, and a gateway killed without a word stops
 * holding it once its claim expires. Its viewers see the STARTING picture until its first frame.
 * Real redis-server, capture and gateway processes; the same in the embedded mode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { redisBusFor } from '@camrelay/bus';
import type { FrameBus } from '@camrelay/bus';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { GATEWAY_DEFAULTS, STARTING_JPEGS } from '@camrelay/gateway';
import { freePort, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const IDLE_AFTER_S = 1;
const FPS = 15;

const isStarting = (frame: ReceivedFrame) => STARTING_JPEGS.some((jpeg) => jpeg.equals(frame.jpeg));
const isLive = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === undefined;

/**
 * Opens a stream and resolves once its first frame captured after the request came (the camera
 * is open): what the viewer saw before it, and how long it took.
 */
async function firstLiveFrame(url: string): Promise<{ viewer: StreamViewer; before: ReceivedFrame[]; ms: number }> {
  const [askedAt, askedAtMs] = [performance.now(), Date.now()];
  const viewer = new StreamViewer(url);
  const first = await viewer.waitForFrame((frame) => isLive(frame) && frame.timestamp * 1000 >= askedAtMs, 'a new frame', 0, 15_000);
  return { viewer, before: viewer.frames.slice(0, viewer.frames.indexOf(first)), ms: performance.now() - askedAt };
}

/** Resolves once the gateway's camera list says whether the camera sleeps. */
async function listedAsleep(gateway: Service, camera: string, sleeping: boolean): Promise<void> {
  await eventually(async () => {
    const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string; sleeping: boolean }>;
    assert.equal(cameras.find(({ id }) => id === camera)?.sleeping, sleeping, `${camera} listed as ${sleeping ? '' : 'not '}sleeping`);
  });
}

describe('capture only while watched', () => {
  let redis: RedisServer;
  /** The bus as a gateway reads it, for the camera directory. */
  let directory: FrameBus;
  let capture: Running;
  let captureHealth: string;
  let gateways: Service[];

  const metric = async (name: string, camera: string) => metricValue(await fetchMetrics(captureHealth), name, `camera="${camera}"`);
  const isOpen = async (camera: string) => (await metric('camrelay_capture_camera_open', camera)) === 1;
  const opens = (camera: string) => metric('camrelay_capture_opens_total', camera);
  /**
   * Asleep as the gateways read it afresh: the camera's entry on the bus, announced once its
   * worker has stopped (camrelay_capture_camera_open turns 0 as it starts stopping).
   */
  const isAsleep = async (camera: string) => (await directory.cameraInfo(camera))?.sleeping === true;
  /** Resolves once capture has closed the camera; how long that took from `since`. */
  const closedAfter = async (camera: string, since: number, timeoutMs: number) => {
    await eventually(async () => assert.equal(await isOpen(camera), false, `${camera} still open`), timeoutMs, 50);
    return performance.now() - since;
  };

  before(async () => {
    redis = await spawnRedis();
    directory = redisBusFor({ kind: 'single', url: redis.url }, () => undefined);
    const healthPort = await freePort();
    captureHealth = `http://127.0.0.1:${healthPort}`;
    capture = await spawnCapture(
      {
        REDIS_URL: redis.url,
        HEALTH_PORT: String(healthPort),
        CAMERAS: `lab=pattern:320x240@${FPS};kept=pattern:160x120@5,always`,
        CAPTURE_IDLE_AFTER: String(IDLE_AFTER_S),
      },
      ['lab', 'kept'],
    );
    gateways = await Promise.all([
      spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY }),
      spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY }),
    ]);
    await Promise.all(gateways.map((gateway) => gateway.ready()));
  });

  after(async () => {
    await Promise.all(gateways?.map((gateway) => gateway.stop()) ?? []);
    await capture?.stop();
    await directory?.close();
    await redis?.stop();
  });

  it('opens each camera at start, closes it with nobody watching, and opens it for the first viewer, STARTING until its first frame', async (t) => {
    await eventually(async () => assert.ok(await isAsleep('lab'), 'lab asleep'), 10_000, 50);
    assert.equal(await opens('lab'), 1, 'opened once, at start');
    const [a] = gateways as [Service, Service];
    await listedAsleep(a, 'lab', true);
    await listedAsleep(a, 'kept', false);

    const { viewer, before, ms } = await firstLiveFrame(`${a.baseUrl}/cameras/lab/stream.mjpg`);
    try {
      t.diagnostic(`first live frame ${ms.toFixed(0)} ms after the request, after ${before.length} STARTING picture(s)`);
      assert.ok(before.length >= 1, 'the STARTING picture came first');
      assert.ok(before.every(isStarting), 'only STARTING pictures before the first frame');
      // Counted in the camera's worker, whose report may reach capture just after the frame did.
      await eventually(async () => assert.equal(await opens('lab'), 2, 'opened again, once'));
      assert.equal(await isOpen('lab'), true);
    } finally {
      viewer.close();
    }
  });

  it('stays open while a viewer on either gateway stays, and closes CAPTURE_IDLE_AFTER after the last left', async () => {
    const [a, b] = gateways as [Service, Service];
    const onA = (await firstLiveFrame(`${a.baseUrl}/cameras/lab/stream.mjpg`)).viewer;
    const onB = (await firstLiveFrame(`${b.baseUrl}/cameras/lab/stream.mjpg`)).viewer;
    const opened = await opens('lab');
    onA.close();
    // B's viewer goes on getting frames after A's left, for longer than a claim lasts unless
    // renewed, plus the idle time: B's gateway renews its claim.
    const from = onB.frames.length;
    await onB.waitForFrames(from + Math.ceil((GATEWAY_DEFAULTS.claimTtlMs / 1000 + 2 * IDLE_AFTER_S) * FPS));
    assert.deepEqual(
      onB.frames.slice(from).filter((frame) => !isLive(frame)),
      [],
      'no stand-in picture: the camera never closed',
    );
    assert.equal(await opens('lab'), opened, 'not reopened');
    const leftAt = performance.now();
    onB.close();
    const closedMs = await closedAfter('lab', leftAt, 10_000);
    assert.ok(
      closedMs >= IDLE_AFTER_S * 1000 - 100,
      `closed ${closedMs.toFixed(0)} ms after the last viewer left, not before CAPTURE_IDLE_AFTER`,
    );
  });

  it('stops being held by a gateway killed with SIGKILL once its claim expires', async (t) => {
    const doomed = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
    await doomed.ready();
    const { viewer } = await firstLiveFrame(`${doomed.baseUrl}/cameras/lab/stream.mjpg`);
    doomed.process.kill('SIGKILL');
    await doomed.exited;
    const killedAt = performance.now();
    viewer.close();
    const closedMs = await closedAfter('lab', killedAt, GATEWAY_DEFAULTS.claimTtlMs + IDLE_AFTER_S * 1000 + 5000);
    t.diagnostic(`closed ${closedMs.toFixed(0)} ms after the gateway was killed`);
    // The claim was renewed at most a third of its time before the kill, so it outlived the gateway by two thirds at least.
    assert.ok(closedMs >= (GATEWAY_DEFAULTS.claimTtlMs * 2) / 3, 'held until the claim expired: a killed gateway withdraws nothing');
  });

  it('wakes a sleeping camera for a snapshot, and answers with a frame captured after the request', async () => {
    assert.equal(await isOpen('lab'), false);
    await listedAsleep(gateways[1]!, 'lab', true);
    const askedAt = Date.now();
    const response = await fetch(`${gateways[1]!.baseUrl}/cameras/lab/snapshot.jpg`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/jpeg');
    assert.ok(Number(response.headers.get('x-timestamp')) * 1000 >= askedAt, 'a new frame, not the one from before it slept');
    const jpeg = Buffer.from(await response.arrayBuffer());
    assert.ok(!STARTING_JPEGS.some((picture) => picture.equals(jpeg)), 'a frame, not a stand-in picture');
  });

  it('shows STARTING, not the frame from before it slept, on a gateway whose camera list is up to a second old', async () => {
    const [a, b] = gateways as [Service, Service];
    (await firstLiveFrame(`${a.baseUrl}/cameras/lab/stream.mjpg`)).viewer.close();
    // B's cached camera list, renewed once a second by these requests, still says "awake" for
    // up to a second after the camera fell asleep.
    while (!(await isAsleep('lab'))) {
      await (await fetch(`${b.baseUrl}/api/cameras`)).arrayBuffer();
      await delay(20);
    }
    const { viewer, before } = await firstLiveFrame(`${b.baseUrl}/cameras/lab/stream.mjpg`);
    viewer.close();
    assert.ok(before.length >= 1 && before.every(isStarting), 'only STARTING pictures before the first frame');
  });

  it('leaves a camera with the always option open with nobody watching it', async () => {
    // Nobody watched `kept` through every test above, each longer than CAPTURE_IDLE_AFTER.
    assert.equal(await isOpen('kept'), true);
    assert.equal(await opens('kept'), 1);
  });
});

describe('capture only while watched, embedded (no Redis)', () => {
  let gateway: Service;

  before(async () => {
    gateway = await spawnGateway({ ...OPEN_GATEWAY, CAMERAS: 'solo=pattern:320x240@15', CAPTURE_IDLE_AFTER: String(IDLE_AFTER_S) });
  });

  after(async () => {
    await gateway?.stop();
  });

  it('closes the camera with nobody watching and opens it for a viewer, STARTING until its first frame', async (t) => {
    await listedAsleep(gateway, 'solo', true);
    const { viewer, before, ms } = await firstLiveFrame(`${gateway.baseUrl}/cameras/solo/stream.mjpg`);
    viewer.close();
    t.diagnostic(`first live frame ${ms.toFixed(0)} ms after the request`);
    assert.ok(before.length >= 1, 'the STARTING picture came first');
    assert.ok(before.every(isStarting), 'only STARTING pictures before the first frame');
    // capture's metrics, on the all-in-one's own /metrics; its camera worker reports its counters
    // with its first frame and then now and then, so they may come after the frame did.
    await eventually(async () =>
      assert.equal(
        metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_capture_opens_total', 'camera="solo"'),
        2,
        'camrelay_capture_opens_total: at start, and for the viewer',
      ),
    );
  });
});
