/**
 * The H.264 tier (`/cameras/:id/stream.mp4`): fragmented MP4 that FFmpeg decodes without a
 * single error, starting at the latest keyframe (from a gateway's memory, or from the bus for a
 * gateway that had no viewer of it), at the camera's size or a smaller one; a viewer that stops
 * reading skips to the next keyframe and nobody else notices; a capture restarted under a
 * viewer costs it a pause, not its stream. Real redis-server, capture, gateways, OpenCV and
 * FFmpeg (libx264 in capture, the decoder here).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Mp4Viewer, OPEN_GATEWAY, fetchMetrics, metricValue } from '@camrelay/clients';
import type { ReceivedFragment } from '@camrelay/clients';
import { spawnCapture, spawnGateway } from '@camrelay/stack';
import type { CaptureService, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { decode, writeNoiseClip } from './harness/ffmpeg.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const FPS = 15;
const PATTERN = `lab=pattern:640x480@${FPS},always`;

describe('the H.264 tier', () => {
  let relay: Relay;
  let gateways: readonly [Service, Service];
  let dir: string;
  /** A capture started by the restart case, stopped at the end. */
  let restarted: CaptureService | undefined;

  const urlOf = (gateway: Service, camera: string, query = '') => `${gateway.baseUrl}/cameras/${camera}/stream.mp4${query}`;
  /** Writes what a viewer received to a file and decodes it. */
  const decodeBody = (viewer: Mp4Viewer, name: string) => {
    const file = join(dir, `${name}.mp4`);
    writeFileSync(file, viewer.bytes);
    return decode(file);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'camrelay-h264-'));
    const noise = join(dir, 'noise.avi');
    writeNoiseClip(noise, 640, 480, 30);
    relay = await startRelay({ cameras: `${PATTERN};noise=file:${noise},always`, gateways: 2, gatewayEnv: OPEN_GATEWAY });
    gateways = relay.gateways as [Service, Service];
  });

  after(async () => {
    await restarted?.stop();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts each viewer at the latest keyframe, from the gateway or from the bus, and FFmpeg decodes every frame', async () => {
    const first = new Mp4Viewer(urlOf(gateways[0], 'lab'));
    const joiners: Mp4Viewer[] = [];
    try {
      await first.waitForFragments(1);
      assert.ok(first.fragments[0]!.keyframe, "the first viewer's stream starts on a keyframe");
      // A keyframe after the first: a group of pictures is under way when the others join.
      await first.waitForKeyframe(1);
      await first.waitForFragments(first.fragments.length + 3);
      // One joins where the feed is watched (the gateway's own copy), one where it is not (the bus's).
      for (const gateway of gateways) {
        const requestedAt = Date.now();
        const joiner = new Mp4Viewer(urlOf(gateway, 'lab'));
        joiners.push(joiner);
        await joiner.waitForFragments(1);
        const start = joiner.fragments[0]!;
        assert.ok(start.keyframe, `a viewer joining at ${gateway.baseUrl} starts on a keyframe`);
        assert.ok(
          start.decodeTime * 1000 < requestedAt,
          `it starts at the keyframe captured before it asked (${requestedAt - start.decodeTime * 1000} ms), not the next one`,
        );
      }
      for (const viewer of [first, ...joiners]) await viewer.waitForKeyframe(viewer.fragments.findIndex((f) => f.keyframe) + 1);
      for (const [i, viewer] of [first, ...joiners].entries()) {
        viewer.close();
        const decoded = decodeBody(viewer, `join-${i}`);
        assert.deepEqual(decoded.problems, [], `viewer ${i}'s stream decodes without a problem`);
        assert.equal(decoded.errors, 0);
        assert.ok(decoded.frames >= viewer.fragments.length - 1, `${decoded.frames} frames decoded of ${viewer.fragments.length}`);
        assert.equal(`${decoded.width}x${decoded.height}`, '640x480');
        assert.equal(viewer.inits.length, 1, 'one init segment, at the start');
        assert.equal(viewer.response?.headers['content-type'], 'video/mp4');
      }
    } finally {
      for (const viewer of [first, ...joiners]) viewer.close();
    }
  });

  it("streams a camera's smaller size as asked with ?size=, encoded once for all", async () => {
    const viewers = gateways.map((gateway) => new Mp4Viewer(urlOf(gateway, 'lab', '?size=320x240')));
    try {
      for (const viewer of viewers) await viewer.waitForKeyframe(1);
      const metrics = await fetchMetrics(relay.captureHealth);
      assert.ok(metricValue(metrics, 'camrelay_capture_h264_frames_total', 'camera="lab"') > 0);
      for (const [i, viewer] of viewers.entries()) {
        viewer.close();
        const decoded = decodeBody(viewer, `small-${i}`);
        assert.deepEqual(decoded.problems, []);
        assert.equal(`${decoded.width}x${decoded.height}`, '320x240');
      }
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });

  it('is read by FFmpeg from its URL, as players built on it are (ffplay, VLC, Home Assistant)', () => {
    const probe = spawnSync(
      'ffprobe',
      [
        '-v',
        'error',
        '-rw_timeout',
        '15000000',
        '-show_entries',
        'stream=codec_name,profile,width,height',
        '-of',
        'json',
        urlOf(gateways[1], 'lab'),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const { streams } = JSON.parse(probe.stdout) as { streams: Array<Record<string, unknown>> };
    assert.deepEqual(streams, [{ codec_name: 'h264', profile: 'Constrained Baseline', width: 640, height: 480 }]);
  });

  it('says so, rather than stream nothing, for a camera whose capture host has no FFmpeg', async () => {
    // A capture that finds no ffmpeg on its PATH: its cameras are listed without the tier.
    const plain = await spawnCapture({ ...relay.busEnv, CAMERAS: 'plain=pattern:160x120@5,always', PATH: '/nonexistent' }, ['plain']);
    try {
      const gateway = gateways[0];
      const listed = await eventually(async () => {
        const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<Record<string, unknown>>;
        const found = cameras.find((camera) => camera['id'] === 'plain');
        assert.ok(found, 'the camera is listed');
        return { plain: found, lab: cameras.find((camera) => camera['id'] === 'lab')! };
      }, 20_000);
      assert.deepEqual(listed.plain['tiers'], ['mjpeg']);
      assert.equal(listed.plain['videoUrl'], undefined, 'no H.264 URL for the page to offer');
      assert.deepEqual(listed.lab['tiers'], ['mjpeg', 'h264']);
      assert.equal(listed.lab['videoUrl'], '/cameras/lab/stream.mp4');
      const refused = await fetch(urlOf(gateway, 'plain'));
      assert.equal(refused.status, 501);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'no_h264');
    } finally {
      await plain.stop();
    }
  });

  it('refuses what an H.264 stream cannot do, and answers HEAD with its type', async () => {
    const gateway = gateways[0];
    const fps = await fetch(urlOf(gateway, 'lab', '?fps=5'));
    assert.equal(fps.status, 400);
    assert.equal(((await fps.json()) as { error: { code: string } }).error.code, 'bad_fps');
    const size = await fetch(urlOf(gateway, 'lab', '?size=1280x960'));
    assert.equal(size.status, 400);
    assert.equal(((await size.json()) as { error: { code: string } }).error.code, 'bad_size');
    const unknown = await fetch(urlOf(gateway, 'nope'));
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    const head = await fetch(urlOf(gateway, 'lab'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'video/mp4');
  });

  it('skips a stalled viewer to the next keyframe; its stream still decodes, its backlog stays bounded, the others get every frame', async () => {
    const gateway = gateways[0];
    const url = urlOf(gateway, 'noise');
    const stalled = new Mp4Viewer(url);
    const others = Array.from({ length: 3 }, () => new Mp4Viewer(url));
    const skipped = async () => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_frames_skipped_total');
    try {
      await Promise.all([stalled, ...others].map((viewer) => viewer.waitForKeyframe(1)));
      const skippedBefore = await skipped();
      stalled.pause();
      // Until the kernel's socket buffers are full (~5 s of this noise), the gateway sees nothing.
      let queuedMax = 0;
      await eventually(
        async () => {
          const metrics = await fetchMetrics(gateway.baseUrl);
          queuedMax = Math.max(queuedMax, metricValue(metrics, 'camrelay_viewer_queued_bytes_max', 'camera="noise",tier="h264"'));
          assert.ok(
            metricValue(metrics, 'camrelay_frames_skipped_total') > skippedBefore + 30,
            'the stalled viewer skipped a second of fragments',
          );
        },
        90_000,
        250,
      );
      stalled.resume();
      // What the kernel held comes first; then, past the fragments skipped, the present.
      const resumedAt = Date.now() / 1000;
      await stalled.waitUntil(
        () => stalled.fragments.some((f) => f.decodeTime > resumedAt),
        'a fragment captured after it read again',
        30_000,
      );
      await stalled.waitForKeyframe(stalled.fragments.findIndex((f) => f.decodeTime > resumedAt) + 1);
      for (const viewer of [stalled, ...others]) viewer.close();

      const largest = (viewer: Mp4Viewer, keyframe: boolean) =>
        Math.max(0, ...viewer.fragments.filter((f) => f.keyframe === keyframe).map((f) => f.bytes));
      const keyframeBytes = Math.max(...others.map((viewer) => largest(viewer, true)));
      const fragmentBytes = Math.max(...others.map((viewer) => Math.max(largest(viewer, true), largest(viewer, false))));
      const allowance = Math.max(256 * 1024, 2 * keyframeBytes);
      assert.ok(queuedMax > 0, 'the stalled viewer had a backlog in the gateway');
      assert.ok(queuedMax <= allowance + fragmentBytes, `backlog ${queuedMax} bytes, at most the allowance ${allowance} and one fragment`);

      const jumps = gapsOf(stalled.fragments);
      assert.ok(jumps.length > 0, 'the stalled viewer missed fragments');
      for (const at of jumps) assert.ok(stalled.fragments[at]!.keyframe, `after the fragments it missed, fragment ${at} is a keyframe`);
      const decoded = decodeBody(stalled, 'stalled');
      assert.deepEqual(decoded.problems, [], 'the stalled viewer’s stream decodes without a problem across its skips');
      for (const [i, viewer] of others.entries()) {
        assert.deepEqual(gapsOf(viewer.fragments), [], `viewer ${i} beside it missed no fragment`);
        assert.deepEqual(decodeBody(viewer, `beside-${i}`).problems, []);
      }
    } finally {
      for (const viewer of [stalled, ...others]) viewer.close();
    }
  });

  it('keeps a viewer streaming across a capture restart: one init segment, time going on, every frame decoded', async () => {
    const viewer = new Mp4Viewer(urlOf(gateways[1], 'lab'));
    try {
      await viewer.waitForKeyframe(1);
      const before = viewer.fragments.length;
      await relay.capture.stop();
      restarted = await spawnCapture({ ...relay.busEnv, CAMERAS: PATTERN }, ['lab']);
      const stoppedAt = Date.now() / 1000;
      await viewer.waitUntil(
        () => viewer.fragments.slice(before).some((f) => f.keyframe && f.decodeTime > stoppedAt),
        'a keyframe from the restarted capture',
        60_000,
      );
      await viewer.waitForFragments(viewer.fragments.length + 5);
      viewer.close();
      assert.equal(viewer.inits.length, 1, 'the stream did not start over');
      const times = viewer.fragments.map((f) => f.decodeTime);
      assert.ok(
        times.every((time, i) => i === 0 || time > times[i - 1]!),
        'decode times rise across the restart',
      );
      const decoded = decodeBody(viewer, 'restart');
      assert.deepEqual(decoded.problems, [], 'the stream decodes without a problem across the restart');
      assert.equal(decoded.errors, 0);
    } finally {
      viewer.close();
    }
  });
});

/** Where a viewer's fragments jump by more than a few frames: the indexes of the fragments after each jump. */
function gapsOf(fragments: readonly ReceivedFragment[]): number[] {
  const intervals = fragments.slice(1).map((f, i) => f.decodeTime - fragments[i]!.decodeTime);
  const typical = [...intervals].sort((a, b) => a - b)[Math.floor(intervals.length / 2)] ?? 0;
  return intervals.flatMap((interval, i) => (interval > typical * 4 ? [i + 1] : []));
}

describe('the H.264 tier on a Redis Cluster', () => {
  let relay: Relay;

  before(async () => {
    relay = await startRelay({ cameras: PATTERN, gateways: 2, gatewayEnv: OPEN_GATEWAY, clusterMasters: 3 });
  });

  after(async () => {
    await relay?.stop();
  });

  it("keeps a feed's group of pictures in the camera's slot, where a gateway's first viewer starts", async () => {
    const [watching, fresh] = relay.gateways as [Service, Service];
    const first = new Mp4Viewer(`${watching.baseUrl}/cameras/lab/stream.mp4`);
    const viewers = [first];
    try {
      await first.waitForKeyframe(1);
      await first.waitForFragments(first.fragments.length + 3);
      const requestedAt = Date.now();
      const joiner = new Mp4Viewer(`${fresh.baseUrl}/cameras/lab/stream.mp4`);
      viewers.push(joiner);
      await joiner.waitForFragments(5);
      assert.ok(joiner.fragments[0]!.keyframe);
      assert.ok(joiner.fragments[0]!.decodeTime * 1000 < requestedAt, 'it starts at the keyframe the cluster kept');
      joiner.close();
      const file = join(mkdtempSync(join(tmpdir(), 'camrelay-h264-cluster-')), 'joiner.mp4');
      writeFileSync(file, joiner.bytes);
      assert.deepEqual(decode(file).problems, []);
      rmSync(dirname(file), { recursive: true, force: true });
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });
});

describe('the H.264 tier embedded (npm start: one process, no Redis)', () => {
  let embedded: Service;

  before(async () => {
    embedded = await spawnGateway({ CAMERAS: 'lab=pattern:320x240@15' });
  });

  after(async () => {
    await embedded?.stop();
  });

  it('streams H.264 that FFmpeg decodes, a second viewer starting at the kept keyframe', async () => {
    const first = new Mp4Viewer(`${embedded.baseUrl}/cameras/lab/stream.mp4`);
    const viewers = [first];
    const dir = mkdtempSync(join(tmpdir(), 'camrelay-h264-embedded-'));
    try {
      await first.waitForKeyframe(1);
      const requestedAt = Date.now();
      const second = new Mp4Viewer(`${embedded.baseUrl}/cameras/lab/stream.mp4`);
      viewers.push(second);
      await second.waitForKeyframe(1);
      assert.ok(second.fragments[0]!.keyframe && second.fragments[0]!.decodeTime * 1000 < requestedAt);
      for (const [i, viewer] of viewers.entries()) {
        viewer.close();
        writeFileSync(join(dir, `${i}.mp4`), viewer.bytes);
        const decoded = decode(join(dir, `${i}.mp4`));
        assert.deepEqual(decoded.problems, []);
        assert.equal(`${decoded.width}x${decoded.height}`, '320x240');
      }
    } finally {
      for (const viewer of viewers) viewer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
