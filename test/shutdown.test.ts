/**
 * SIGTERM to a gateway: /readyz turns 503 at once and new streams are refused, open streams go
 * on for the shutdown delay (the load balancer's time to take the gateway out of rotation) and
 * then end cleanly, and the process exits within its shutdown delay and drain time, even with
 * a viewer that stopped reading and can never take its last bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const SHUTDOWN_DELAY_S = 2;
const DRAIN_TIMEOUT_S = 2;

describe('gateway shutdown', () => {
  it('reports not ready, refuses new streams, ends open ones and exits in bounded time', async (t) => {
    const gateway = await spawnGateway({
      ...OPEN_GATEWAY,
      REDIS_URL: '',
      // 640x480 @ 30: a viewer that stops reading backs up its socket within a second or two.
      CAMERAS: 'lab=pattern:640x480@30',
      SHUTDOWN_DELAY: String(SHUTDOWN_DELAY_S),
      DRAIN_TIMEOUT: String(DRAIN_TIMEOUT_S),
    });
    const stream = `${gateway.baseUrl}/cameras/lab/stream.mjpg`;
    const viewers = [0, 1, 2].map(() => new StreamViewer(stream, { keepJpegs: false }));
    const stuck = new StreamViewer(stream, { keepJpegs: false });
    try {
      await Promise.all([...viewers, stuck].map((viewer) => viewer.waitForFrames(3)));
      stuck.pause();
      // Its bytes wait in the gateway, not only in the kernel: it cannot take an ending either.
      await eventually(
        async () => assert.ok(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_viewer_queued_bytes_max', 'camera="lab"') > 0),
        20_000,
      );

      const signalledAt = Date.now();
      gateway.process.kill('SIGTERM');
      await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 503), 1000, 20);
      t.diagnostic(`/readyz 503 after ${Date.now() - signalledAt} ms`);

      const refused = await fetch(stream);
      assert.equal(refused.status, 503);
      assert.ok(refused.headers.get('retry-after'));
      assert.deepEqual(((await refused.json()) as { error: { code: string } }).error.code, 'shutting_down');

      // Still streaming well into the shutdown delay.
      const counts = viewers.map((viewer) => viewer.frames.length);
      await Promise.all(viewers.map((viewer, i) => viewer.waitForFrames(counts[i]! + 15, SHUTDOWN_DELAY_S * 1000)));
      assert.ok(
        viewers.every((viewer) => !viewer.isClosed),
        'open streams go on during the shutdown delay',
      );

      await Promise.all(viewers.map((viewer) => viewer.ended));
      const endedMs = Date.now() - signalledAt;
      for (const viewer of viewers) assert.equal(viewer.response!.complete, true, 'the stream ended cleanly, not cut off');
      t.diagnostic(`open streams ended ${endedMs} ms after SIGTERM`);
      assert.ok(endedMs >= SHUTDOWN_DELAY_S * 1000, `streams ended after the shutdown delay (${endedMs} ms)`);

      const code = await gateway.exited;
      const tookMs = Date.now() - signalledAt;
      t.diagnostic(`exited with ${code} after ${tookMs} ms (shutdown delay ${SHUTDOWN_DELAY_S} s, drain ${DRAIN_TIMEOUT_S} s)`);
      assert.equal(code, 0);
      assert.ok(tookMs < (SHUTDOWN_DELAY_S + DRAIN_TIMEOUT_S + 2) * 1000, `exits within the delay and the drain time (${tookMs} ms)`);
      assert.ok(tookMs >= SHUTDOWN_DELAY_S * 1000, 'keeps answering 503 for the shutdown delay');
    } finally {
      for (const viewer of [...viewers, stuck]) viewer.close();
      await gateway.stop('SIGKILL');
    }
  });
});
