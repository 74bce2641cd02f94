/**
 * The load balancer's limits per client address, on the local stack's HAProxy (Debian's 2.6).
 * They apply when a connection opens, so one address holding connections that never send a
 * request cannot fill HAProxy's maxconn for everyone; new connections per address are limited
 * too. With LB_ACCEPT_PROXY=true the address counted is the one a PROXY protocol header declares,
 * and the gateways see it too. Clients use several loopback addresses (127.0.0.x) as their
 * source: to HAProxy, each is a client of its own. What HAProxy counts is read from its runtime
 * API (`show table viewers`).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer, startStack } from '@camrelay/clients';
import type { RunningStack } from '@camrelay/clients';
import { freePort } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

/** Connections past the cap that HAProxy keeps long enough to answer 503 (deploy/haproxy/haproxy.cfg.template). */
const ANSWERED_PAST_CAP = 10;
/** HAProxy's `timeout http-request`: how long it holds a connection that sends nothing. */
const HTTP_REQUEST_TIMEOUT_MS = 5000;

/** One command on the stack's HAProxy runtime API (a unix socket; its path is in the stack's summary). */
async function runtime(stack: RunningStack, command: string): Promise<string> {
  const path = /runtime API (\S+)/.exec(stack.output.join('\n'))?.[1];
  assert.ok(path, 'the stack names its runtime API');
  const socket = connect(path);
  await once(socket, 'connect');
  socket.end(`${command}\n`);
  socket.setEncoding('utf8');
  let answer = '';
  for await (const chunk of socket) answer += chunk as string;
  return answer;
}

/** What HAProxy's stick table holds for a client address: connections open now, and opened over the last 10 s. */
async function counted(stack: RunningStack, address: string): Promise<{ open: number; rate: number } | undefined> {
  const line = (await runtime(stack, 'show table viewers')).split('\n').find((l) => l.includes(` key=::ffff:${address} `));
  if (!line) return undefined;
  return { open: Number(/ conn_cur=(\d+)/.exec(line)?.[1]), rate: Number(/ conn_rate\(10000\)=(\d+)/.exec(line)?.[1]) };
}

/** A TCP connection to the load balancer, from `localAddress`, optionally beginning with a PROXY protocol v1 header. */
interface Connection {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with everything received once the load balancer has closed the connection. */
  readonly closed: Promise<string>;
}

function open(port: number, options: { localAddress?: string; declared?: string } = {}): Connection {
  const socket = connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
  if (options.declared) socket.write(proxyHeader(options.declared, port));
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  // A reset is also the load balancer's refusal.
  socket.on('error', () => {});
  return { socket, received: () => data, closed: new Promise((resolve) => socket.on('close', () => resolve(data))) };
}

const proxyHeader = (declared: string, port: number) => `PROXY TCP4 ${declared} 127.0.0.1 5000 ${port}\r\n`;

/** Resolves once what a connection received passes `test`; rejects if it closes first, or after `timeoutMs`. */
async function waitForData(connection: Connection, test: (data: string) => boolean, what: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!test(connection.received())) {
    if (connection.socket.closed)
      throw new Error(`closed before ${what} (received ${JSON.stringify(connection.received().slice(0, 300))})`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, left);
      const done = () => (clearTimeout(timer), connection.socket.off('data', done).off('close', done), resolve(undefined));
      connection.socket.on('data', done).on('close', done);
    });
  }
  return connection.received();
}

/**
 * A request through a PROXY protocol header declaring `declared`, on a connection of its own.
 * 200: the connection stays open (a stream goes on); otherwise the error's code, from the JSON body.
 */
async function proxied(port: number, declared: string, path: string): Promise<{ status: number; code?: string; connection: Connection }> {
  const connection = open(port, { declared });
  connection.socket.write(`GET ${path} HTTP/1.1\r\nHost: camrelay\r\nConnection: close\r\n\r\n`);
  const head = await waitForData(connection, (data) => data.includes('\r\n\r\n'), 'response');
  const status = Number(head.split(' ')[1]);
  if (status === 200) return { status, connection };
  const answer = await connection.closed;
  return { status, code: /"code":"([a-z_]+)"/.exec(answer)?.[1], connection };
}

/** Resolves once a stream has delivered a part with a JPEG (its X-Sequence header). */
const firstPart = (connection: Connection) => waitForData(connection, (data) => /\r\nx-sequence: \d+/i.test(data), 'part of the stream');

describe('limits per client address at the load balancer, applied when a connection opens', () => {
  const CAP = 4;
  /** New connections a second per address, over 10 s. */
  const RATE = 3;
  let stack: RunningStack;
  let port: number;

  before(async () => {
    port = await freePort();
    stack = await startStack(1, {
      PORT: String(port),
      CAMERAS: 'cam=pattern:160x120@5',
      ...OPEN_GATEWAY,
      LB_MAX_CONNECTIONS_PER_ADDRESS: String(CAP),
      LB_MAX_CONNECTION_RATE_PER_ADDRESS: String(RATE),
      // Small enough that one address could fill it with idle connections if they were let in.
      LB_MAXCONN: '24',
    });
  });

  after(async () => {
    await stack?.stop('SIGINT');
  });

  it('an address holding idle connections up to its cap cannot keep another address from opening a stream', async (t) => {
    const holder = '127.0.0.2';
    // More than the frontend's maxconn (24): let in, they would fill it until timeout http-request.
    const idle = Array.from({ length: 30 }, () => open(port, { localAddress: holder }));
    try {
      await Promise.all(idle.map((connection) => once(connection.socket, 'connect')));
      const openedAt = Date.now();
      const viewer = new StreamViewer(`http://127.0.0.1:${port}/cameras/cam/stream.mjpg`, { localAddress: '127.0.0.3' });
      try {
        // Within timeout http-request, for which HAProxy would otherwise hold the idle connections.
        await viewer.waitForFrames(1, HTTP_REQUEST_TIMEOUT_MS - 2000);
      } finally {
        viewer.close();
      }
      t.diagnostic(`another address's first frame ${Date.now() - openedAt} ms after 30 idle connections from ${holder}`);

      // The idle connections past what an address may hold were closed at once, unanswered.
      const kept = CAP + ANSWERED_PAST_CAP;
      await eventually(() => assert.equal(idle.filter((connection) => connection.socket.closed).length, idle.length - kept), 2000, 50);
      assert.ok(
        idle.every((connection) => connection.received() === ''),
        'nothing was sent on the connections closed',
      );
      assert.equal((await counted(stack, holder))?.open, kept, "HAProxy's count of the holder's connections");

      // Those kept past the cap are answered like a gateway's refusal when they ask, and closed.
      const asking = idle.find((connection) => !connection.socket.closed)!;
      asking.socket.write('GET /cameras/cam/snapshot.jpg HTTP/1.1\r\nHost: camrelay\r\n\r\n');
      const answer = await asking.closed;
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.match(answer, /\r\nretry-after: 5\r\n/i);
      assert.match(answer, /"code":"too_many_connections"/);
    } finally {
      for (const connection of idle) connection.socket.destroy();
    }
  });

  it('an address opening connections faster than LB_MAX_CONNECTION_RATE_PER_ADDRESS a second (over 10 s) is refused; another is not', async (t) => {
    const fast = '127.0.0.4';
    let answered = 0;
    // One connection after another, each closed after its answer: never more than one open.
    for (;;) {
      const connection = open(port, { localAddress: fast });
      connection.socket.write('GET /lbz HTTP/1.1\r\nHost: camrelay\r\nConnection: close\r\n\r\n');
      const received = await connection.closed;
      if (!received.startsWith('HTTP/1.1 200 ')) break;
      answered++;
      assert.ok(answered < 100, 'no refusal after 100 connections');
    }
    t.diagnostic(`${answered} connections answered, the next refused`);
    // HAProxy's rate is a sliding estimate over 10 s: the refusal comes at 10 × (RATE + 1)
    // connections, or a little later if the burst spans the turn of its period.
    assert.ok(answered >= 10 * (RATE + 1) - 1 && answered < 10 * (RATE + 1) + 10, `refused after ${answered} connections`);
    assert.ok((await counted(stack, fast))!.rate > 10 * RATE);

    const other = open(port, { localAddress: '127.0.0.5' });
    other.socket.write('GET /lbz HTTP/1.1\r\nHost: camrelay\r\nConnection: close\r\n\r\n');
    assert.match(await other.closed, /^HTTP\/1\.1 200 /);
  });
});

describe('behind a front that sends the PROXY protocol (LB_ACCEPT_PROXY=true)', () => {
  let stack: RunningStack;
  let port: number;

  before(async () => {
    port = await freePort();
    stack = await startStack(1, {
      PORT: String(port),
      CAMERAS: 'cam=pattern:160x120@5',
      ...OPEN_GATEWAY,
      LB_ACCEPT_PROXY: 'true',
      LB_MAX_CONNECTIONS_PER_ADDRESS: '2',
      // The gateway's own limit, on the address it takes from X-Forwarded-For.
      MAX_VIEWERS_PER_ADDRESS: '1',
    });
  });

  after(async () => {
    await stack?.stop('SIGINT');
  });

  it('counts each address a header declares: one at its cap, another still admitted', async () => {
    // Every connection comes from 127.0.0.1; the front declares whose it is.
    const held = [0, 1].map(() => open(port, { declared: '10.0.0.1' }));
    const opened: Connection[] = [];
    try {
      await eventually(async () => assert.equal((await counted(stack, '10.0.0.1'))?.open, 2));
      const third = await proxied(port, '10.0.0.1', '/cameras/cam/snapshot.jpg');
      assert.deepEqual([third.status, third.code], [503, 'too_many_connections']);

      const other = await proxied(port, '10.0.0.2', '/cameras/cam/stream.mjpg');
      opened.push(other.connection);
      assert.equal(other.status, 200);
      await firstPart(other.connection);
      assert.equal(await counted(stack, '127.0.0.1'), undefined, 'the front itself is not counted');
    } finally {
      for (const connection of [...held, ...opened]) connection.socket.destroy();
    }
  });

  it('the gateways see the declared address: their own limit per address applies to it', async () => {
    const opened: Connection[] = [];
    try {
      const first = await proxied(port, '10.0.0.3', '/cameras/cam/stream.mjpg');
      opened.push(first.connection);
      assert.equal(first.status, 200);
      await firstPart(first.connection);
      // Within the load balancer's cap (2), past the gateway's (1 stream per address).
      const second = await proxied(port, '10.0.0.3', '/cameras/cam/stream.mjpg');
      assert.deepEqual([second.status, second.code], [503, 'too_many_viewers_from_address']);
      const elsewhere = await proxied(port, '10.0.0.4', '/cameras/cam/stream.mjpg');
      opened.push(elsewhere.connection);
      assert.equal(elsewhere.status, 200);
      await firstPart(elsewhere.connection);
    } finally {
      for (const connection of opened) connection.socket.destroy();
    }
  });

  it('a connection without a PROXY header is closed unanswered', async () => {
    const plain = open(port);
    plain.socket.write('GET /lbz HTTP/1.1\r\nHost: camrelay\r\n\r\n');
    assert.equal(await plain.closed, '');
  });
});
