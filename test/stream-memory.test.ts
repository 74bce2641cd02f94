/**
 * What an open stream costs a gateway: after its head is written the stream is its socket alone
 * (services/gateway/src/http/stream-sockets.ts), not a request, a response and a Koa context kept
 * for hours. 1000 viewers on one camera, retained heap read after a full GC (gc-probe) before
 * and after they join.
 *
 * Measured: 2.9-3.3 KB a viewer with the hand-over (the socket, its Viewer and listeners), ~10.5 KB
 * with the request, response and Koa context left attached (checked by making takeOver leave
 * them). Node's own figure for a bare net.Socket is ~1 KB.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, gcProbeEnv, probeMemory, retained, scrapeGateway } from '@camrelay/clients';
import { STREAM_BOUNDARY } from '@camrelay/multipart';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const VIEWERS = 1000;
/** Per viewer, of retained heap and Buffers: the 4 KB over a bare socket server. */
const MAX_BYTES_PER_VIEWER = 4096;
const DELIMITER = Buffer.from(`--${STREAM_BOUNDARY}`);
const STATUS_LINE = Buffer.from('HTTP/1.1 ');

/** A raw viewer: counts the part delimiters and response heads it reads, and can send bytes after its request. */
class RawViewer {
  readonly socket: Socket;
  private readonly delimiters = new MarkerCount(DELIMITER);
  private readonly statusLines = new MarkerCount(STATUS_LINE);

  constructor(port: number, path: string) {
    this.socket = connect(port, '127.0.0.1', () => this.socket.write(`GET ${path} HTTP/1.1\r\nHost: camrelay\r\n\r\n`));
    this.socket.on('data', (chunk: Buffer) => {
      this.delimiters.read(chunk);
      this.statusLines.read(chunk);
    });
    this.socket.on('error', () => undefined);
  }

  get parts(): number {
    return this.delimiters.count;
  }

  get heads(): number {
    return this.statusLines.count;
  }
}

/** Occurrences of a marker in a byte stream, including one that straddles two reads. */
class MarkerCount {
  count = 0;
  private tail = Buffer.alloc(0);

  constructor(private readonly marker: Buffer) {}

  read(chunk: Buffer): void {
    const data = Buffer.concat([this.tail, chunk]);
    for (let at = data.indexOf(this.marker); at !== -1; at = data.indexOf(this.marker, at + this.marker.length)) this.count++;
    this.tail = data.subarray(Math.max(0, data.length - this.marker.length + 1));
  }
}

describe('an open stream on a gateway', () => {
  let relay: Relay;
  let gateway: Service;
  const viewers: RawViewer[] = [];

  before(async () => {
    relay = await startRelay({
      cameras: 'cam=pattern:160x120@10',
      gatewayEnv: { ...OPEN_GATEWAY, MAX_VIEWERS_PER_ADDRESS: '5000', ...gcProbeEnv() },
    });
    gateway = relay.gateway;
  });

  after(async () => {
    for (const viewer of viewers) viewer.socket.destroy();
    await relay?.stop();
  });

  const open = (count: number) => {
    const made = Array.from({ length: count }, () => new RawViewer(gateway.port, '/cameras/cam/stream.mjpg'));
    viewers.push(...made);
    return made;
  };

  it(`costs at most ${MAX_BYTES_PER_VIEWER} bytes of retained memory a viewer, over ${VIEWERS} viewers that all get frames`, async (t) => {
    // Warm-up: the first streams compile code and fill caches that later ones share.
    const warm = open(50);
    await eventually(() => assert.ok(warm.every((viewer) => viewer.parts >= 3)), 10_000);
    const before = await probeMemory(gateway);

    const crowd = open(VIEWERS);
    await eventually(async () => assert.equal((await scrapeGateway(gateway.baseUrl)).viewers, VIEWERS + 50), 30_000);
    const marks = crowd.map((viewer) => viewer.parts);
    await eventually(
      () =>
        assert.ok(
          crowd.every((viewer, i) => viewer.parts >= marks[i]! + 3),
          'every viewer gets new frames',
        ),
      15_000,
    );
    const afterJoin = await probeMemory(gateway);

    const perViewer = (retained(afterJoin) - retained(before)) / VIEWERS;
    t.diagnostic(
      `retained ${(retained(before) / 2 ** 20).toFixed(2)} → ${(retained(afterJoin) / 2 ** 20).toFixed(2)} MiB: ${perViewer.toFixed(0)} B a viewer`,
    );
    assert.ok(perViewer <= MAX_BYTES_PER_VIEWER, `${perViewer.toFixed(0)} B a viewer`);
  });

  it('keeps streaming to a viewer that sends more after its request, and reads nothing it sends as a request', async () => {
    const [viewer] = open(1);
    await eventually(() => assert.ok(viewer!.parts >= 2), 10_000);
    // A pipelined second request: once the stream has its socket, nothing answers it.
    viewer!.socket.write('GET /healthz HTTP/1.1\r\nHost: camrelay\r\n\r\n');
    const mark = viewer!.parts;
    await eventually(() => assert.ok(viewer!.parts >= mark + 5), 10_000);
    assert.equal(viewer!.heads, 1, 'one response head only');
  });

  it('lets a viewer go when it closes its side (FIN)', async () => {
    const before = (await scrapeGateway(gateway.baseUrl)).viewers;
    const [viewer] = open(1);
    await eventually(() => assert.ok(viewer!.parts >= 2), 10_000);
    viewer!.socket.end();
    await eventually(async () => assert.equal((await scrapeGateway(gateway.baseUrl)).viewers, before), 5000);
    // ... and closes the connection: it does not wait for another request on it.
    await eventually(() => assert.ok(viewer!.socket.destroyed), 5000);
  });
});
