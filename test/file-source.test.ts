/**
 * A `file:` camera in the embedded default (one process, in-memory bus): a video written
 * here with OpenCV's VideoWriter plays in a loop, and a file that is missing is retried
 * without harming it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOpenCV } from '@camrelay/capture';
import { StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { assertJsonErrors } from './harness/json-errors.js';

const FRAMES_IN_FILE = 20;

describe('a file source, embedded mode', () => {
  let dir: string;
  let gateway: Service;

  before(async () => {
    const cv = await loadOpenCV(process.env);
    dir = mkdtempSync(join(tmpdir(), 'camrelay-file-'));
    const path = join(dir, 'clip.avi');
    const writer = new cv.VideoWriter(path, cv.VideoWriter.fourcc('MJPG'), 25, new cv.Size(320, 240));
    for (let i = 0; i < FRAMES_IN_FILE; i++) {
      const mat = new cv.Mat(240, 320, cv.CV_8UC3, [i * 12, 80, 255 - i * 12]);
      mat.putText(`frame ${i}`, new cv.Point2(20, 120), cv.FONT_HERSHEY_SIMPLEX, 1, new cv.Vec3(255, 255, 255), 2);
      writer.write(mat);
    }
    writer.release();
    gateway = await spawnGateway({ CAMERAS: `clip=file:${path};gone=file:${join(dir, 'missing.avi')}`, REDIS_URL: '' });
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plays the file at its size, looping past its end', async () => {
    const cv = await loadOpenCV(process.env);
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/clip/stream.mjpg`);
    try {
      // A viewer that comes before the file's first frame sees the STARTING picture first.
      const isLive = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === undefined;
      await viewer.waitForFrame(() => viewer.frames.filter(isLive).length >= FRAMES_IN_FILE * 2 + 5, 'the file twice over', 0, 30_000);
      const frames = viewer.frames.filter(isLive);
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.sequence > frames[i - 1]!.sequence);
      const picture = cv.imdecode(frames[frames.length - 1]!.jpeg);
      assert.equal(picture.cols, 320);
      assert.equal(picture.rows, 240);
      const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string; online: boolean }>;
      assert.deepEqual(
        cameras.map((c) => [c.id, c.online]),
        [
          ['clip', true],
          ['gone', false],
        ],
      );
    } finally {
      viewer.close();
    }
  });

  it('keeps retrying a camera that does not open, without harming the others', async () => {
    // How far apart the tries come is seen from the camera's side, in network-source.test.ts.
    await eventually(async () => {
      const failures = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_capture_open_failures_total', 'camera="gone"');
      assert.ok(failures >= 3, `${failures} failed opens so far`);
    });
    // What an operator reads to find the cause: the log's own content, not state read from it.
    assert.ok(
      gateway.output.some(
        (line) => line.includes('"camera":"gone"') && line.includes('camera did not open') && line.includes('missing.avi'),
      ),
      'the log names the source that did not open',
    );
    await assertJsonErrors(gateway.baseUrl, [['/cameras/gone/snapshot.jpg', 503, 'no_frame']]);
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/clip/stream.mjpg`);
    try {
      await viewer.waitForFrames(10);
    } finally {
      viewer.close();
    }
  });
});
