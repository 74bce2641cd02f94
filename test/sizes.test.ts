/**
 * Sizes per viewer, each encoded once: `?size=WxH` on streams and snapshots gives one of the
 * camera's sizes (its own, half and quarter by default; `,sizes=` in CAMERAS sets them), scaled
 * and encoded by capture once per frame while anyone watches it, whatever the number of viewers
 * and gateways, and no longer once nobody does. A size the camera does not offer (a larger one
 * above all) is a 400 naming those it does. Real redis-server, capture, gateways and OpenCV.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { loadOpenCV } from '@camrelay/capture';
import type { OpenCV } from '@camrelay/capture';
import type { Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';
import { writeStillVideo } from './harness/still-video.js';

const FPS = 15;

describe('sizes per viewer', () => {
  let cv: OpenCV;
  let relay: Relay;
  let capture: Running;
  let captureHealth: string;
  let gateways: readonly [Service, Service];
  /** An MJPEG file: its JPEGs are passed through, so a smaller size decodes them first. */
  let video: string;

  const scaledIn = (text: string, camera: string, size: string) => {
    try {
      return metricValue(text, 'camrelay_capture_scaled_frames_total', `camera="${camera}",size="${size}"`);
    } catch {
      return 0; // never scaled: no such series yet
    }
  };
  const scaled = async (camera: string, size: string) => scaledIn(await fetchMetrics(captureHealth), camera, size);
  const scaledAndCaptured = async (camera: string, size: string) => {
    const text = await fetchMetrics(captureHealth);
    return [scaledIn(text, camera, size), metricValue(text, 'camrelay_capture_frames_total', `camera="${camera}"`)] as const;
  };
  const sizeOf = (jpeg: Buffer) => {
    const picture = cv.imdecode(jpeg);
    return `${picture.cols}x${picture.rows}`;
  };
  const isLive = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === undefined;

  before(async () => {
    cv = await loadOpenCV(process.env);
    video = await writeStillVideo(320, 240, FPS);
    relay = await startRelay({
      cameras: `lab=pattern:640x480@${FPS},always;wide=pattern:320x180@${FPS},always,sizes=160x90+640x360;mjpeg=file:${video},always`,
      gateways: 2,
      gatewayEnv: OPEN_GATEWAY,
    });
    ({ capture, captureHealth } = relay);
    gateways = relay.gateways as [Service, Service];
  });

  after(async () => {
    await relay?.stop();
    if (video) rmSync(dirname(video), { recursive: true, force: true });
  });

  it('lists each camera’s sizes: its own, then half and quarter, or those configured that are not larger', async () => {
    const cameras = (await (await fetch(`${gateways[0].baseUrl}/api/cameras`)).json()) as Array<{ id: string; sizes: string[] }>;
    assert.deepEqual(
      cameras.map(({ id, sizes }) => ({ id, sizes })),
      [
        { id: 'lab', sizes: ['640x480', '320x240', '160x120'] },
        { id: 'wide', sizes: ['320x180', '160x90'] },
        { id: 'mjpeg', sizes: ['320x240', '160x120', '80x60'] },
      ],
    );
    assert.ok(
      capture.output.some((line) => /"camera":"wide".*"refused":\["640x360"\].*never upscaled/.test(line)),
      'the larger size refused, in the log',
    );
  });

  it('streams a smaller size, encoded once per frame for every viewer on every gateway, and stops encoding it when nobody watches', async (t) => {
    assert.equal(await scaled('lab', '320x240'), 0, 'not encoded while nobody watches it');
    const viewers = [gateways[0], gateways[0], gateways[1]].map(
      (gateway) => new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg?size=320x240`),
    );
    const full = new StreamViewer(`${gateways[1].baseUrl}/cameras/lab/stream.mjpg`);
    try {
      await Promise.all([...viewers, full].map((viewer) => viewer.waitForFrame(isLive, 'a frame')));
      // Both from one scrape: capture's counters come from each camera's worker, twice a second, so a
      // scrape may show the worker as it was before scaling began. The count starts from one that
      // shows a scaled frame: from then on every captured frame is scaled.
      const [scaledBefore, capturedBefore] = await eventually(async () => {
        const counts = await scaledAndCaptured('lab', '320x240');
        assert.ok(counts[0] > 0, 'the worker has reported a scaled frame');
        return counts;
      });
      await Promise.all(viewers.map((viewer) => viewer.waitForFrames(viewer.frames.length + 2 * FPS)));
      const [scaledAfter, capturedAfter] = await scaledAndCaptured('lab', '320x240');
      t.diagnostic(
        `${capturedAfter - capturedBefore} frames captured, ${scaledAfter - scaledBefore} scaled to 320x240, for 3 viewers on 2 gateways`,
      );
      assert.ok(scaledAfter - scaledBefore <= capturedAfter - capturedBefore + 1, 'at most one scaled frame per captured frame');
      assert.ok(scaledAfter - scaledBefore >= (capturedAfter - capturedBefore) * 0.9, 'and one for (nearly) every captured frame');

      for (const viewer of viewers) {
        const frame = viewer.frames.filter(isLive).at(-1)!;
        assert.equal(sizeOf(frame.jpeg), '320x240');
      }
      assert.equal(sizeOf(full.frames.filter(isLive).at(-1)!.jpeg), '640x480', 'the camera’s own size for who asked for none');
      // The same frame is the same bytes on both gateways: encoded once, in capture.
      const onFirst = viewers[0]!.frames.filter(isLive);
      const onSecond = viewers[2]!.frames.filter(isLive);
      const shared = onFirst.find((frame) => onSecond.some((other) => other.sequence === frame.sequence))!;
      assert.ok(shared, 'a frame both gateways sent');
      assert.ok(shared.jpeg.equals(onSecond.find((other) => other.sequence === shared.sequence)!.jpeg), 'byte for byte the same');
    } finally {
      for (const viewer of [...viewers, full]) viewer.close();
    }
    // Nobody watches 320x240 now: capture stops encoding it within a look at the claims.
    const stopped = await eventually(async () => {
      const before = await scaled('lab', '320x240');
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await scaled('lab', '320x240'), before, 'no frame scaled in half a second');
      return before;
    });
    assert.ok(stopped > 0);
  });

  it('answers a snapshot at a smaller size, encoding it for the occasion', async () => {
    const response = await fetch(`${gateways[1].baseUrl}/cameras/wide/snapshot.jpg?size=160x90`);
    assert.equal(response.status, 200);
    assert.equal(sizeOf(Buffer.from(await response.arrayBuffer())), '160x90');
    const own = await fetch(`${gateways[1].baseUrl}/cameras/wide/snapshot.jpg?size=320x180`);
    assert.equal(sizeOf(Buffer.from(await own.arrayBuffer())), '320x180');
    // A source's own JPEG is decoded (at a quarter of its size, by libjpeg) and encoded again.
    const passedThrough = await fetch(`${gateways[1].baseUrl}/cameras/mjpeg/snapshot.jpg?size=80x60`);
    assert.equal(sizeOf(Buffer.from(await passedThrough.arrayBuffer())), '80x60');
    // The drop-in URLs take it too.
    const dropIn = await fetch(`${gateways[0].baseUrl}/snapshot?camera=lab&size=160x120`);
    assert.equal(sizeOf(Buffer.from(await dropIn.arrayBuffer())), '160x120');
  });

  it('refuses a size the camera does not offer, naming those it does', async () => {
    for (const [camera, size, allowed] of [
      ['lab', '1280x960', '640x480, 320x240, 160x120'],
      ['lab', '321x240', '640x480, 320x240, 160x120'],
      ['lab', 'half', '640x480, 320x240, 160x120'],
      ['wide', '640x360', '320x180, 160x90'],
    ] as const) {
      for (const path of [`/cameras/${camera}/stream.mjpg`, `/cameras/${camera}/snapshot.jpg`]) {
        const response = await fetch(`${gateways[0].baseUrl}${path}?size=${size}`);
        assert.equal(response.status, 400, `${path}?size=${size}`);
        assert.deepEqual(await response.json(), {
          error: { code: 'bad_size', message: `size must be one of ${allowed} for camera ${camera}` },
        });
      }
    }
  });
});
