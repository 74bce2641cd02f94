/**
 * Bad input gets a clear answer and harms nothing: malformed paths and query values are 4xx
 * JSON (never a 500, never a file), viewers beyond the per-gateway and per-address limits get
 * 503 with Retry-After while the others stream on, and oversized headers and slow-loris
 * connections are answered and cut off.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { assertJsonErrors } from './harness/json-errors.js';
import type { ErrorCase } from './harness/json-errors.js';

const HEADERS_TIMEOUT_S = 2;

describe('bad input', () => {
  let gateway: Service;

  before(async () => {
    gateway = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: 'lab=pattern:160x120@15',
      MAX_VIEWERS: '5',
      MAX_VIEWERS_PER_ADDRESS: '3',
      HEADERS_TIMEOUT: String(HEADERS_TIMEOUT_S),
    });
  });

  after(async () => {
    await gateway?.stop();
  });

  it('answers malformed paths and query values with 4xx JSON, never 500', async () => {
    const cases: ErrorCase[] = [
      ['/cameras/nope/stream.mjpg', 404, 'unknown_camera'],
      ['/cameras/nope/snapshot.jpg', 404, 'unknown_camera'],
      [`/cameras/${'a'.repeat(65)}/stream.mjpg`, 400, 'bad_camera_id'],
      ['/cameras/..%2F..%2Fetc%2Fpasswd/snapshot.jpg', 400, 'bad_camera_id'],
      // fetch resolves %2e%2e as "..", as browsers do: what arrives is /snapshot.jpg.
      ['/cameras/%2e%2e/snapshot.jpg', 404, 'not_found'],
      ['/cameras/lab%00/stream.mjpg', 400, 'bad_camera_id'],
      ['/cameras/%E0%A4%A/stream.mjpg', 400, 'bad_camera_id'],
      ['/cameras/l%20ab/stream.mjpg', 400, 'bad_camera_id'],
      ['/cameras/lab/stream.mjpg?fps=0', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=-5', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=61', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=1e3', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=abc', 400, 'bad_fps'],
      ['/cameras/lab/stream.mjpg?fps=99999999999999999999', 400, 'bad_fps'],
      ['/api/cameras/lab/urls?ttl=5', 400, 'bad_ttl'],
      ['/api/cameras/lab/urls?ttl=ten', 400, 'bad_ttl'],
      ['/api/cameras/lab/urls?viewer=%3Cscript%3E', 400, 'bad_viewer'],
      ['/cameras/lab/stream.mjpg/../../package.json', 404, 'not_found'],
      ['/../../etc/passwd', 404, 'not_found'],
      ['/cameras/lab', 404, 'not_found'],
    ];
    await assertJsonErrors(gateway.baseUrl, cases);
    const posted = await fetch(`${gateway.baseUrl}/cameras/lab/stream.mjpg`, { method: 'POST', body: 'x' });
    assert.equal(posted.status, 405);
    assert.equal(((await posted.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
    assert.doesNotMatch(gateway.output.join('\n'), /request failed/, 'no request reached the 500 path');
  });

  it('refuses viewers beyond the per-address and per-gateway limits with 503 and Retry-After; the others stream on', async () => {
    const stream = `${gateway.baseUrl}/cameras/lab/stream.mjpg`;
    const first = [0, 1, 2].map(() => new StreamViewer(stream, { localAddress: '127.0.0.1' }));
    const viewers = [...first];
    try {
      await Promise.all(first.map((viewer) => viewer.waitForFrames(2)));
      await assertRefused(stream, '127.0.0.1', 'too_many_viewers_from_address');

      // Another address still gets in, up to the gateway's limit of 5.
      const second = [0, 1].map(() => new StreamViewer(stream, { localAddress: '127.0.0.2' }));
      viewers.push(...second);
      await Promise.all(second.map((viewer) => viewer.waitForFrames(2)));
      await assertRefused(stream, '127.0.0.3', 'too_many_viewers');
      // Full for everyone: /readyz tells a load balancer to send new viewers elsewhere.
      const full = await fetch(`${gateway.baseUrl}/readyz`);
      assert.equal(full.status, 503);
      assert.match(((await full.json()) as { error: { message: string } }).error.message, /viewer limit/);

      // Nobody already streaming noticed.
      const counts = viewers.map((viewer) => viewer.frames.length);
      await Promise.all(viewers.map((viewer, i) => viewer.waitForFrames(counts[i]! + 5)));
      assert.ok(viewers.every((viewer) => !viewer.isClosed));

      // A viewer that leaves makes room, once the gateway has seen it go.
      first[0]!.close();
      await eventually(async () => assert.equal(metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_viewer_slots'), 4));
      assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200, 'ready again once there is room');
      const next = new StreamViewer(stream, { localAddress: '127.0.0.1' });
      viewers.push(next);
      await next.waitForFrames(1);
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });

  it('answers oversized headers with 431 JSON', async () => {
    const reply = await rawRequest(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 431 /);
    assert.match(reply, /"code":"headers_too_large"/);
  });

  it('cuts off a slow-loris connection after HEADERS_TIMEOUT, while a viewer streams on', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    let trickle: NodeJS.Timeout | undefined;
    const socket = connect(gateway.port, '127.0.0.1');
    try {
      await viewer.waitForFrames(1);
      const openedAt = Date.now();
      // The request line first, then a header line every 200 ms that never ends the block.
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      trickle = setInterval(() => socket.writable && socket.write('X-a: b\r\n'), 200);
      const reply = await readAll(socket);
      const heldMs = Date.now() - openedAt;
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.match(reply, /"code":"request_timeout"/);
      assert.ok(heldMs < (HEADERS_TIMEOUT_S + 2) * 1000, `cut off after ${heldMs} ms`);
      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 3);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      viewer.close();
    }
  });

  it('refuses connections beyond the per-address cap at once, before any request, while other addresses stream on', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    // MAX_VIEWERS_PER_ADDRESS (3) + 64 for API calls and idle keep-alive: silent connections all.
    const held = await Promise.all(Array.from({ length: 3 + 64 }, () => openFrom('127.0.0.4')));
    try {
      await viewer.waitForFrames(1);
      const refused = await readAll(await openFrom('127.0.0.4'));
      assert.match(refused, /^HTTP\/1\.1 503 /);
      assert.match(refused, /Retry-After: 5/);
      assert.match(refused, /"code":"too_many_connections"/);
      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 3);
    } finally {
      for (const socket of held) socket.destroy();
      viewer.close();
    }
  });

  function openFrom(localAddress: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port: gateway.port, host: '127.0.0.1', localAddress }, () => resolve(socket));
      socket.on('error', reject);
    });
  }

  async function assertRefused(url: string, localAddress: string, code: string): Promise<void> {
    const { status, headers, body } = await get(url, localAddress);
    assert.equal(status, 503);
    assert.ok(Number(headers['retry-after']) > 0);
    assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, code);
  }

  function rawRequest(text: string): Promise<string> {
    const socket = connect(gateway.port, '127.0.0.1');
    socket.write(text);
    return readAll(socket);
  }
});

function get(url: string, localAddress: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    })
      .on('error', reject)
      .end();
  });
}

function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
