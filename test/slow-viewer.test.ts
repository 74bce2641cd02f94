/**
 * Backpressure: a viewer that stops reading for 5 s skips frames instead of being buffered
 * for, and the 20 viewers beside it keep their frame rate.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, startCapture, startGateway, startRedis } from './harness/processes.js';
import type { RedisServer, Running, Service } from './harness/processes.js';
import { StreamViewer, fetchMetrics, metricValue } from './harness/viewer.js';

describe('a stalled viewer among 20 others', () => {
  let redis: RedisServer;
  let capture: Running;
  let gateway: Service;

  before(async () => {
    redis = await startRedis();
    // 1280x720 frames (~150 KB) so 5 s of them (~22 MB) overflow the kernel's socket buffers.
    capture = await startCapture({ REDIS_URL: redis.url, CAMERAS: 'hd=pattern:1280x720@30' }, ['hd']);
    gateway = await startGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
    await gateway.waitFor(/"msg":"redis connected"/);
  });

  after(async () => {
    await gateway.stop();
    await capture.stop();
    await redis.stop();
  });

  it('skips frames for the stalled viewer, keeps the others at ≥ 90 % of the source rate, and keeps memory bounded', async () => {
    const url = `${gateway.baseUrl}/cameras/hd/stream.mjpg`;
    const stalled = new StreamViewer(url, { keepJpegs: false });
    const others = Array.from({ length: 20 }, () => new StreamViewer(url, { keepJpegs: false }));
    try {
      await Promise.all([stalled, ...others].map((viewer) => viewer.waitForFrames(5)));
      const rssBefore = metricValue(await fetchMetrics(gateway.baseUrl), 'process_resident_memory_bytes');
      const largestFrame = Math.max(...others[0]!.frames.map((frame) => Number(frame.headers['content-length'])));

      stalled.pause();
      const marks = others.map((viewer) => viewer.frames.length);
      let maxQueued = 0;
      for (let i = 0; i < 10; i++) {
        await sleep(500); // sampling the gateway's backlog twice a second while the viewer is stalled
        maxQueued = Math.max(maxQueued, metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_viewer_queued_bytes_max', 'camera="hd"'));
      }
      const metrics = await fetchMetrics(gateway.baseUrl);

      for (const [i, viewer] of others.entries()) {
        const window = viewer.frames.slice(marks[i]);
        assert.ok(window.length > 0, `viewer ${i} got frames while another was stalled`);
        const produced = window[window.length - 1]!.sequence - window[0]!.sequence + 1;
        const ratio = window.length / produced;
        assert.ok(ratio >= 0.9, `viewer ${i} got ${window.length} of ${produced} frames (${(ratio * 100).toFixed(0)} %)`);
      }
      assert.ok(metricValue(metrics, 'camrelay_frames_skipped_total') > 0, 'the stalled viewer skipped frames');
      assert.ok(maxQueued <= 2 * largestFrame + 65536, `backlog of one viewer stayed about one frame (${maxQueued} bytes, frames up to ${largestFrame})`);
      const rssGrowth = metricValue(metrics, 'process_resident_memory_bytes') - rssBefore;
      assert.ok(rssGrowth < 40 * 1024 * 1024, `gateway RSS grew ${(rssGrowth / 1048576).toFixed(1)} MiB`);

      // When it reads again it drains what the kernel's socket buffers hold (bounded by their
      // size, not by the stall's length) and is then live again.
      const live = others[0]!.frames[others[0]!.frames.length - 1]!.sequence;
      stalled.resume();
      await stalled.waitForSequence(live, 10_000);
    } finally {
      for (const viewer of [stalled, ...others]) viewer.close();
    }
  });
});
