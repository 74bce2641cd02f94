/**
 * Backpressure: a viewer that stops reading for 10 s skips frames instead of being buffered
 * for, and the 20 viewers beside it keep their frame rate; one that reads nothing for
 * STUCK_VIEWER_TIMEOUT is cut.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const STUCK_S = 2;

describe('a stalled viewer among 20 others', () => {
  let relay: Relay;
  let gateway: Service;
  /** The same, but cutting a viewer whose socket has not drained for 2 s instead of 30. */
  let impatientGateway: Service;

  before(async () => {
    // 1280x720 frames (~150 KB) so 10 s of them (~45 MB) overflow the kernel's socket buffers
    // many times over, and would show in the gateway's memory if they were kept.
    relay = await startRelay({
      cameras: 'hd=pattern:1280x720@30',
      gatewayEnv: OPEN_GATEWAY,
      gateways: [{}, { STUCK_VIEWER_TIMEOUT: String(STUCK_S) }],
    });
    [gateway, impatientGateway] = relay.gateways as [Service, Service];
  });

  after(async () => {
    await relay?.stop();
  });

  it('skips frames for the stalled viewer, keeps the others at ≥ 90 % of the source rate, and keeps memory bounded', async (t) => {
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
      for (let i = 0; i < 20; i++) {
        await sleep(500); // sampling the gateway's backlog twice a second while the viewer is stalled
        maxQueued = Math.max(
          maxQueued,
          metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_viewer_queued_bytes_max', 'camera="hd"'),
        );
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
      assert.ok(
        maxQueued <= 2 * largestFrame + 65536,
        `backlog of one viewer stayed about one frame (${maxQueued} bytes, frames up to ${largestFrame})`,
      );
      // The backlog above is what guards memory. RSS is reported, not asserted: with 21 viewers
      // of 150 KB frames it swings by tens of MiB with the garbage collector's timing, as much
      // as a viewer buffered without bound would add (27.7 MiB in a review that removed
      // backpressure, 32.6 MiB here with it).
      const missed = others[0]!.frames.slice(marks[0]);
      const stalledBytes = missed.reduce((sum, frame) => sum + Number(frame.headers['content-length']), 0);
      const rssGrowth = metricValue(metrics, 'process_resident_memory_bytes') - rssBefore;
      t.diagnostic(
        `backlog at most ${maxQueued} bytes while ${(stalledBytes / 1048576).toFixed(1)} MiB of frames went by the stalled viewer; gateway RSS grew ${(rssGrowth / 1048576).toFixed(1)} MiB`,
      );

      // When it reads again it drains what the kernel's socket buffers hold (bounded by their
      // size, not by the stall's length) and is then live again.
      const live = others[0]!.frames[others[0]!.frames.length - 1]!.sequence;
      stalled.resume();
      await stalled.waitForSequence(live, 10_000);
    } finally {
      for (const viewer of [stalled, ...others]) viewer.close();
    }
  });
  it(`cuts a viewer whose socket has taken nothing for STUCK_VIEWER_TIMEOUT (${STUCK_S} s), and only that one`, async (t) => {
    const url = `${impatientGateway.baseUrl}/cameras/hd/stream.mjpg`;
    const viewersOnGateway = async () => metricValue(await fetchMetrics(impatientGateway.baseUrl), 'camrelay_viewers', 'camera="hd"');
    const stuck = new StreamViewer(url, { keepJpegs: false });
    const other = new StreamViewer(url, { keepJpegs: false });
    try {
      await Promise.all([stuck, other].map((viewer) => viewer.waitForFrames(3)));
      const pausedAt = Date.now();
      stuck.pause();
      await eventually(async () => assert.equal(await viewersOnGateway(), 1, 'the stuck viewer was cut'), 15_000, 100);
      const cutAfter = Date.now() - pausedAt;
      t.diagnostic(`cut ${cutAfter} ms after it stopped reading (its socket buffers fill first)`);
      assert.ok(cutAfter >= STUCK_S * 1000, `not before STUCK_VIEWER_TIMEOUT (cut after ${cutAfter} ms)`);
      const seen = other.frames.length;
      await other.waitForFrames(seen + 5);
      assert.equal(other.isClosed, false, 'the viewer that reads streams on');
      // Reading again, the stuck one finds the end of its stream after what the buffers held.
      stuck.resume();
      await stuck.ended;
    } finally {
      stuck.close();
      other.close();
    }
  });
});
