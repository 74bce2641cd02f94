/**
 * Feeds, Fanout and Viewer in one process: the in-memory bus, a real HTTP server and real
 * client sockets, so that backpressure is the kernel's and not a stand-in's.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { MemoryBus } from '@camrelay/bus';
import { encodeEnvelope } from '@camrelay/frame';
import { MultipartParser, STREAM_BOUNDARY, streamContentType, streamPreamble } from '@camrelay/multipart';
import { GATEWAY_DEFAULTS } from '../defaults.js';
import { Feeds } from './feeds.js';
import { NO_SIGNAL_JPEGS, STARTING_JPEGS } from './no-signal-images.js';
import { StreamSockets } from '../http/stream-sockets.js';

const CAMERA = 'cam';
const JPEG = Buffer.from([0xff, 0xd8, 0x00, 0xff, 0xd9]);

function envelope(sequence: number, jpegBytes = 1024): Buffer {
  const jpeg = Buffer.alloc(jpegBytes, 0x55);
  jpeg.set([0xff, 0xd8], 0);
  jpeg.set([0xff, 0xd9], jpegBytes - 2);
  return encodeEnvelope({ sequence, capturedAt: Date.now(), width: 16, height: 16, jpeg });
}

/** A client that reads a stream's raw bytes and parses its parts. */
class Client {
  /** Frames' sequence numbers, stand-in pictures left out. */
  readonly sequences: number[] = [];
  /** The stand-in pictures (STARTING, NO SIGNAL) received. */
  readonly standIns: Buffer[] = [];
  readonly socket: Socket;
  private readonly parser = new MultipartParser(STREAM_BOUNDARY);
  private headerDone = false;
  private head = '';

  constructor(port: number, path = '/') {
    this.socket = connect(port, '127.0.0.1');
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    this.socket.on('data', (chunk: Buffer) => {
      let body = chunk;
      if (!this.headerDone) {
        this.head += chunk.toString('latin1');
        const end = this.head.indexOf('\r\n\r\n');
        if (end === -1) return;
        this.headerDone = true;
        body = Buffer.from(this.head.slice(end + 4), 'latin1');
      }
      for (const part of this.parser.push(body)) {
        if (part.headers['x-no-signal'] === '1') this.standIns.push(Buffer.from(part.body));
        else this.sequences.push(Number(part.headers['x-sequence']));
      }
    });
  }

  async waitFor(test: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within 5 s (sequences ${this.sequences.join(', ')})`);
      await sleep(10);
    }
  }
}

/** Polls a condition with no client to watch (state in the bus). */
async function clientlessWait(test: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`no ${what} within 5 s`);
    await sleep(10);
  }
}

describe('Feeds, Fanout and Viewer', () => {
  let bus: MemoryBus;
  let feeds: Feeds;
  let server: Server;
  let port: number;
  const clients: Client[] = [];

  const start = async (
    options: { lingerMs?: number; stuckViewerMs?: number; startingForMs?: number; noSignalAfterMs?: number; claimTtlMs?: number } = {},
  ) => {
    feeds = new Feeds({ ...GATEWAY_DEFAULTS, bus, log: pino({ level: 'silent' }), noSignalAfterMs: 60_000, ...options });
    const streams = new StreamSockets();
    server = createServer((request, response) => {
      response.useChunkedEncodingByDefault = false; // close-delimited, as the gateway sends streams
      response.writeHead(200, { 'content-type': streamContentType() });
      response.write(streamPreamble());
      // GET /asleep: as for a camera the directory lists as asleep.
      void feeds.watch(CAMERA, request.url === '/asleep').then((lease) =>
        setImmediate(() => {
          const socket = streams.takeOver(request, response);
          if (socket) lease.fanout.add(socket, 0, () => lease.release());
          else lease.release();
        }),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  const client = (path?: string) => {
    const made = new Client(port, path);
    clients.push(made);
    return made;
  };
  const viewers = () => feeds.all.get(CAMERA)?.viewerCount ?? 0;

  beforeEach(() => {
    bus = new MemoryBus();
  });

  afterEach(async () => {
    for (const made of clients.splice(0)) made.socket.destroy();
    await feeds.close();
    server.closeAllConnections();
    server.close();
  });

  it('subscribes once for many viewers and sends every viewer the same frames', async () => {
    await start();
    const [a, b] = [client(), client()];
    await a.waitFor(() => viewers() === 2, 'two viewers');
    for (let sequence = 1; sequence <= 3; sequence++) {
      await bus.publishFrame(CAMERA, envelope(sequence));
      await nextTurn(); // frames a turn apart are not coalesced
    }
    await a.waitFor(() => a.sequences.length === 3 && b.sequences.length === 3, 'three frames each');
    assert.deepEqual(a.sequences, [1, 2, 3]);
    assert.deepEqual(b.sequences, [1, 2, 3]);
    await assert.rejects(
      bus.subscribe(CAMERA, () => undefined),
      /already subscribed/,
      'one bus subscription',
    );
  });

  it('keeps sending to every viewer that stays while viewers leave from anywhere in the list', async () => {
    await start();
    const made = Array.from({ length: 6 }, () => client());
    await made[0]!.waitFor(() => viewers() === 6, 'six viewers');
    await bus.publishFrame(CAMERA, envelope(1));
    await made[0]!.waitFor(() => made.every((c) => c.sequences.length === 1), 'a frame each');
    // One at a time: the first (the last viewer takes its place), then that moved viewer, then a middle one.
    for (const [index, left] of [
      [0, 5],
      [5, 4],
      [3, 3],
    ] as const) {
      made[index]!.socket.destroy();
      await made[1]!.waitFor(() => viewers() === left, `${left} viewers left`);
    }
    for (let sequence = 2; sequence <= 4; sequence++) {
      await bus.publishFrame(CAMERA, envelope(sequence));
      await nextTurn();
    }
    const stayed = [made[1]!, made[2]!, made[4]!];
    await made[1]!.waitFor(() => stayed.every((c) => c.sequences.length === 4), 'every frame for those who stayed');
    for (const c of stayed) assert.deepEqual(c.sequences, [1, 2, 3, 4]);
    const another = client();
    await another.waitFor(() => viewers() === 4 && another.sequences.length === 1, 'a new viewer after the departures');
  });

  it('coalesces frames that arrive in the same turn: the newest is sent, the others counted', async () => {
    await start();
    const a = client();
    await a.waitFor(() => viewers() === 1, 'a viewer');
    for (let sequence = 1; sequence <= 5; sequence++) void bus.publishFrame(CAMERA, envelope(sequence));
    await a.waitFor(() => a.sequences.includes(5), 'the newest frame');
    assert.deepEqual(a.sequences, [5]);
    assert.equal(feeds.coalescedFrames, 4);
  });

  it('gives a new viewer the latest frame from the bus at once', async () => {
    await bus.publishFrame(CAMERA, envelope(41)); // before anyone watches
    await start();
    const a = client();
    await a.waitFor(() => a.sequences.length === 1, 'the latest frame');
    assert.deepEqual(a.sequences, [41]);
  });

  it('shows a sleeping camera as STARTING at once, NO SIGNAL if it does not start, then its frames', async () => {
    await bus.publishFrame(CAMERA, envelope(7)); // its last frame before it slept
    await start({ startingForMs: 600, noSignalAfterMs: 300 });
    const connectedAt = performance.now();
    const a = client('/asleep');
    const isOneOf = (pictures: readonly Buffer[]) => (jpeg: Buffer) => pictures.some((picture) => picture.equals(jpeg));
    await a.waitFor(() => a.standIns.length === 1, 'a stand-in picture');
    assert.ok(isOneOf(STARTING_JPEGS)(a.standIns[0]!), 'the STARTING picture, at once');
    await a.waitFor(() => a.standIns.some(isOneOf(NO_SIGNAL_JPEGS)), 'NO SIGNAL once startingForMs is over');
    assert.ok(performance.now() - connectedAt >= 550, 'not before startingForMs');
    assert.ok(a.standIns.slice(0, -1).every(isOneOf(STARTING_JPEGS)), 'STARTING until then');
    assert.deepEqual(a.sequences, [], 'no frame: the one from before it slept does not pass for live');
    await bus.publishFrame(CAMERA, envelope(8));
    await a.waitFor(() => a.sequences.length === 1, 'the first frame');
  });

  it("claims a camera on the bus from its first viewer to its last, and a snapshot's wait wakes it", async () => {
    await start();
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], []);
    const [a, b] = [client(), client()];
    await a.waitFor(() => viewers() === 2, 'two viewers');
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], [CAMERA]);
    a.socket.destroy();
    await b.waitFor(() => viewers() === 1, 'one viewer left');
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], [CAMERA], 'still claimed while one viewer stays');
    b.socket.destroy();
    await b.waitFor(() => viewers() === 0, 'no viewer left');
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], [], 'withdrawn with the last viewer, not after the linger');
    // A snapshot of a camera with no frame claims it until its first frame comes.
    const snapshot = feeds.freshFrame('asleep', 5000, true);
    await b.waitFor(() => feeds.all.has('asleep'), 'the snapshot subscribed');
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], ['asleep']);
    await bus.publishFrame('asleep', encodeEnvelope({ sequence: 3, capturedAt: Date.now(), width: 16, height: 16, jpeg: JPEG }));
    assert.equal((await snapshot)?.sequence, 3);
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], [], 'withdrawn once the snapshot had its frame');
  });

  it('gives a lease back once however often it is released: the other holder keeps the claim', async () => {
    await start();
    const [first, second] = [await feeds.watch(CAMERA), await feeds.watch(CAMERA)];
    assert.equal(first.fanout, second.fanout, 'one fanout for the feed');
    assert.equal(feeds.claimedFeeds, 1);
    first.release();
    first.release();
    assert.equal(feeds.claimedFeeds, 1, 'still claimed for the second holder');
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA])).feeds], [CAMERA]);
    second.release();
    assert.equal(feeds.claimedFeeds, 0, 'withdrawn with the last holder');
  });

  it("claims a camera for a claim's time on a snapshot, once per renewal period however many come", async () => {
    await start({ claimTtlMs: 600 });
    let claims = 0;
    bus.on('watched', () => claims++);
    await bus.publishFrame(CAMERA, envelope(1));
    const claimedAt = performance.now();
    for (let i = 0; i < 5; i++) assert.equal((await feeds.freshFrame(CAMERA, 1000, false))?.sequence, 1, 'the latest frame');
    assert.equal(claims, 1, 'five snapshots, one claim');
    assert.deepEqual([...(await bus.watchedFeeds([CAMERA, 'asleep'])).feeds], [CAMERA], 'claimed with nobody streaming it');
    await clientlessWait(async () => (await bus.watchedFeeds([CAMERA])).feeds.size === 0, 'the claim expired');
    assert.ok(performance.now() - claimedAt >= 550, 'not before its time');
  });

  it('keeps the subscription for lingerMs after the last viewer, then ends it; a viewer meanwhile keeps it', async () => {
    await start({ lingerMs: 200 });
    const a = client();
    await a.waitFor(() => viewers() === 1, 'a viewer');
    const subscription = feeds.all.get(CAMERA);
    a.socket.destroy();
    await a.waitFor(() => viewers() === 0, 'the viewer gone');
    const b = client(); // within the linger: the same subscription
    await b.waitFor(() => viewers() === 1, 'a new viewer');
    assert.equal(feeds.all.get(CAMERA), subscription, 'the same subscription, kept through the linger');
    await sleep(300);
    assert.equal(feeds.all.get(CAMERA), subscription, 'still subscribed while watched');
    b.socket.destroy();
    await b.waitFor(() => viewers() === 0, 'the viewer gone');
    const leftAt = Date.now();
    await b.waitFor(() => !feeds.all.has(CAMERA), 'the subscription ended');
    assert.ok(Date.now() - leftAt >= 150, `ended ${Date.now() - leftAt} ms after the last viewer left, not before lingerMs`);
    await bus.subscribe(CAMERA, () => undefined); // the bus is free for it again
  });

  it('a viewer that does not read skips frames and gets the newest once it drains; the others get every frame', async () => {
    await start();
    const [slow, fast] = [client(), client()];
    await slow.waitFor(() => viewers() === 2, 'two viewers');
    slow.socket.pause();
    // 256 KB frames: a few fill the kernel's buffers of a socket that is not read.
    let sequence = 0;
    while (feeds.all.get(CAMERA)!.counters.skipped === 0) {
      assert.ok(sequence < 200, 'the slow viewer skipped nothing in 50 MB of frames');
      await bus.publishFrame(CAMERA, envelope(++sequence, 256 * 1024));
      await fast.waitFor(() => fast.sequences.includes(sequence), `frame ${sequence} at the reading viewer`);
    }
    for (let i = 0; i < 5; i++) {
      await bus.publishFrame(CAMERA, envelope(++sequence, 256 * 1024));
      await fast.waitFor(() => fast.sequences.includes(sequence), `frame ${sequence} at the reading viewer`);
    }
    assert.deepEqual(
      fast.sequences,
      Array.from({ length: sequence }, (_, i) => i + 1),
      'the reading viewer missed nothing',
    );
    assert.ok(feeds.all.get(CAMERA)!.maxQueuedBytes() <= 2 * 256 * 1024 + 1024, 'at most about one part queued for the slow viewer');
    slow.socket.resume();
    await slow.waitFor(() => slow.sequences.at(-1) === sequence, 'the newest frame after draining');
    assert.ok(slow.sequences.length < sequence, `the slow viewer skipped frames (${slow.sequences.length} of ${sequence})`);
  });

  it('cuts a viewer whose socket has not drained for stuckViewerMs', async () => {
    await start({ stuckViewerMs: 300 });
    const stuck = client();
    await stuck.waitFor(() => viewers() === 1, 'a viewer');
    stuck.socket.pause();
    let sequence = 0;
    const pausedAt = Date.now();
    while (viewers() === 1) {
      await bus.publishFrame(CAMERA, envelope(++sequence, 256 * 1024));
      await sleep(20);
      assert.ok(Date.now() - pausedAt < 5000, 'cut within 5 s');
    }
    assert.ok(Date.now() - pausedAt >= 300, 'not before stuckViewerMs');
  });
});
