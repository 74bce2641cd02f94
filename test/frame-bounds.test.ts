/**
 * Frames have bounds: a source larger than MAX_SOURCE_SIZE or a frame over MAX_FRAME_BYTES is
 * dropped, counted and logged once per camera in capture, and a gateway drops an envelope over
 * its MAX_FRAME_BYTES before decoding it; the other cameras stream on untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { framesChannel } from '@camrelay/bus';
import { encodeEnvelope } from '@camrelay/frame';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

describe('frame bounds', () => {
  let relay: Relay;
  let redis: RedisServer;
  let capture: Running;
  let captureHealth: string;
  let gateway: Service;
  // A 640x480 source over a 400x300 bound; a 320x240 test pattern (about 20 KB per frame) over
  // a 12 000-byte bound; a 160x120 one (about 7 KB) within both.
  const MAX_FRAME_BYTES = 12_000;

  before(async () => {
    relay = await startRelay({
      cameras: 'huge=pattern:640x480@10;heavy=pattern:320x240@10;small=pattern:160x120@10',
      streaming: ['small'],
      env: { MAX_FRAME_BYTES: String(MAX_FRAME_BYTES) },
      captureEnv: { MAX_SOURCE_SIZE: '400x300' },
      gatewayEnv: OPEN_GATEWAY,
    });
    ({ capture, captureHealth, gateway } = relay);
    redis = relay.redis!;
  });

  after(async () => {
    await relay?.stop();
  });

  it('capture drops frames over the bounds, counts them and logs once per camera; the others stream', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/small/stream.mjpg`);
    try {
      await viewer.waitForFrames(10);
      assert.ok(viewer.frames.every((frame) => frame.jpeg.length <= MAX_FRAME_BYTES));
    } finally {
      viewer.close();
    }
    const metrics = await fetchMetrics(captureHealth);
    assert.ok(metricValue(metrics, 'camrelay_capture_frames_oversize_total', 'camera="huge"') >= 5, 'huge: counted');
    assert.ok(metricValue(metrics, 'camrelay_capture_frames_oversize_total', 'camera="heavy"') >= 5, 'heavy: counted');
    assert.equal(metricValue(metrics, 'camrelay_capture_frames_oversize_total', 'camera="small"'), 0);
    assert.equal(metricValue(metrics, 'camrelay_capture_frames_total', 'camera="huge"'), 0);
    const told = (camera: string) =>
      capture.output.filter((line) => line.includes(`"camera":"${camera}"`) && line.includes('frame too large'));
    assert.equal(told('huge').length, 1, 'logged once');
    assert.match(told('huge')[0]!, /MAX_SOURCE_SIZE=400x300/);
    assert.equal(told('heavy').length, 1, 'logged once');
    assert.match(told('heavy')[0]!, /MAX_FRAME_BYTES=12000/);
    assert.equal((await fetch(`${gateway.baseUrl}/cameras/huge/snapshot.jpg`)).status, 503, 'nothing of huge was published');
  });

  it('a gateway drops an envelope over its MAX_FRAME_BYTES unread, counts it and logs once; the camera streams on', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/small/stream.mjpg`);
    const client = new Redis(redis.url);
    try {
      await viewer.waitForFrames(2);
      const before = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_messages_dropped_total');
      const jpeg = Buffer.alloc(200_000, 0x55);
      jpeg.set([0xff, 0xd8], 0);
      jpeg.set([0xff, 0xd9], jpeg.length - 2);
      const oversize = encodeEnvelope({ sequence: 1, capturedAt: Date.now(), width: 16, height: 16, jpeg });
      await client.publish(framesChannel('small'), oversize);
      await client.publish(framesChannel('small'), oversize);
      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 10);
      assert.ok(
        viewer.frames.every((frame) => frame.jpeg.length < 200_000),
        'the oversize frame never reached a viewer',
      );
      await eventually(async () =>
        assert.equal(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_messages_dropped_total') - before, 2),
      );
      assert.equal(gateway.output.filter((line) => line.includes('larger than MAX_FRAME_BYTES')).length, 1, 'logged once');
    } finally {
      viewer.close();
      await client.quit();
    }
  });
});
