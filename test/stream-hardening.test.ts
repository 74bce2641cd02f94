/**
 * What no request sequence may do to a gateway (issue 23): pipelined requests behind a stream
 * never reach a route (two pipelined streams used to end the process with an internal
 * assertion), and a stream whose signed URL expires gives back everything it held at once,
 * whether or not its client ever reads or closes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { metricValue } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const execFileAsync = promisify(execFile);

const TOKEN = 'hardening-token-0123456789';
const SIGNING_KEY = 'a-signing-key-for-the-hardening-test-0123';

describe('stream hardening', () => {
  let gateway: Service;
  let baseline: Gauges;

  before(async () => {
    gateway = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: 'lab=pattern:160x120@15',
      AUTH: 'on',
      API_TOKENS: TOKEN,
      URL_SIGNING_KEY: SIGNING_KEY,
      CAPTURE_IDLE_AFTER: '1',
    });
    baseline = await gauges(gateway);
  });

  after(async () => {
    await gateway?.stop();
  });

  const signedPath = async (ttlSeconds?: number) => {
    const query = ttlSeconds === undefined ? '' : `?ttl=${ttlSeconds}`;
    const response = await fetch(`${gateway.baseUrl}/api/cameras/lab/urls${query}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    return (await response.json()) as { streamUrl: string; snapshotUrl: string; expiresAt: string };
  };

  it('serves the first of two streams pipelined in one write, runs nothing behind it, and stays up', async () => {
    const { streamUrl } = await signedPath();
    const request = `GET ${streamUrl} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const client = await rawClient(gateway.port);
    try {
      client.socket.write(request + request);
      await client.waitFor((text) => countParts(text) >= 3, 'three parts of the first stream');
      // One stream, one slot: the second request never reached the route.
      const during = await gauges(gateway);
      assert.equal(during.openStreams, baseline.openStreams + 1);
      assert.equal(during.viewerSlots, baseline.viewerSlots + 1);
      assert.equal(countOccurrences(client.text(), 'HTTP/1.1 '), 1, 'exactly one response head on the connection');
    } finally {
      client.socket.destroy();
    }
    await assertBackToBaseline(gateway, baseline);
  });

  it('does the same for the classic and drop-in stream URLs, and for a pipelined snapshot behind a stream', async () => {
    const { streamUrl, snapshotUrl } = await signedPath();
    const query = streamUrl.slice(streamUrl.indexOf('?') + 1);
    const head = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;
    const clients = await Promise.all(
      [
        head(`/video_feed`) + head(`/stream`) + head(snapshotUrl),
        head(`/?action=stream&camera=lab&${query}`) + head(`/api/cameras`) + `GET ${streamUrl} HTTP/1.1\r\n`,
        head(streamUrl) + head('/video_feed') + head('/video_feed') + head('/video_feed'),
      ].map(async (sequence) => {
        const client = await rawClient(gateway.port);
        client.socket.write(sequence);
        return client;
      }),
    );
    try {
      await Promise.all(clients.map((client) => client.waitFor((text) => countParts(text) >= 2, 'two parts of each first stream')));
      for (const client of clients) assert.equal(countOccurrences(client.text(), 'HTTP/1.1 '), 1, client.text().slice(0, 200));
      assert.equal((await gauges(gateway)).viewerSlots, baseline.viewerSlots + clients.length);
    } finally {
      for (const client of clients) client.socket.destroy();
    }
    await assertBackToBaseline(gateway, baseline);
  });

  it('never writes an error into a stream whose client follows it with bytes that are no request', async () => {
    const { streamUrl } = await signedPath();
    const client = await rawClient(gateway.port);
    // The body takes the start of the next request; what is left of it does not parse.
    client.socket.write(`GET ${streamUrl} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcGET /video_feed HTTP/1.1\r\nHost: x\r\n\r\n`);
    const closed = once(client.socket, 'close');
    await client.waitFor((text) => text.includes('--camrelayframe'), 'the stream head').catch(() => undefined);
    await closed;
    assert.match(client.text(), /^HTTP\/1\.1 200 /);
    assert.equal(countOccurrences(client.text(), 'HTTP/1.1 '), 1, `one response: ${JSON.stringify(client.text().slice(0, 400))}`);
    await assertBackToBaseline(gateway, baseline);
  });

  it('answers requests pipelined ahead of a stream in order, then streams', async () => {
    const { streamUrl, snapshotUrl } = await signedPath();
    const client = await rawClient(gateway.port);
    try {
      client.socket.write(
        `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n` +
          `GET ${snapshotUrl} HTTP/1.1\r\nHost: x\r\n\r\n` +
          `HEAD ${streamUrl} HTTP/1.1\r\nHost: x\r\n\r\n` +
          `GET ${streamUrl} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      await client.waitFor((text) => countParts(text) >= 2, 'the stream after the three answers');
      const statuses = [...client.text().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1]);
      assert.deepEqual(statuses, ['200', '200', '200', '200']);
      assert.match(
        client.text(),
        /^HTTP\/1\.1 200 [^]*"status":"ok"[^]*HTTP\/1\.1 200 [^]*image\/jpeg[^]*multipart\/x-mixed-replace[^]*multipart\/x-mixed-replace/,
      );
    } finally {
      client.socket.destroy();
    }
    await assertBackToBaseline(gateway, baseline);
  });

  it('probes a stream socket with TCP keepalive, so a vanished viewer is found while its stream is quiet', async () => {
    const { streamUrl } = await signedPath();
    const client = await rawClient(gateway.port);
    try {
      client.socket.write(`GET ${streamUrl}&fps=0.1 HTTP/1.1\r\nHost: x\r\n\r\n`);
      await client.waitFor((text) => countParts(text) >= 1, 'the first part');
      // The kernel's view of the gateway's end of this connection (its local port is ours).
      const gatewayEnd = await eventually(async () => {
        const line = (await ssLines(client.socket.localPort!)).find((entry) => entry.includes(`:${gateway.port} `));
        assert.ok(line, 'the connection in ss');
        assert.match(line, /timer:\(keepalive,/);
        return line;
      });
      assert.match(gatewayEnd, /timer:\(keepalive,(\d+(\.\d+)?s|\d+min)/);
    } finally {
      client.socket.destroy();
    }
    await assertBackToBaseline(gateway, baseline);
  });

  it('gives back a stream whose signed URL expired at once, and cuts its socket, though its clients never read or close', async () => {
    const { streamUrl, expiresAt } = await signedPath(10);
    const readers = 8;
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < readers; i++) {
        const socket = connect(gateway.port, '127.0.0.1');
        await once(socket, 'connect');
        // It asks and never reads a byte: its buffers fill, and an ended stream cannot flush.
        socket.pause();
        socket.write(`GET ${streamUrl} HTTP/1.1\r\nHost: x\r\n\r\n`);
        clients.push(socket);
      }
      await eventually(async () => assert.equal((await gauges(gateway)).viewerSlots, baseline.viewerSlots + readers));
      const closedByGateway = clients.map((socket) => once(socket, 'close'));
      await eventually(
        async () => {
          const now = await gauges(gateway);
          assert.equal(now.viewerSlots, baseline.viewerSlots, 'slots back once the URL expired');
          assert.equal(now.openStreams, baseline.openStreams);
        },
        Date.parse(expiresAt) - Date.now() + 3000,
        100,
      );
      // The gateway cuts the sockets after its grace, though these clients hold them open.
      await eventually(async () => assert.equal((await gauges(gateway)).connections, baseline.connections), 5000, 100);
      // Nothing watches the camera any more: it goes to sleep (linger, then CAPTURE_IDLE_AFTER).
      await eventually(async () => assert.equal(await sleeping(gateway), true), 20_000, 200);
      for (const socket of clients) socket.resume();
      await Promise.all(closedByGateway);
    } finally {
      for (const socket of clients) socket.destroy();
    }
  });
});

/** `ss` lines of the established TCP connections whose peer port is `port` (the gateway's side of a client's connection). */
async function ssLines(port: number): Promise<string[]> {
  const { stdout } = await execFileAsync('ss', ['-tnoH', 'state', 'established', `( dport = :${port} )`]);
  return stdout.split('\n').filter(Boolean);
}

interface Gauges {
  openStreams: number;
  viewerSlots: number;
  connections: number;
}

async function gauges(gateway: Service): Promise<Gauges> {
  // Its own connection closes with its answer: not counted in the next reading.
  const response = await fetch(`${gateway.baseUrl}/metrics`, {
    headers: { Authorization: `Bearer ${TOKEN}`, Connection: 'close' },
  });
  assert.equal(response.status, 200);
  const text = await response.text();
  return {
    openStreams: metricValue(text, 'camrelay_open_streams'),
    viewerSlots: metricValue(text, 'camrelay_viewer_slots'),
    // This scrape's own connection is open while it is answered.
    connections: metricValue(text, 'camrelay_http_connections') - 1,
  };
}

async function assertBackToBaseline(gateway: Service, baseline: Gauges): Promise<void> {
  assert.equal((await fetch(`${gateway.baseUrl}/healthz`)).status, 200, 'the gateway is alive');
  await eventually(async () => assert.deepEqual(await gauges(gateway), baseline), 5000, 100);
}

async function sleeping(gateway: Service): Promise<boolean> {
  const response = await fetch(`${gateway.baseUrl}/api/cameras`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const [camera] = (await response.json()) as { sleeping: boolean }[];
  return camera!.sleeping;
}

interface RawClient {
  readonly socket: Socket;
  text(): string;
  waitFor(done: (text: string) => boolean, what: string): Promise<void>;
}

/** A TCP client that keeps what it receives as latin1 text, for counting heads and parts. */
async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  const waiters = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    for (const waiter of waiters) waiter();
  });
  socket.on('error', () => undefined);
  return {
    socket,
    text: () => received,
    waitFor: (done, what) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (done(received)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${what} within 10 s; received ${JSON.stringify(received.slice(0, 300))}`));
        }, 10_000);
        waiters.add(check);
        socket.once('close', () => {
          if (waiters.delete(check)) {
            clearTimeout(timer);
            reject(new Error(`connection closed before ${what}; received ${JSON.stringify(received.slice(0, 300))}`));
          }
        });
        check();
      }),
  };
}

/** Complete parts: each ends with the delimiter that opens the next. */
function countParts(text: string): number {
  return countOccurrences(text, '\r\n--camrelayframe\r\n');
}

function countOccurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}
