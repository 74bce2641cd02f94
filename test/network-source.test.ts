/**
 * A network camera (an http:// MJPEG stream read through OpenCV's FFmpeg backend) that goes
 * away and comes back: capture logs the loss, reopens it with backoff, and streams again.
 * The "network camera" is another camrelay gateway serving a test pattern.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadOpenCV } from '@camrelay/capture';
import { StreamViewer } from '@camrelay/clients';
import { freePort, spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { assertJsonErrors } from './harness/json-errors.js';

describe('a network source that is lost and comes back', () => {
  let upstreamPort: number;
  let upstream: Service;
  let relay: Service;

  const SECRETS = ['net-secret-1', 'net-secret-2', 'net-secret-3'];
  const startUpstream = () => spawnGateway({ REDIS_URL: '', PORT: String(upstreamPort), CAMERAS: 'cam=pattern:320x240@15' });

  before(async () => {
    upstreamPort = await freePort();
    upstream = await startUpstream();
    // Credentials as IP cameras take them, in the user info and the query: the upstream
    // gateway ignores them, and no line the relay prints may show them.
    relay = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: `relay=http://admin:${SECRETS[0]}@127.0.0.1:${upstreamPort}/cameras/cam/stream.mjpg?user=admin&pwd=${SECRETS[1]}&token=${SECRETS[2]}`,
    });
  });

  after(async () => {
    await relay?.stop();
    await upstream?.stop();
  });

  it('streams the network camera, survives its loss and picks it up again', async () => {
    const cv = await loadOpenCV(process.env);
    const viewer = new StreamViewer(`${relay.baseUrl}/cameras/relay/stream.mjpg`);
    try {
      // Past the STARTING picture (640 wide) that comes first while the camera opens.
      const frame = await viewer.waitForFrame((part) => part.headers['x-no-signal'] === undefined, 'a live frame', 0);
      assert.equal(cv.imdecode(frame.jpeg).cols, 320);

      const lostAt = viewer.frames.length;
      await upstream.stop();
      // The viewer is told: the NO SIGNAL picture, not a frozen last frame.
      const noSignal = await viewer.waitForFrame((part) => part.headers['x-no-signal'] === '1', 'a NO SIGNAL picture', lostAt);
      assert.equal(cv.imdecode(noSignal.jpeg).cols, 640);

      const seen = viewer.frames.length;
      upstream = await startUpstream();
      // The relay's own viewer never disconnected: it simply gets frames again.
      const live = () => viewer.frames.slice(seen).filter((part) => part.headers['x-no-signal'] === undefined);
      await viewer.waitForFrame(() => live().length >= 5, '5 live frames after the camera came back', seen, 30_000);
      const after = live();
      for (let i = 1; i < after.length; i++) assert.ok(after[i]!.sequence > after[i - 1]!.sequence);

      // Opened, lost, retried and reopened: every line that named the camera's URL hid its secrets.
      const output = relay.output.join('\n');
      assert.match(output, /http:\/\/\*\*\*@127\.0\.0\.1:\d+\/cameras\/cam\/stream\.mjpg\?user=admin&pwd=\*\*\*&token=\*\*\*/);
      for (const secret of SECRETS) assert.ok(!output.includes(secret), `${secret} printed by the relay`);
    } finally {
      viewer.close();
    }
  });
});

describe('a network camera that never opens', () => {
  /** When each try to open the camera reached it: the camera's own record, not capture's log. */
  const tries: number[] = [];
  let triesArrived: () => void;
  const fourTries = new Promise<void>((resolve) => (triesArrived = resolve));
  // Answers every request as a camera whose stream is not there does.
  const camera = createServer((req, res) => {
    tries.push(performance.now());
    if (tries.length === 4) triesArrived();
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such stream');
  });
  let relay: Service;

  before(async () => {
    await new Promise<void>((resolve) => camera.listen(0, '127.0.0.1', resolve));
    const { port } = camera.address() as AddressInfo;
    relay = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: `dead=http://127.0.0.1:${port}/video.mjpg;live=pattern:320x240@15`,
    });
  });

  after(async () => {
    await relay?.stop();
    camera.close();
  });

  it(
    'tries again after 0.5 s, then 1 s, then 2 s: neither giving up nor hammering it, and the other camera streams',
    { timeout: 30_000 },
    async () => {
      await fourTries;
      const waits = tries.slice(1, 4).map((at, i) => at - tries[i]!);
      // Each wait is the backoff plus one failed open, never less than the backoff.
      [500, 1000, 2000].forEach((backoff, i) =>
        assert.ok(waits[i]! >= backoff, `try ${i + 2} came ${waits[i]!.toFixed(0)} ms after the one before (backoff ${backoff} ms)`),
      );
      await assertJsonErrors(relay.baseUrl, [['/cameras/dead/snapshot.jpg', 503, 'no_frame']]);
      const viewer = new StreamViewer(`${relay.baseUrl}/cameras/live/stream.mjpg`);
      try {
        await viewer.waitForFrames(10);
      } finally {
        viewer.close();
      }
    },
  );
});
