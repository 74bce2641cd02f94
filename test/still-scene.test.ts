/**
 * A still scene costs nothing: capture does not publish a JPEG byte for byte the last one, but
 * publishes it again once a second, so viewers keep a live connection (no NO SIGNAL picture),
 * and a snapshot from a gateway nobody watches through (Redis's latest-frame copy, 10 s expiry)
 * still works long after. `,every-frame` publishes every frame as before.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { Service } from '@camrelay/stack';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';
import { writeStillVideo } from './harness/still-video.js';

const FPS = 30;
const WATCH_MS = 4000;

describe('a still scene', () => {
  let video: string;
  let relay: Relay;
  let captureMetrics: string;
  let watched: Service;
  let unwatched: Service;

  before(async () => {
    // One picture, 30 times a second: the same JPEG in every frame of an MJPEG file.
    video = await writeStillVideo(160, 120, FPS);
    relay = await startRelay({ cameras: `still=file:${video};every=file:${video},every-frame`, gateways: 2, gatewayEnv: OPEN_GATEWAY });
    captureMetrics = relay.captureHealth;
    [watched, unwatched] = relay.gateways as [Service, Service];
  });

  after(async () => {
    await relay?.stop();
    if (video) rmSync(dirname(video), { recursive: true, force: true });
  });

  it('is published about once a second, stays live for its viewers, and is still a snapshot 12 s on', async (t) => {
    const still = new StreamViewer(`${watched.baseUrl}/cameras/still/stream.mjpg`, { keepJpegs: false });
    const every = new StreamViewer(`${watched.baseUrl}/cameras/every/stream.mjpg`, { keepJpegs: false });
    try {
      await Promise.all([still.waitForFrames(1), every.waitForFrames(1)]);
      const [stillBefore, everyBefore] = [still.frames.length, every.frames.length];
      await sleep(WATCH_MS); // a fixed window: what is counted is how many frames it held
      const stillFrames = still.frames.length - stillBefore;
      const everyFrames = every.frames.length - everyBefore;
      t.diagnostic(`in ${WATCH_MS / 1000} s: still ${stillFrames} frames, every-frame ${everyFrames}`);
      assert.ok(stillFrames >= 3 && stillFrames <= 6, `the still camera sent ${stillFrames} frames: about one a second`);
      assert.ok(everyFrames >= (FPS * WATCH_MS * 0.8) / 1000, `every-frame sent ${everyFrames} frames: all of them`);
      assert.deepEqual(
        still.frames.filter((frame) => frame.headers['x-no-signal'] !== undefined),
        [],
        'no NO SIGNAL picture while the scene is still',
      );

      const metrics = await fetchMetrics(captureMetrics);
      const unchanged = (camera: string) => metricValue(metrics, 'camrelay_capture_frames_unchanged_total', `camera="${camera}"`);
      assert.ok(unchanged('still') >= (FPS * WATCH_MS * 0.8) / 1000, `unchanged frames not published: ${unchanged('still')}`);
      assert.equal(unchanged('every'), 0);

      // Past the 10 s expiry of Redis's copy of the latest frame, from a gateway that does not watch it.
      await sleep(12_000 - WATCH_MS);
      const snapshot = await fetch(`${unwatched.baseUrl}/cameras/still/snapshot.jpg`);
      assert.equal(snapshot.status, 200);
      assert.ok(Date.now() / 1000 - Number(snapshot.headers.get('x-timestamp')) < 2, 'a snapshot of the last second');
    } finally {
      still.close();
      every.close();
    }
  });
});
