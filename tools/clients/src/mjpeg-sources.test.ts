import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MultipartParser, boundaryOf } from '@camrelay/multipart';
import type { Part } from '@camrelay/multipart';
import { SOURCE_KINDS, spawnMjpegSources, startMjpegSources } from './mjpeg-sources.js';
import type { MjpegSources } from './mjpeg-sources.js';

/** Tiny distinct "JPEGs": the server checks FF D8 … FF D9 and nothing else. */
const RING = Array.from({ length: 7 }, (_, i) => Buffer.from([0xff, 0xd8, i, i, 0xff, 0xd9]));

/** Opens `url` on a raw socket and collects what comes back: the head, parts, how it ended. */
function read(url: string) {
  const { port, pathname } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  const got = { bytes: Buffer.alloc(0), head: '', parts: [] as Part[], error: undefined as Error | undefined };
  let parser: MultipartParser | undefined;
  socket.on('data', (chunk: Buffer) => {
    got.bytes = Buffer.concat([got.bytes, chunk]);
    if (!parser) {
      const end = got.bytes.indexOf('\r\n\r\n');
      if (end === -1) return;
      got.head = got.bytes.subarray(0, end).toString('latin1');
      const type = /content-type: (.+)/i.exec(got.head)?.[1] ?? '';
      if (!type.startsWith('multipart/')) return;
      parser = new MultipartParser(boundaryOf(type));
      chunk = got.bytes.subarray(end + 4);
    }
    for (const part of parser.push(Buffer.from(chunk))) got.parts.push({ headers: part.headers, body: Buffer.from(part.body) });
  });
  socket.on('error', (error) => (got.error = error));
  // Not events.once: it rejects on 'error', and a reset is what some of these tests wait for.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, got, closed };
}

async function until(test: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('MJPEG sources', () => {
  let sources: MjpegSources;
  before(async () => (sources = await startMjpegSources({ jpegs: RING, fps: 50, resetAfterFrames: 3, trickleBytesPerSecond: 20 })));
  after(() => sources.close());

  it('streams the ring at its rate as an IP camera does: a part per frame, each with its type and length', async () => {
    const { socket, got } = read(sources.url('healthy', 2));
    await sleep(1000);
    socket.destroy();
    assert.match(got.head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(got.head, /\r\nContent-Type: multipart\/x-mixed-replace; boundary=\w+/);
    // 50 fps for a second: 51 parts paced from the first, give or take a timer's lateness.
    assert.ok(got.parts.length >= 40 && got.parts.length <= 52, `${got.parts.length} parts in 1 s at 50 fps`);
    got.parts.forEach((part, i) => {
      assert.equal(part.headers['content-type'], 'image/jpeg');
      assert.equal(Number(part.headers['content-length']), part.body.length);
      assert.deepEqual(part.body, RING[(2 + i) % RING.length], `part ${i}: camera 2 starts at ring index 2`);
    });
  });

  it('hung: accepts the connection and never answers', async () => {
    const { socket, got } = read(sources.url('hung', 0));
    await sleep(800);
    assert.equal(got.bytes.length, 0);
    assert.equal(sources.connections('hung'), 1);
    socket.destroy();
    await until(() => sources.connections('hung') === 0, 'hung connection closed');
  });

  it('reset: a few frames, then a TCP reset, on every connection', async () => {
    const before = sources.accepted('reset');
    for (let i = 0; i < 2; i++) {
      const { got, closed } = read(sources.url('reset', i));
      await closed;
      assert.equal(got.parts.length, 3);
      assert.match(String(got.error), /ECONNRESET/);
    }
    assert.equal(sources.accepted('reset'), before + 2);
  });

  it('trickle: the head, then a few bytes a second and never a whole part', async () => {
    const { socket, got } = read(sources.url('trickle', 0));
    await until(() => got.head !== '', 'response head');
    const atHead = got.bytes.length;
    await sleep(1000);
    const trickled = got.bytes.length - atHead;
    socket.destroy();
    assert.ok(trickled >= 10 && trickled <= 25, `${trickled} bytes in 1 s at 20 bytes per second`);
    assert.equal(got.parts.length, 0);
  });

  it('answers 404 to any other path', async () => {
    const { got, closed } = read(`http://127.0.0.1:${sources.port}/cameras/0.mjpg`);
    await closed;
    assert.match(got.bytes.toString('latin1'), /^HTTP\/1\.1 404 /);
  });

  it('skips frames for a reader that does not read, instead of queueing them', async () => {
    // 1 MB parts, so the kernel's socket buffers (a few MB on loopback) fill within a second.
    const big = await startMjpegSources({
      jpegs: [Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(1 << 20), Buffer.from([0xff, 0xd9])])],
    });
    try {
      const socket: Socket = connect(big.port, '127.0.0.1');
      socket.write('GET /healthy/0.mjpg HTTP/1.1\r\n\r\n');
      socket.pause();
      await sleep(2000); // 60 frames: queued, the reader would find 60 MB waiting
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.resume();
      await sleep(300); // the backlog, and about 9 new frames
      socket.destroy();
      assert.ok(received < 30 * (1 << 20), `${received} bytes after a 2 s pause`);
    } finally {
      await big.close();
    }
  });

  it('runs in a child process with the same API', async () => {
    const child = await spawnMjpegSources({ jpegs: RING, fps: 50 });
    try {
      const { socket, got } = read(child.url('healthy', 0));
      await until(() => got.parts.length >= 5, 'five parts');
      assert.deepEqual(got.parts[0]!.body, RING[0]);
      await until(() => child.connections('healthy') === 1 && child.accepted('healthy') === 1, 'the count from the child');
      socket.destroy();
      await until(() => child.connections('healthy') === 0, 'the closed connection counted');
      for (const kind of SOURCE_KINDS) assert.equal(child.connections(kind), 0);
    } finally {
      await child.close();
    }
  });

  it('refuses what it cannot stream, saying why', async () => {
    await assert.rejects(startMjpegSources({ jpegs: [] }), /jpegs is empty/);
    await assert.rejects(startMjpegSources({ jpegs: [Buffer.from('not a jpeg')] }), /jpegs\[0\] is not a complete JPEG/);
    await assert.rejects(startMjpegSources({ jpegs: RING, fps: 0 }), /fps must be above 0/);
  });
});
