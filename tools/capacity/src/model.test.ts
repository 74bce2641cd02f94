import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CAMERAS_PER_CAPTURE,
  CAPTURE_MS_PER_FRAME,
  CONFIGURED,
  H264_BYTES_RATIO,
  H264_ENCODE_MS_PER_FRAME,
  H264_INIT_SEGMENT_BYTES,
  JPEG_BYTES_AT_DEFAULT_QUALITY,
  REDIS_SHARD_EGRESS_CEILING,
  WIRE,
} from './inputs.js';
import {
  camerasPerCaptureWithH264,
  captureInstancesNeeded,
  estimateH264Bytes,
  estimateJpegBytes,
  expectedGatewaysPerCamera,
  gatewayUsPerFrame,
  gatewaysNeeded,
  h264GatewayUsPerFrame,
  partBytes,
  plan,
  redisMessageBytes,
  redisSegmentMessageBytes,
  shardsNeeded,
  viewerFrameCost,
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
  h264Share: 0,
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

  it('matches what the code writes for H.264: segment header, channel name, the encoder the inputs were measured with', async () => {
    const frame = (await import(String('@camrelay/frame'))) as {
      SEGMENT_HEADER_BYTES: number;
      feedId: (camera: string, size?: string, tier?: string) => string;
    };
    assert.equal(frame.SEGMENT_HEADER_BYTES, WIRE.segmentHeader);
    const bus = (await import(String('@camrelay/bus'))) as { framesChannel: (id: string) => string };
    assert.equal(
      bus.framesChannel(frame.feedId('x'.repeat(WIRE.cameraIdLength), undefined, 'h264')).length,
      'camrelay:{}:frames.h264'.length + WIRE.cameraIdLength,
    );
    const args = readFileSync(join(repoRoot, 'services/capture/src/h264/ffmpeg-args.ts'), 'utf8');
    assert.match(args, new RegExp(`\\bX264_CRF = ${CONFIGURED.x264Crf};`));
    assert.match(args, new RegExp(`\\bX264_PRESET = '${CONFIGURED.x264Preset}';`));
  });

  it('estimates an H.264 frame at the measured share of a motion JPEG part, and its Redis push on average', () => {
    assert.equal(H264_BYTES_RATIO.value, 0.189);
    assert.equal(estimateH264Bytes(58_255), Math.round(0.189 * 58_378));
    // *3\r\n + $8\r\nsmessage\r\n + $31\r\ncamrelay:{12345678}:frames.h264\r\n + $11266\r\n<32 + 11 033 + 661 / 30 bytes>\r\n
    const at30 = 4 + 14 + 38 + 8 + 32 + 11_033 + H264_INIT_SEGMENT_BYTES.value / 30 + 2;
    assert.ok(Math.abs(redisSegmentMessageBytes(11_033, 30) - at30) < 1e-9, String(redisSegmentMessageBytes(11_033, 30)));
    // Below 1 fps every frame is a keyframe, and carries the init segment.
    assert.ok(
      Math.abs(redisSegmentMessageBytes(11_033, 0.5) - (at30 - H264_INIT_SEGMENT_BYTES.value / 30 + H264_INIT_SEGMENT_BYTES.value)) < 1e-9,
    );
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

describe('capture with H.264 watched', () => {
  it('carries fewer cameras in proportion to the encode CPU added (derived), scaled by pixels', () => {
    // 16 × 1.78 / (1.78 + 6.52) = 3.35 at 640x480; the encode 2.25 times as much at 960x720.
    assert.equal(CAPTURE_MS_PER_FRAME.value, 1.78);
    assert.ok(Math.abs(camerasPerCaptureWithH264(16, 640, 480) - (16 * 1.78) / (1.78 + 6.52)) < 1e-12);
    assert.ok(Math.abs(camerasPerCaptureWithH264(16, 960, 720) - (16 * 1.78) / (1.78 + 6.52 * 2.25)) < 1e-12);
    const mixed = plan({ ...base, h264Share: 0.5 });
    assert.equal(mixed.camerasPerCapture, 3);
    assert.equal(mixed.captureInstances, 7);
    assert.equal(mixed.capture.h264EncodeMsPerFrame, H264_ENCODE_MS_PER_FRAME.value);
    // One camera's encode at 1920x1080 (45 ms a frame) is more than the measured instance's CPU: still one a piece.
    const big = plan({ ...base, width: 1920, height: 1080, h264Share: 0.1 });
    assert.ok(big.capture.withH264! < 1);
    assert.equal(big.captureInstances, 20);
    // A figure measured with H.264 watched replaces the derivation.
    const given = plan({ ...base, h264Share: 0.5, camerasPerCaptureH264: 5 });
    assert.deepEqual([given.camerasPerCapture, given.captureInstances, given.capture.withH264Derived], [5, 4, false]);
    // Without H.264 viewers, passthrough as measured.
    assert.equal(plan(base).capture.withH264, null);
    assert.equal(plan(base).camerasPerCapture, CAMERAS_PER_CAPTURE.value);
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

describe('the tier mix', () => {
  it('costs an H.264 frame at the measured share of motion JPEG at 640x480, and more for more bytes', () => {
    // 25.03 µs × 16.0 / 24.0 = 16.69 µs at the measured 5910-byte fragments, well above the bytes line's 9.1.
    assert.ok(Math.abs(h264GatewayUsPerFrame(5910) - (gatewayUsPerFrame(58_152) * 16.0) / 24.0) < 1e-9);
    const perByte = (gatewayUsPerFrame(155_505) - gatewayUsPerFrame(58_152)) / (155_505 - 58_152);
    assert.ok(Math.abs(h264GatewayUsPerFrame(11_033) - h264GatewayUsPerFrame(5910) - perByte * (11_033 - 5910)) < 1e-9);
    assert.ok(h264GatewayUsPerFrame(11_033) < gatewayUsPerFrame(58_255));
  });

  it('at --h264 100, a gateway carries about 1/ratio times the viewers on its network, more on its CPU', () => {
    const mjpeg = viewersPerGateway(base, 58_255);
    const h264 = viewersPerGateway({ ...base, h264Share: 1 }, 58_255);
    // 10^10 × 0.7 / 8 / (30 × 11 033 bytes) = 2643.
    assert.equal(h264.nic, 2643);
    const growth = h264.nic / mjpeg.nic;
    assert.ok(Math.abs(growth * H264_BYTES_RATIO.value - 1) < 0.01, String(growth));
    assert.equal(h264.cpu, Math.floor(0.7 / ((30 * h264GatewayUsPerFrame(11_033)) / 1e6)));
    assert.ok(h264.cpu > mjpeg.cpu && h264.cpu / mjpeg.cpu < growth);
    assert.equal(viewersPerGateway({ ...base, h264Share: 1 }, 58_255, 6000).nic, Math.floor((1e10 * 0.7) / 8 / (30 * 6000)));
  });

  it('costs the average viewer as the mix of the two tiers', () => {
    const cost = viewerFrameCost({ ...base, h264Share: 0.25 }, 58_255, 11_033);
    assert.ok(Math.abs(cost.bytes - (0.75 * 58_378 + 0.25 * 11_033)) < 1e-9);
    assert.ok(Math.abs(cost.us - (0.75 * gatewayUsPerFrame(58_255) + 0.25 * h264GatewayUsPerFrame(11_033))) < 1e-9);
    const mixed = plan({ ...base, h264Share: 0.5 });
    assert.equal(mixed.gateways, 6);
    assert.equal(mixed.binding, 'nic');
    assert.equal(mixed.nicDominantTier, 'mjpeg');
    assert.ok(Math.abs(mixed.tiers.mjpeg.byteShare + mixed.tiers.h264.byteShare - 1) < 1e-12);
    assert.ok(Math.abs(mixed.totalViewerMBps - mixed.tiers.mjpeg.totalViewerMBps - mixed.tiers.h264.totalViewerMBps) < 1e-9);
    assert.equal(plan({ ...base, h264Share: 0.9 }).nicDominantTier, 'h264');
  });

  it('at --h264 0 plans exactly as motion JPEG alone did', () => {
    const result = plan({ ...base, h264Share: 0 });
    assert.deepEqual(result.viewersPerGateway, { cpu: 932, nic: 499, 'max-viewers': 2000 });
    assert.equal(result.gateways, 11);
    assert.equal(result.captureInstances, 2);
    assert.equal(result.viewerMBps, (30 * 58_378) / 1e6);
    assert.equal(result.gatewayUsPerFrame, gatewayUsPerFrame(58_255));
    assert.equal(result.gatewayIngressMBps, 20 * ((30 * 58_340) / 1e6));
    assert.deepEqual([result.worst.pairs, result.worst.h264Pairs, result.expected.h264Pairs], [220, 0, 0]);
    assert.equal(result.worst.egressMBps, 11 * 20 * ((30 * 58_340) / 1e6));
    assert.equal(result.expected.egressMBps, expectedGatewaysPerCamera(5000, 11, 20) * 20 * ((30 * 58_340) / 1e6));
  });

  it("subscribes a camera's H.264 beside its motion JPEG: worst case both on every gateway, expected by each tier's viewers", () => {
    const mixed = plan({ ...base, h264Share: 0.5 });
    const { mjpeg, h264 } = mixed.tiers;
    assert.deepEqual([mixed.worst.mjpegPairs, mixed.worst.h264Pairs, mixed.worst.pairs], [120, 120, 240]);
    assert.ok(Math.abs(mixed.worst.egressMBps - 120 * (mjpeg.pairMBps + h264.pairMBps)) < 1e-9);
    assert.ok(Math.abs(mixed.worst.shardPlan.busiestShardMBps - mixed.worst.egressMBps) < 1e-9); // one shard holds all 20
    assert.ok(Math.abs(mixed.gatewayIngressMBps - 20 * (mjpeg.pairMBps + h264.pairMBps)) < 1e-9);
    // H.264 alone: no motion JPEG subscriptions at all.
    const only = plan({ ...base, h264Share: 1 });
    assert.deepEqual([only.worst.mjpegPairs, only.worst.h264Pairs], [0, 4 * 20]);
    assert.ok(Math.abs(only.worst.egressMBps - 80 * only.tiers.h264.pairMBps) < 1e-9);
    // 200 cameras, 1 % of 50 000 viewers in H.264 on 100 gateways: 500 viewers leave most (gateway, camera) pairs without H.264.
    const few = plan({ ...base, cameras: 200, viewers: 50_000, h264Share: 0.01 });
    assert.equal(few.gateways, 100);
    assert.ok(Math.abs(few.expected.h264Pairs - 200 * expectedGatewaysPerCamera(500, 100, 200)) < 1e-9);
    assert.ok(Math.abs(few.expected.mjpegPairs - 200 * expectedGatewaysPerCamera(49_500, 100, 200)) < 1e-9);
    assert.ok(few.expected.h264Pairs < few.worst.h264Pairs / 4);
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
