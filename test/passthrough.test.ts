/**
 * MJPEG passthrough: a source that already delivers JPEG (an MJPG file, an http:// MJPEG
 * camera) is published as it delivered it, byte for byte, without a decode or an encode; an
 * MJPEG source whose frames are not complete baseline JPEGs is decoded and encoded again, with
 * one log line saying why; a source of another codec, or any with MJPEG_PASSTHROUGH=off, is
 * encoded as before.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOpenCV } from '@camrelay/capture';
import { StreamViewer, fetchMetrics, metricValue, writeMjpegAvi } from '@camrelay/clients';
import { freePort, spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

type OpenCV = Awaited<ReturnType<typeof loadOpenCV>>;

/** Distinct 320x240 pictures: a moving square on a changing colour. */
function pictures(cv: OpenCV, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const mat = new cv.Mat(240, 320, cv.CV_8UC3, [(i * 23) % 256, 120, 200]);
    mat.drawRectangle(new cv.Point2(10 + i * 12, 40), new cv.Point2(60 + i * 12, 90), new cv.Vec3(255, 255, 255), -1);
    return mat;
  });
}

/** A JPEG without its Huffman tables, as many USB webcams send their MJPEG frames. */
function withoutHuffmanTables(jpeg: Buffer): Buffer {
  const kept: Buffer[] = [jpeg.subarray(0, 2)];
  let at = 2;
  while (jpeg[at + 1] !== 0xda) {
    const length = jpeg.readUInt16BE(at + 2);
    if (jpeg[at + 1] !== 0xc4) kept.push(jpeg.subarray(at, at + 2 + length));
    at += 2 + length;
  }
  kept.push(jpeg.subarray(at));
  return Buffer.concat(kept);
}

/**
 * How the camera's frames are made, from the all-in-one's /metrics (capture's metrics are on it):
 * camrelay_capture_passthrough, 1 for its source's own JPEGs published as delivered, 0 for
 * frames encoded here. Read from a report of frames captured while a viewer keeps the camera
 * open (frames and the gauge come in one report from the camera's worker), so that a 0 is an
 * open camera's, not a sleeping one's.
 */
async function passthroughOf(gateway: Service, camera: string): Promise<number> {
  const read = async () => {
    const text = await fetchMetrics(gateway.baseUrl);
    const label = `camera="${camera}"`;
    return {
      frames: metricValue(text, 'camrelay_capture_frames_total', label),
      passthrough: metricValue(text, 'camrelay_capture_passthrough', label),
    };
  };
  const before = (await read()).frames;
  const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/${camera}/stream.mjpg`, { keepJpegs: false });
  try {
    const now = await eventually(async () => {
      const reading = await read();
      assert.ok(reading.frames > before, `${camera}: frames captured since ${before}`);
      return reading;
    }, 20_000);
    return now.passthrough;
  } finally {
    viewer.close();
  }
}

describe('MJPEG passthrough', () => {
  let cv: OpenCV;
  let dir: string;
  let gateway: Service;
  const baseline: Buffer[] = [];
  const progressive: Buffer[] = [];

  before(async () => {
    cv = await loadOpenCV(process.env);
    dir = mkdtempSync(join(tmpdir(), 'camrelay-passthrough-'));
    for (const mat of pictures(cv, 12)) {
      baseline.push(cv.imencode('.jpg', mat, [cv.IMWRITE_JPEG_QUALITY, 70]));
      progressive.push(cv.imencode('.jpg', mat, [cv.IMWRITE_JPEG_QUALITY, 70, cv.IMWRITE_JPEG_PROGRESSIVE, 1]));
    }
    writeMjpegAvi(join(dir, 'baseline.avi'), baseline, { width: 320, height: 240, fps: 15 });
    writeMjpegAvi(join(dir, 'progressive.avi'), progressive, { width: 320, height: 240, fps: 15 });
    writeMjpegAvi(join(dir, 'webcam.avi'), baseline.map(withoutHuffmanTables), { width: 320, height: 240, fps: 15 });
    gateway = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: [
        `clip=file:${join(dir, 'baseline.avi')}`,
        `prog=file:${join(dir, 'progressive.avi')}`,
        `webcam=file:${join(dir, 'webcam.avi')}`,
        'pattern=pattern:320x240@15',
      ].join(';'),
    });
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("publishes an MJPG file's own JPEGs, byte for byte, in order, looped", async () => {
    assert.equal(await passthroughOf(gateway, 'clip'), 1, 'camrelay_capture_passthrough');
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/clip/stream.mjpg`);
    try {
      const frames = (await viewer.waitForFrames(baseline.length + 6, 20_000)).filter((frame) => !frame.headers['x-no-signal']);
      const indexes = frames.map((frame) => baseline.findIndex((jpeg) => jpeg.equals(frame.jpeg)));
      assert.ok(!indexes.includes(-1), `every frame is one of the file's JPEGs, byte for byte (${indexes.join(' ')})`);
      // The latest frame first (a joiner's picture at once), then the file's order, round again:
      // each frame one to three places after the one before, since a viewer slow to read (a busy
      // machine) is rightly skipped a frame or two, but never one repeated or gone back to.
      for (let i = 2; i < indexes.length; i++) {
        const step = (indexes[i]! - indexes[i - 1]! + baseline.length) % baseline.length;
        assert.ok(step >= 1 && step <= 3, `order: ${indexes.join(' ')}`);
      }
    } finally {
      viewer.close();
    }
  });

  it('completes frames sent without Huffman tables (as by USB webcams) with the standard ones, and passes them on', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/webcam/stream.mjpg`);
    try {
      const frames = (await viewer.waitForFrames(8, 20_000)).filter((frame) => !frame.headers['x-no-signal']);
      // OpenCV's encoder wrote the standard tables just before the scan: the completed frame is
      // the original, byte for byte.
      for (const frame of frames)
        assert.ok(
          baseline.some((jpeg) => jpeg.equals(frame.jpeg)),
          'the frame with the standard tables',
        );
      assert.equal(await passthroughOf(gateway, 'webcam'), 1, 'no fallback: camrelay_capture_passthrough');
    } finally {
      viewer.close();
    }
  });

  it('decodes and encodes again, saying why once, an MJPEG source whose frames are not baseline JPEGs', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/prog/stream.mjpg`);
    try {
      const frames = (await viewer.waitForFrames(progressive.length + 6, 20_000)).filter((frame) => !frame.headers['x-no-signal']);
      for (const frame of frames) {
        assert.ok(!progressive.some((jpeg) => jpeg.equals(frame.jpeg)), 'not the source bytes');
        assert.equal(frame.jpeg[0], 0xff);
        const picture = cv.imdecode(frame.jpeg);
        assert.deepEqual([picture.cols, picture.rows], [320, 240]);
      }
      assert.equal(await passthroughOf(gateway, 'prog'), 0, 'encoded here: camrelay_capture_passthrough');
      const notices = gateway.output.filter((line) => line.includes('"camera":"prog"') && /not complete baseline JPEGs/.test(line));
      assert.equal(notices.length, 1, 'one log line, though the file loops');
      assert.match(notices[0]!, /not a baseline JPEG \(progressive/);
    } finally {
      viewer.close();
    }
  });

  it('encodes a source of another kind as before', async () => {
    assert.equal(await passthroughOf(gateway, 'pattern'), 0, 'camrelay_capture_passthrough');
  });

  it('encodes an MJPEG source again, at JPEG_QUALITY, with MJPEG_PASSTHROUGH=off', async () => {
    const reencoding = await spawnGateway({ REDIS_URL: '', MJPEG_PASSTHROUGH: 'off', CAMERAS: `clip=file:${join(dir, 'baseline.avi')}` });
    const viewer = new StreamViewer(`${reencoding.baseUrl}/cameras/clip/stream.mjpg`);
    try {
      assert.equal(await passthroughOf(reencoding, 'clip'), 0, 'camrelay_capture_passthrough');
      const frames = (await viewer.waitForFrames(5)).filter((frame) => !frame.headers['x-no-signal']);
      for (const frame of frames) assert.ok(!baseline.some((jpeg) => jpeg.equals(frame.jpeg)), 'encoded again, not the source bytes');
    } finally {
      viewer.close();
      await reencoding.stop();
    }
  });

  it('publishes an http:// MJPEG camera byte for byte', async () => {
    // The camera is another camrelay serving the MJPG file's own JPEGs (as the first case shows),
    // kept open (`,always`): every frame relayed must be one of those JPEGs. Comparing against
    // what a viewer of the upstream recorded instead failed on a busy machine, where that
    // viewer, slow to read, was rightly skipped frames that the relay got.
    const upstream = await spawnGateway({
      REDIS_URL: '',
      PORT: String(await freePort()),
      CAMERAS: `cam=file:${join(dir, 'baseline.avi')},always`,
    });
    const relay = await spawnGateway({ REDIS_URL: '', CAMERAS: `relay=http://127.0.0.1:${upstream.port}/cameras/cam/stream.mjpg` });
    const received = new StreamViewer(`${relay.baseUrl}/cameras/relay/stream.mjpg`);
    try {
      assert.equal(await passthroughOf(relay, 'relay'), 1, 'camrelay_capture_passthrough');
      const frames = (await received.waitForFrames(20, 20_000)).filter((frame) => !frame.headers['x-no-signal']);
      assert.ok(frames.length >= 15);
      for (const frame of frames)
        assert.ok(
          baseline.some((original) => original.equals(frame.jpeg)),
          `relayed frame ${frame.sequence} is a JPEG the camera sent, byte for byte`,
        );
    } finally {
      received.close();
      await relay.stop();
      await upstream.stop();
    }
  });
});
