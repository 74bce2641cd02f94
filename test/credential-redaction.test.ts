/**
 * Camera passwords never reach the output, native output included (OpenCV and FFmpeg write to
 * descriptors 1 and 2 themselves). Capture and the all-in-one are started as users start them
 * and made to retry cameras that do not open: rtsp://, http:// and https:// URLs with
 * credentials, at a closed port, at a server that closes every connection, at one that
 * answers garbage, and at an HLS playlist whose segments fail (FFmpeg itself then prints a
 * segment's URL, with the user info it took from the camera's URL). What each process
 * writes is the thing under test here.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetchMetrics, metricValue } from '@camrelay/clients';
import { freePort, isOk, spawnCapture, spawnProcess, spawnRedis, untilAnswers } from '@camrelay/stack';
import type { RedisServer, Running } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const SECRET = 'Cam-Pa55word-7f3a';
const RETRIES = 3;

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** The worker below a service's parent process (the only child it has). */
function workerOf(parent: Running): number {
  const pid = parent.process.pid!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean);
  assert.equal(children.length, 1, `one worker below ${pid}`);
  return Number(children[0]);
}

function assertRedacted(output: string): void {
  assert.ok(
    !output.includes(SECRET),
    `the password was printed:\n${output
      .split('\n')
      .filter((line) => line.includes(SECRET))
      .join('\n')}`,
  );
  // Native output went through, redacted, and it came from FFmpeg alone: the other back ends
  // (GStreamer, the image-sequence reader, which names the URL) are never tried for a URL.
  assert.match(output, /\[hls @ [^\]]+\] Error when loading first segment 'http:\/\/\*\*\*@127\.0\.0\.1:\d+\/seg1\.ts'/);
  assert.doesNotMatch(output, /CAP_IMAGES|CV_IMAGES|GStreamer/);
}

describe('camera credentials in native output', () => {
  const servers: Server[] = [];
  let redis: RedisServer;
  let cameras: string;
  let ids: string[];

  before(async () => {
    redis = await spawnRedis();
    const closedPort = await freePort();
    const closer = createTcpServer((socket) => socket.destroy());
    const garbage = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      socket.end('\x16\x03\x01garbage, neither RTSP nor HTTP nor TLS\r\n\r\n');
    });
    // Segments relative to the playlist: FFmpeg resolves them against the camera's URL.
    const hls = createHttpServer((req, res) => {
      if (!req.url?.includes('.m3u8')) return req.socket.destroy();
      res.writeHead(200, { 'Content-Type': 'application/vnd.apple.mpegurl' });
      res.end('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg1.ts\n#EXTINF:2,\nseg2.ts\n#EXT-X-ENDLIST\n');
    });
    servers.push(closer, garbage, hls);
    const ports = { closed: closedPort, closes: await listen(closer), garbage: await listen(garbage) };
    const entries = Object.entries(ports).flatMap(([kind, port]) =>
      ['rtsp', 'http', 'https'].map((scheme) => `${scheme}-${kind}=${scheme}://admin:${SECRET}@127.0.0.1:${port}/live`),
    );
    // Credentials in the query too, as many IP cameras take them.
    entries.push(`http-query=http://admin:${SECRET}@127.0.0.1:${ports.closes}/video.cgi?user=admin&pwd=${SECRET}`);
    entries.push(`hls=http://admin:${SECRET}@127.0.0.1:${await listen(hls)}/live.m3u8?pwd=${SECRET}`);
    cameras = entries.join(';');
    ids = entries.map((entry) => entry.slice(0, entry.indexOf('=')));
  });

  after(async () => {
    await redis?.stop();
    for (const server of servers) server.close();
  });

  it(`capture (npm run capture) retries each camera ${RETRIES} times and prints no password`, async () => {
    const healthPort = await freePort();
    const capture = await spawnCapture({ REDIS_URL: redis.url, HEALTH_PORT: String(healthPort), CAMERAS: cameras });
    try {
      await eventually(async () => {
        const metrics = await fetchMetrics(`http://127.0.0.1:${healthPort}`);
        for (const id of ids) assert.ok(metricValue(metrics, 'camrelay_capture_open_failures_total', `camera="${id}"`) >= RETRIES, id);
      }, 30_000);
    } finally {
      assert.equal(await capture.stop(), 0, 'SIGTERM passed on to the worker, its exit code passed back');
    }
    assertRedacted(capture.output.join('\n'));
  });

  for (const [what, entry] of [
    ['the all-in-one (npm start)', 'services/all-in-one/dist/main.js'],
    ['npm run gateway without REDIS_URL (the all-in-one)', 'services/all-in-one/dist/gateway.js'],
  ] as const)
    it(`${what} retries each camera ${RETRIES} times and prints no password`, async () => {
      const port = await freePort();
      const allInOne = spawnProcess(process.execPath, ['--max-semi-space-size=1', entry], {
        LOG_LEVEL: 'info',
        PORT: String(port),
        REDIS_URL: '',
        CAMERAS: cameras,
      });
      try {
        await untilAnswers(allInOne, `http://127.0.0.1:${port}/healthz`, isOk, 60_000);
        // The warnings themselves are awaited (not camrelay_capture_open_failures_total): they are the output under test.
        const failures = (id: string) =>
          allInOne.output.filter((line) => line.includes(`"camera":"${id}"`) && line.includes('camera did not open'));
        await eventually(() => {
          for (const id of ids) assert.ok(failures(id).length >= RETRIES, id);
        }, 30_000);
      } finally {
        assert.equal(await allInOne.stop(), 0);
      }
      assertRedacted(allInOne.output.join('\n'));
    });

  it('the filtering parent and its worker live and die together', async () => {
    const start = async () => {
      const healthPort = await freePort();
      const capture = await spawnCapture({ REDIS_URL: redis.url, HEALTH_PORT: String(healthPort), CAMERAS: 'p=pattern:64x48@5' }, ['p']);
      return { capture, healthz: () => fetch(`http://127.0.0.1:${healthPort}/healthz`) };
    };

    const started: Running[] = [];
    try {
      // The worker killed: the parent ends by the same signal, as capture itself did before.
      const first = await start();
      started.push(first.capture);
      process.kill(workerOf(first.capture), 'SIGKILL');
      await first.capture.exited;
      assert.equal(first.capture.process.signalCode, 'SIGKILL');

      // The parent killed (nothing passed on): the worker goes too, and frees its port.
      const second = await start();
      started.push(second.capture);
      assert.equal((await second.healthz()).status, 200);
      second.capture.process.kill('SIGKILL');
      await second.capture.exited;
      await eventually(
        () =>
          second.healthz().then(
            () => assert.fail('the worker still serves /healthz'),
            () => undefined,
          ),
        5000,
      );
    } finally {
      for (const capture of started) await capture.stop('SIGKILL');
    }
  });
});
