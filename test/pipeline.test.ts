/**
 * The whole distributed path on real parts: capture (OpenCV test pattern) → redis-server →
 * two gateway processes → HTTP viewers on both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { framesChannel } from '@camrelay/bus';
import { encodeEnvelope } from '@camrelay/frame';
import { loadOpenCV } from '@camrelay/capture';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { RedisServer, Service } from '@camrelay/stack';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';
import { assertJsonErrors } from './harness/json-errors.js';
import { listeningAddresses } from './harness/listening.js';
import type { ErrorCase } from './harness/json-errors.js';

describe('capture → Redis → two gateways', () => {
  let relay: Relay;
  let redis: RedisServer;
  let gateways: readonly Service[];
  let captureHealth: string;

  before(async () => {
    relay = await startRelay({
      cameras: 'lab=pattern:640x480@30;bench=pattern:320x240@10;slow=pattern:160x120@1',
      gateways: 2,
      gatewayEnv: OPEN_GATEWAY,
    });
    ({ captureHealth, gateways } = relay);
    redis = relay.redis!;
  });

  after(async () => {
    await relay?.stop();
  });

  it('lists the cameras on every gateway', async () => {
    for (const gateway of gateways) {
      const response = await fetch(`${gateway.baseUrl}/api/cameras`);
      assert.equal(response.status, 200);
      const cameras = (await response.json()) as Array<Record<string, unknown>>;
      const lab = cameras.find((camera) => camera.id === 'lab');
      assert.ok(lab, 'camera lab listed');
      assert.deepEqual(Object.keys(lab).sort(), [
        'fps',
        'height',
        'id',
        'lastFrameAt',
        'online',
        'sizes',
        'sleeping',
        'snapshotUrl',
        'streamUrl',
        'tiers',
        'videoUrl',
        'width',
      ]);
      assert.equal(lab.width, 640);
      assert.equal(lab.height, 480);
      assert.equal(lab.online, true);
      assert.ok(!Number.isNaN(Date.parse(String(lab.lastFrameAt))));
      assert.deepEqual(
        cameras.map((camera) => camera.id),
        ['lab', 'bench', 'slow'],
        'in CAMERAS order',
      );
    }
  });

  it('streams the same frames, valid JPEGs with rising X-Sequence, to viewers on both gateways', async () => {
    const cv = await loadOpenCV(process.env);
    const viewers = gateways.flatMap((gateway) => [0, 1].map(() => new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`)));
    try {
      const received = await Promise.all(viewers.map((viewer) => viewer.waitForFrames(30)));
      const first = viewers[0]!.response!;
      assert.match(String(first.headers['content-type']), /^multipart\/x-mixed-replace; boundary=/);
      assert.match(String(first.headers['cache-control']), /no-store/);
      assert.equal(first.headers['content-encoding'], undefined);

      for (const frames of received) {
        for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.sequence > frames[i - 1]!.sequence, 'X-Sequence rises');
        const last = frames[frames.length - 1]!;
        assert.equal(last.headers['content-type'], 'image/jpeg');
        assert.equal(Number(last.headers['content-length']), last.jpeg.length);
        assert.ok(Math.abs(last.timestamp * 1000 - last.receivedAt) < 5000, 'X-Timestamp is the capture time in seconds');
        const picture = cv.imdecode(last.jpeg);
        assert.equal(picture.cols, 640);
        assert.equal(picture.rows, 480);
      }

      // The same capture frame is byte-identical whichever gateway delivered it.
      const bySequence = new Map(received[0]!.map((frame) => [frame.sequence, frame.jpeg]));
      const shared = received[2]!.filter((frame) => bySequence.has(frame.sequence));
      assert.ok(shared.length >= 20, `gateways delivered mostly the same frames (${shared.length} of 30 shared)`);
      for (const frame of shared) assert.ok(frame.jpeg.equals(bySequence.get(frame.sequence)!));
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });

  it('subscribes once per camera per gateway, whatever the number of viewers', async () => {
    const [gateway] = gateways;
    const openedBefore = metricValue(await fetchMetrics(gateway!.baseUrl), 'camrelay_streams_opened_total');
    const viewers = [0, 1, 2, 3, 4].map(() => new StreamViewer(`${gateway!.baseUrl}/cameras/bench/stream.mjpg`));
    try {
      await Promise.all(viewers.map((viewer) => viewer.waitForFrames(2)));
      const metrics = await fetchMetrics(gateway!.baseUrl);
      assert.equal(metricValue(metrics, 'camrelay_viewers', 'camera="bench"'), 5);
      assert.equal(metricValue(metrics, 'camrelay_open_streams'), 5);
      assert.ok(!metrics.includes('camrelay_viewers_total'), 'the old name of camrelay_open_streams, gone in 0.5.0');
      assert.equal(metricValue(metrics, 'camrelay_streams_opened_total') - openedBefore, 5);
      const client = new Redis(redis.url);
      const [, count] = (await client.pubsub('NUMSUB', 'camrelay:{bench}:frames')) as [string, number];
      await client.quit();
      assert.equal(count, 1, 'one Redis subscription for five viewers on this gateway');
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });

  it('coalesces frames that reach a gateway together: viewers get the newest, the rest are counted', async () => {
    const [gateway] = gateways; // already watching `bench`: its subscription is live
    const viewer = new StreamViewer(`${gateway!.baseUrl}/cameras/bench/stream.mjpg`);
    const client = new Redis(redis.url);
    try {
      const [first] = await viewer.waitForFrames(1);
      const coalescedBefore = metricValue(await fetchMetrics(gateway!.baseUrl), 'camrelay_frames_coalesced_total');
      // A backlog, as Redis hands over to a gateway that fell behind: ten frames in one write.
      // Small enough (~11 KB) for Redis to read the ten publishes at once (it reads 16 KB at a
      // time) and so write them at once: at 4 KB each it wrote them in three writes, and a quick
      // gateway fanned out each before the next came (seen once in npm test: 3 of 10 delivered).
      const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(1024, 0x55), Buffer.from([0xff, 0xd9])]);
      const backlog = Array.from({ length: 10 }, (_, i) => first!.sequence + 1_000_000 + i);
      const pipeline = client.pipeline();
      for (const sequence of backlog)
        pipeline.publish(framesChannel('bench'), encodeEnvelope({ sequence, capturedAt: Date.now(), width: 320, height: 240, jpeg }));
      await pipeline.exec();

      const newest = await viewer.waitForFrame((frame) => frame.sequence === backlog.at(-1), 'the newest frame of the backlog');
      const delivered = viewer.frames.filter((frame) => backlog.includes(frame.sequence));
      assert.ok(
        delivered.length <= 2,
        `viewer got ${delivered.length} of the 10 backlog frames (${delivered.map((frame) => frame.sequence - backlog[0]!).join(', ')})`,
      );
      assert.equal(newest.jpeg.length, jpeg.length);
      const coalesced = metricValue(await fetchMetrics(gateway!.baseUrl), 'camrelay_frames_coalesced_total') - coalescedBefore;
      assert.ok(coalesced >= 8, `${coalesced} frames counted as coalesced`);
    } finally {
      await client.quit();
      viewer.close();
    }
  });

  it('gives a new viewer the latest frame at once, not the next one captured', async () => {
    // Nobody has watched `slow` (1 fps): the frame must come from the gateway's latest-frame
    // fetch at subscription, captured before the request; the live channel only has later ones.
    const requestedAt = Date.now();
    const viewer = new StreamViewer(`${gateways[1]!.baseUrl}/cameras/slow/stream.mjpg`);
    try {
      const [frame] = await viewer.waitForFrames(1);
      assert.ok(
        frame!.timestamp * 1000 < requestedAt,
        `the first frame was captured ${(frame!.timestamp * 1000 - requestedAt).toFixed(0)} ms after the request`,
      );
    } finally {
      viewer.close();
    }
  });

  it('caps a client at ?fps=N', async () => {
    const viewer = new StreamViewer(`${gateways[0]!.baseUrl}/cameras/lab/stream.mjpg?fps=10`);
    try {
      const frames = await viewer.waitForFrames(12);
      const span = frames[11]!.timestamp - frames[1]!.timestamp;
      const fps = 10 / span;
      assert.ok(fps > 7 && fps < 12, `capped stream ran at ${fps.toFixed(1)} fps`);
    } finally {
      viewer.close();
    }
  });

  it('serves the latest frame as a snapshot on any gateway', async () => {
    for (const gateway of gateways) {
      const response = await fetch(`${gateway.baseUrl}/cameras/lab/snapshot.jpg`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'image/jpeg');
      assert.ok(Number(response.headers.get('x-sequence')) >= 0);
      const body = Buffer.from(await response.arrayBuffer());
      assert.deepEqual([body[0], body[1]], [0xff, 0xd8]);
    }
  });

  it('serves the first camera at /video_feed, the classic URL', async () => {
    const viewer = new StreamViewer(`${gateways[0]!.baseUrl}/video_feed`);
    try {
      const [frame] = await viewer.waitForFrames(1);
      const cv = await loadOpenCV(process.env);
      assert.equal(cv.imdecode(frame!.jpeg).cols, 640);
    } finally {
      viewer.close();
    }
  });

  it('answers bad requests with JSON errors', async () => {
    const base = gateways[0]!.baseUrl;
    const cases: ErrorCase[] = [
      ['/cameras/nope/stream.mjpg', 404, 'unknown_camera'],
      ['/cameras/nope/snapshot.jpg', 404, 'unknown_camera'],
      ['/cameras/lab/stream.mjpg?fps=abc', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=0', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=1000', 400, 'bad_fps'],
      ['/cameras/..%2F..%2Fetc/snapshot.jpg', 400, 'bad_camera_id'],
      ['/no/such/route', 404, 'not_found'],
    ];
    await assertJsonErrors(base, cases);
  });

  it('drops and counts a garbage message on the frame channel, and streams on', async () => {
    const gateway = gateways[1]!;
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    const client = new Redis(redis.url);
    try {
      await viewer.waitForFrames(2);
      const before = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_messages_dropped_total');
      await client.publish(framesChannel('lab'), Buffer.from('definitely not a frame'));
      await client.publish(framesChannel('lab'), Buffer.alloc(0));
      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 10);
      const afterCount = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_messages_dropped_total');
      assert.equal(afterCount - before, 2);
    } finally {
      viewer.close();
      await client.quit();
    }
  });

  it('drops and counts a forged frame from the future: real frames go on, snapshots stay real', async () => {
    const gateway = gateways[0]!;
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    const client = new Redis(redis.url);
    const forgedSequence = 2 ** 50;
    try {
      await viewer.waitForFrames(2);
      const before = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_messages_dropped_total');
      const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
      const forged = encodeEnvelope({ sequence: forgedSequence, capturedAt: Date.now() + 3600_000, width: 16, height: 16, jpeg });
      await client.publish(framesChannel('lab'), forged);
      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 10);
      const after = viewer.frames.slice(seen);
      assert.ok(
        after.every((frame) => frame.sequence < forgedSequence && frame.headers['x-no-signal'] === undefined),
        'only real frames after the forged one',
      );
      for (let i = 1; i < after.length; i++) assert.ok(after[i]!.sequence > after[i - 1]!.sequence, 'in order');
      const snapshot = await fetch(`${gateway.baseUrl}/cameras/lab/snapshot.jpg`);
      assert.ok(Number(snapshot.headers.get('x-sequence')) < forgedSequence);
      assert.ok(Number(snapshot.headers.get('x-timestamp')) * 1000 <= Date.now(), 'a snapshot is never from the future');
      const afterCount = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_messages_dropped_total');
      assert.equal(afterCount - before, 1);
    } finally {
      viewer.close();
      await client.quit();
    }
  });

  it('ends open streams and exits on SIGTERM', async () => {
    const gateway = gateways[1]!;
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    await viewer.waitForFrames(2);
    const code = await gateway.stop('SIGTERM');
    assert.equal(code, 0);
    await viewer.ended; // the stream was ended by the gateway, not left hanging
    assert.ok(!gateway.output.some((line) => line.includes('did not exit')), 'exited without being killed');
  });

  it('reports capture health and metrics, on this machine only: they name the cameras and need no token', async () => {
    assert.deepEqual(listeningAddresses(Number(new URL(captureHealth).port)), ['127.0.0.1']);
    const health = (await (await fetch(`${captureHealth}/healthz`)).json()) as {
      status: string;
      bus: string;
      cameras: Array<{ id: string }>;
    };
    assert.equal(health.status, 'ok');
    assert.equal(health.bus, 'up');
    assert.deepEqual(
      health.cameras.map((camera) => camera.id),
      ['lab', 'bench', 'slow'],
    );
    const metrics = await fetchMetrics(captureHealth);
    assert.ok(metricValue(metrics, 'camrelay_capture_frames_total', 'camera="lab"') > 30);
    assert.equal(metricValue(metrics, 'camrelay_bus_up'), 1);
  });

  it('reports readiness and health', async () => {
    const gateway = gateways[0]!;
    assert.equal((await fetch(`${gateway.baseUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200);
  });
});
