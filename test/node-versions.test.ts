/**
 * The stream hand-over (services/gateway/src/http/stream-sockets.ts) takes a socket from Node's HTTP
 * server with Node internals (`_http_common.freeParser`, `detachSocket`): the same gateway on
 * every Node line the project supports, 20 (these machines), 22 and 24 (the gateway image),
 * hands its streams over, keeps them past the server's request timeout, lets them go when the
 * client leaves, and reads nothing a client pipelines behind a stream or sends once it began.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { repoRoot, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const HEADERS_TIMEOUT_S = 1;
/** The gateway's request timeout is three times its headers timeout: a stream outlives it here. */
const PAST_REQUEST_TIMEOUT_MS = HEADERS_TIMEOUT_S * 3 * 1000 + 1500;

const nodeLines = [
  { line: process.versions.node.split('.')[0]!, node: process.execPath },
  ...['22', '24'].map((line) => ({ line, node: join(repoRoot, 'tools', 'node-versions', 'node_modules', `node${line}`, 'bin', 'node') })),
];

describe('the stream hand-over on every supported Node line', () => {
  let redis: RedisServer;
  let capture: Running;
  const gateways = new Map<string, Service>();

  before(async () => {
    for (const { node } of nodeLines)
      assert.ok(existsSync(node), `${node} is missing: run npm test (its setup installs tools/node-versions)`);
    redis = await spawnRedis();
    capture = await spawnCapture({ REDIS_URL: redis.url, CAMERAS: 'lab=pattern:160x120@15' }, ['lab']);
    for (const { line, node } of nodeLines) {
      assert.match(execFileSync(node, ['--version'], { encoding: 'utf8' }), new RegExp(`^v${line}\\.`));
      gateways.set(line, await spawnGateway({ REDIS_URL: redis.url, AUTH: 'off', HEADERS_TIMEOUT: String(HEADERS_TIMEOUT_S) }, { node }));
    }
  });

  after(async () => {
    await Promise.all([...gateways.values()].map((gateway) => gateway.stop()));
    await capture?.stop();
    await redis?.stop();
  });

  for (const { line } of nodeLines) {
    it(`on Node ${line}: hands streams over, keeps them past the request timeout, frees them when the client leaves`, async () => {
      const gateway = gateways.get(line)!;
      await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200));
      const viewers = [0, 1, 2].map(() => new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`, { keepJpegs: false }));
      try {
        await Promise.all(viewers.map((viewer) => viewer.waitForFrames(2)));
        const metrics = await fetchMetrics(gateway.baseUrl);
        assert.equal(metricValue(metrics, 'camrelay_streams_attached_total'), 0, 'every stream was handed over');
        assert.equal(metricValue(metrics, 'camrelay_open_streams'), 3);
        // Past the HTTP server's request timeout: a stream still on the server's connection list would be cut.
        await sleep(PAST_REQUEST_TIMEOUT_MS);
        const counts = viewers.map((viewer) => viewer.frames.length);
        await Promise.all(viewers.map((viewer, i) => viewer.waitForFrames(counts[i]! + 5)));
        assert.ok(viewers.every((viewer) => !viewer.isClosed));
      } finally {
        for (const viewer of viewers) viewer.close();
      }
      await eventually(async () => {
        const metrics = await fetchMetrics(gateway.baseUrl);
        assert.equal(metricValue(metrics, 'camrelay_open_streams'), 0);
        assert.equal(metricValue(metrics, 'camrelay_viewer_slots'), 0);
      });
    });

    it(`on Node ${line}: runs nothing pipelined behind a stream or sent after it began, and stays up`, async () => {
      const gateway = gateways.get(line)!;
      const socket = connect(gateway.port, '127.0.0.1');
      await once(socket, 'connect');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      const request = 'GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n';
      socket.write(request + request + 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      const parts = () => received.split('\r\n--camrelayframe\r\n').length - 1;
      try {
        await eventually(() => assert.ok(parts() >= 3, 'three parts'), 10_000, 50);
        // After the hand-over: the parser went with it (freeParser), so nothing reads this as a request.
        socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
        const before = parts();
        await eventually(() => assert.ok(parts() >= before + 3, 'three parts more'), 10_000, 50);
        assert.equal(received.split('HTTP/1.1 ').length - 1, 1, 'one response on the connection');
        assert.equal(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_viewer_slots'), 1);
      } finally {
        socket.destroy();
      }
      assert.equal((await fetch(`${gateway.baseUrl}/healthz`)).status, 200);
      await eventually(async () => assert.equal(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_viewer_slots'), 0));
    });
  }
});
