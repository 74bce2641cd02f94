import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CAMERAS_PER_CAPTURE, CONFIGURED, JPEG_BYTES_AT_DEFAULT_QUALITY, REDIS_SHARD_EGRESS_CEILING, WIRE } from './inputs.js';
import {
  captureInstancesNeeded,
  estimateJpegBytes,
  expectedGatewaysPerCamera,
  gatewayUsPerFrame,
  gatewaysNeeded,
  partBytes,
  plan,
  redisMessageBytes,
  shardsNeeded,
  viewersPerGateway,
} from './model.js';
import type { Deployment } from './model.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The deployment, with every option at its default. */
const base: Deployment = {
  cameras: 20,
  viewers: 5000,
  fps: 30,
  width: 640,
  height: 480,
  nicGbps: 10,
  gatewayCores: 1,
  maxViewersPerGateway: 2000,
  redisShardMBps: REDIS_SHARD_EGRESS_CEILING.value,
  redisNicGbps: 10,
  utilization: 0.7,
  camerasPerCapture: CAMERAS_PER_CAPTURE.value,
};

describe('bytes on the wire', () => {
  it('estimates a measured size as measured, and sizes between by bytes per pixel', () => {
    for (const { width, height, bytes } of JPEG_BYTES_AT_DEFAULT_QUALITY.value) assert.equal(estimateJpegBytes(width, height), bytes);
    // 960x540 lies between 640x480 (0.190 bytes per pixel) and 1280x720 (0.169).
    const between = estimateJpegBytes(960, 540) / (960 * 540);
    assert.ok(between < 58_255 / (640 * 480) && between > 155_505 / (1280 * 720), String(between));
    // Larger pictures, more bytes, fewer per pixel.
    assert.ok(estimateJpegBytes(3840, 2160) > estimateJpegBytes(1920, 1080));
    assert.ok(estimateJpegBytes(3840, 2160) / (3840 * 2160) < 335_048 / (1920 * 1080));
  });

  it('adds the multipart headers to a part and the envelope and RESP push to a Redis message', () => {
    assert.equal(partBytes(58_255), 58_255 + 123);
    // *3\r\n + $8\r\nsmessage\r\n + $26\r\ncamrelay:{12345678}:frames\r\n + $58279\r\n<58 279 bytes>\r\n
    assert.equal(redisMessageBytes(58_255), 4 + 14 + 33 + 8 + 58_279 + 2);
  });

  it('matches what the code writes: multipart part, envelope, channel name, defaults', async () => {
    const { encodePart } = (await import(String('@camrelay/multipart'))) as {
      encodePart: (jpeg: Uint8Array, meta: { capturedAt: number; sequence: number }) => Buffer;
    };
    const jpeg = Buffer.alloc(58_255);
    assert.equal(encodePart(jpeg, { capturedAt: Date.now(), sequence: 1_234_567 }).length - jpeg.length, WIRE.multipartPartOverhead);
    const frame = (await import(String('@camrelay/frame'))) as { ENVELOPE_HEADER_BYTES: number };
    assert.equal(frame.ENVELOPE_HEADER_BYTES, WIRE.envelopeHeader);
    const bus = (await import(String('@camrelay/bus'))) as { framesChannel: (id: string) => string };
    assert.equal(bus.framesChannel('x'.repeat(WIRE.cameraIdLength)).length, 'camrelay:{}:frames'.length + WIRE.cameraIdLength);
    const source = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
    assert.match(source('services/gateway/src/defaults.ts'), new RegExp(`\\bmaxViewers: ${CONFIGURED.maxViewersPerGateway},`));
    assert.match(source('services/capture/src/defaults.ts'), new RegExp(`\\bjpegQuality: ${CONFIGURED.jpegQuality},`));
  });
});

describe('capture', () => {
  it('rounds capture instances up: a camera is read by one instance', () => {
    assert.equal(captureInstancesNeeded(1, 8), 1);
    assert.equal(captureInstancesNeeded(8, 8), 1);
    assert.equal(captureInstancesNeeded(9, 8), 2);
    assert.equal(captureInstancesNeeded(20, 8), 3);
    assert.equal(plan({ ...base, camerasPerCapture: 8 }).captureInstances, 3);
    assert.equal(plan({ ...base, camerasPerCapture: 20 }).captureInstances, 1);
    assert.equal(plan(base).captureInstances, Math.ceil(20 / CAMERAS_PER_CAPTURE.value));
  });

  it('takes its default from the capture benchmark, named with its command', () => {
    assert.ok(Number.isInteger(CAMERAS_PER_CAPTURE.value) && CAMERAS_PER_CAPTURE.value >= 1);
    assert.match(CAMERAS_PER_CAPTURE.command, /^npm run bench:capture\b/);
    const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts['bench:capture'] ?? '', /bench\/dist\/capture\.js/);
  });
});

describe('gateways', () => {
  it('costs the measured CPU at the measured sizes, more for more bytes', () => {
    assert.ok(Math.abs(gatewayUsPerFrame(58_152) - 25.0) < 1e-9);
    assert.ok(Math.abs(gatewayUsPerFrame(155_505) - 54.7) < 1e-9);
    assert.ok(gatewayUsPerFrame(17_778) < 25 && gatewayUsPerFrame(17_778) > 0);
  });

  it('carries, at 70 %, 932 viewers of 640x480 at 30 fps on one core and 499 on 10 Gbit/s', () => {
    // CPU: 0.7 s / (30 × 25.03 µs) = 932.2; network: 10^10 × 0.7 / 8 / (30 × 58 378 bytes) = 499.6.
    const per = viewersPerGateway(base, 58_255);
    assert.deepEqual(per, { cpu: 932, nic: 499, 'max-viewers': 2000 });
    // Half the frame rate, twice the viewers; two cores, twice the CPU limit.
    assert.equal(viewersPerGateway({ ...base, fps: 15 }, 58_255).nic, 999);
    assert.equal(viewersPerGateway({ ...base, gatewayCores: 2 }, 58_255).cpu, 1864);
  });

  it('rounds gateways up and names the limit that binds', () => {
    assert.deepEqual(gatewaysNeeded(5000, { cpu: 932, nic: 499, 'max-viewers': 2000 }), { gateways: 11, binding: 'nic' });
    assert.deepEqual(gatewaysNeeded(5000, { cpu: 932, nic: 5000, 'max-viewers': 2000 }), { gateways: 6, binding: 'cpu' });
    assert.deepEqual(gatewaysNeeded(5000, { cpu: 9000, nic: 9000, 'max-viewers': 2000 }), { gateways: 3, binding: 'max-viewers' });
    assert.deepEqual(gatewaysNeeded(1, { cpu: 9000, nic: 9000, 'max-viewers': 2000 }), { gateways: 1, binding: 'max-viewers' });
    assert.equal(plan({ ...base, fps: 1, width: 320, height: 240, viewers: 10_000 }).binding, 'max-viewers');
    assert.equal(plan({ ...base, nicGbps: 100 }).binding, 'cpu');
  });
});

describe('Redis', () => {
  it("one 640x480 camera at 30 fps watched on 100 gateways is about 170 MB/s (the issue's example)", () => {
    const result = plan({ ...base, cameras: 1, viewers: 100 * 499 });
    assert.equal(result.gateways, 100);
    // 100 × 30 × 58 340 bytes = 175.02 MB/s
    assert.ok(Math.abs(result.worst.egressMBps - 175.02) < 1e-9, String(result.worst.egressMBps));
    assert.equal(result.expected.egressMBps, result.worst.egressMBps); // one camera: every gateway watches it
  });

  it('expects a gateway to watch a camera when it has one of its viewers', () => {
    // 10 gateways, 2 viewers each, 2 cameras: a gateway misses a camera with probability 1/4.
    assert.ok(Math.abs(expectedGatewaysPerCamera(20, 10, 2) - 7.5) < 1e-12);
    assert.equal(expectedGatewaysPerCamera(3, 10, 1), 10);
    // 20 cameras, 5000 viewers on 11 gateways: every pair all but surely.
    assert.ok(expectedGatewaysPerCamera(5000, 11, 20) > 10.99);
    // 1000 cameras, 100 viewers on one gateway: at most 100 of them, about 95.1.
    assert.ok(Math.abs(expectedGatewaysPerCamera(100, 1, 1000) - (1 - 0.999 ** 100)) < 1e-12);
  });

  it('rounds shards up, never splits a camera, and says when no shard is enough', () => {
    assert.deepEqual(shardsNeeded(20, 35, 875), { shards: 1, camerasOnBusiestShard: 20, busiestShardMBps: 700, meanShardMBps: 700 });
    // 2000 MB/s over 875 MB/s shards: 2.3, so 3 (8 cameras fit in one).
    assert.deepEqual(shardsNeeded(20, 100, 875), { shards: 3, camerasOnBusiestShard: 7, busiestShardMBps: 700, meanShardMBps: 2000 / 3 });
    // 1500 MB/s would fit in 2 shards by bytes, but one camera of 500 MB/s fills a shard.
    assert.equal(shardsNeeded(3, 500, 875).shards, 3);
    assert.equal(shardsNeeded(2, 900, 875).shards, null);
  });

  it('plans shards at 70 % of the lower of the core and the network', () => {
    const result = plan(base);
    assert.equal(result.shardCapacityMBps, Math.min(REDIS_SHARD_EGRESS_CEILING.value, 1250) * 0.7);
    assert.equal(result.gateways, 11);
    assert.equal(result.worst.pairs, 220);
    const many = plan({ ...base, cameras: 200, viewers: 50_000 });
    assert.equal(many.gateways, 101);
    assert.ok(many.worst.shardPlan.shards! > 1);
    assert.ok(many.worst.shardPlan.busiestShardMBps <= many.shardCapacityMBps);
    assert.ok(many.expected.egressMBps < many.worst.egressMBps); // 2.5 viewers per (gateway, camera): some pairs stay empty
  });
});
