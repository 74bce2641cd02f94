/**
 * Faults caused for real: capture stopped and started again, redis-server killed for 10 s and
 * started again on its port. Viewers keep their connections throughout, are shown the NO
 * SIGNAL picture while there are no frames, and get the live picture back by themselves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OPEN_GATEWAY, StreamViewer, metricValue } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { freePort, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const CAMERAS = 'lab=pattern:320x240@15';
const NO_SIGNAL_AFTER_S = 2;
const isNoSignal = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === '1';
const isLive = (frame: ReceivedFrame) => !isNoSignal(frame);

describe('faults', () => {
  let redis: RedisServer;
  let restartedRedis: Running | undefined;
  let capture: Running;
  let captureHealth: number;
  let gateway: Service;

  const startLabCapture = () => spawnCapture({ REDIS_URL: redis.url, CAMERAS, HEALTH_PORT: String(captureHealth) }, ['lab']);

  before(async () => {
    redis = await spawnRedis();
    captureHealth = await freePort();
    capture = await startLabCapture();
    gateway = await spawnGateway({ REDIS_URL: redis.url, NO_SIGNAL_AFTER: String(NO_SIGNAL_AFTER_S), ...OPEN_GATEWAY });
    await gateway.ready();
  });

  after(async () => {
    await gateway?.stop();
    await capture?.stop();
    await restartedRedis?.stop();
    await redis?.stop();
  });

  it('shows a blinking NO SIGNAL picture while capture is stopped, and the live picture once it is back', async (t) => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    let late: StreamViewer | undefined;
    try {
      await viewer.waitForFrames(5);
      const stoppedAt = Date.now();
      await capture.stop();
      const lastLive = viewer.liveFrames.at(-1)!;

      const from = viewer.frames.length;
      const first = await viewer.waitForFrame(isNoSignal, 'a NO SIGNAL picture', from);
      t.diagnostic(`NO SIGNAL shown ${first.receivedAt - stoppedAt} ms after capture stopped (threshold ${NO_SIGNAL_AFTER_S} s)`);
      assert.ok(first.receivedAt - stoppedAt >= NO_SIGNAL_AFTER_S * 1000 - 250, 'not before the camera has been quiet for NO_SIGNAL_AFTER');
      // The gateway looks four times a second: at most a quarter of a second late, and some slack.
      const quiet = first.receivedAt - lastLive.receivedAt;
      assert.ok(quiet <= NO_SIGNAL_AFTER_S * 1000 + 500, `NO SIGNAL ${quiet} ms after the last live frame`);
      await viewer.waitForFrame(() => viewer.frames.slice(from).filter(isNoSignal).length >= 3, 'three NO SIGNAL pictures', from);
      const pictures = viewer.frames.slice(from).filter(isNoSignal);
      // Two pictures in turn, so that the image visibly lives; the sequence stays: nothing was captured.
      assert.notDeepEqual(pictures[0]!.jpeg, pictures[1]!.jpeg);
      assert.deepEqual(pictures[0]!.jpeg, pictures[2]!.jpeg);
      for (const picture of pictures) assert.equal(picture.sequence, lastLive.sequence);
      for (let i = 1; i < pictures.length; i++) {
        assert.ok(pictures[i]!.receivedAt - pictures[i - 1]!.receivedAt >= 500, 'repeated at a low rate');
      }

      // A viewer arriving now is told at once, not left with a blank picture.
      late = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
      const [joined] = await late.waitForFrames(1, 3000);
      assert.ok(isNoSignal(joined!), 'a viewer joining a quiet camera gets the NO SIGNAL picture first');
      const metrics = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
      assert.equal(metricValue(metrics, 'camrelay_cameras_without_signal'), 1);

      const restartAt = Date.now();
      capture = await startLabCapture();
      const back = viewer.frames.length;
      const live = await viewer.waitForFrame(isLive, 'a live frame after capture restarted', back, 30_000);
      await late.waitForFrame(isLive, 'a live frame for the late viewer', 0, 10_000);
      t.diagnostic(`live again ${live.receivedAt - restartAt} ms after capture was started again (process start included)`);
      assert.equal(viewer.isClosed, false, 'the viewer kept its connection throughout');
    } finally {
      viewer.close();
      late?.close();
    }
  });

  it('keeps viewers through a 10 s Redis outage, reports not ready, and resumes within 2 s of Redis returning', async (t) => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    try {
      await viewer.waitForFrames(5);
      assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200);
      const droppedBefore = await captureDropped();

      await redis.stop('SIGKILL');
      const downAt = Date.now();
      await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 503), 5000);
      t.diagnostic(`/readyz 503 ${Date.now() - downAt} ms after redis-server was killed`);
      const lastLive = viewer.liveFrames.at(-1)!;

      // The outage itself: nothing to await but time.
      await sleep(10_000 - (Date.now() - downAt));
      assert.equal(viewer.isClosed, false, 'viewers keep their connections while Redis is down');
      assert.ok(viewer.frames.slice(-3).every(isNoSignal), 'and are told there is no signal');
      assert.ok((await captureDropped()) > droppedBefore + 100, 'capture drops the frames it cannot publish');

      restartedRedis = await spawnRedis({ port: redis.port });
      const upAt = Date.now();
      const from = viewer.frames.length;
      const resumed = await viewer.waitForFrame(isLive, 'a live frame after Redis came back', from, 10_000);
      const resumeMs = resumed.receivedAt - upAt;
      t.diagnostic(`stream resumed ${resumeMs} ms after redis-server was ready again`);
      assert.ok(resumeMs <= 2000, `streams resume within 2 s of Redis returning (took ${resumeMs} ms)`);
      // Nothing stale is replayed: the first frame after the outage was captured after it.
      assert.ok(resumed.timestamp * 1000 >= upAt - 1000, 'the first frame after the outage is a fresh one');
      assert.ok(resumed.sequence > lastLive.sequence + 10 * 15 * 0.5, 'the frames of the outage were dropped, not queued');
      await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200), 5000);
      // The camera directory was lost with Redis's memory; capture announces it again.
      await eventually(async () => {
        const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string }>;
        assert.deepEqual(
          cameras.map((camera) => camera.id),
          ['lab'],
        );
      }, 5000);
      assert.equal(viewer.isClosed, false);
    } finally {
      viewer.close();
    }
  });

  it('notices a Redis that goes silent for 10 s (no reset: a partition, a stopped host), and resumes when it answers again', async (t) => {
    const current = restartedRedis ?? redis;
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    try {
      await viewer.waitForFrames(5);
      current.process.kill('SIGSTOP');
      const silentAt = Date.now();
      // Nothing closes a socket: only the gateway's own liveness check can tell.
      await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 503), 8000);
      t.diagnostic(`/readyz 503 ${Date.now() - silentAt} ms after redis-server stopped answering`);
      const lastLive = viewer.liveFrames.at(-1)!;
      await sleep(10_000 - (Date.now() - silentAt)); // the silence itself: nothing to await but time
      assert.ok(viewer.frames.slice(-2).every(isNoSignal), 'viewers are told there is no signal');

      current.process.kill('SIGCONT');
      const backAt = Date.now();
      const resumed = await viewer.waitForFrame(isLive, 'a live frame after Redis answered again', viewer.frames.length, 10_000);
      t.diagnostic(`stream resumed ${resumed.receivedAt - backAt} ms after redis-server answered again`);
      assert.ok(resumed.receivedAt - backAt <= 2000, 'within 2 s');
      assert.ok(resumed.sequence > lastLive.sequence + 10 * 15 * 0.5, 'the silent period was dropped, not replayed');
      await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200), 5000);
      assert.equal(viewer.isClosed, false);
    } finally {
      viewer.close();
    }
  });

  async function captureDropped(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${captureHealth}/metrics`)).text();
    return metricValue(text, 'camrelay_capture_frames_dropped_total', 'camera="lab"');
  }
});
