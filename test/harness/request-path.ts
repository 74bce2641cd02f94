/**
 * The request path under generated traffic: the model, generators and property shared by
 * test/request-path.property.test.ts (a bounded run in `npm test`) and test/fuzz-request-path.ts
 * (`npm run fuzz`, longer runs and replays).
 *
 * A sequence is a few raw TCP connections to a live gateway process, opened at once from
 * 127.0.0.1-4, each writing requests built from valid and invalid pieces (pipelined streams,
 * snapshots, HEAD, API calls, signed URLs fresh, expiring, expired and tampered, garbage,
 * malformed and oversized heads), split into chunks at arbitrary offsets, some trickled, and
 * ended by a FIN, a half-close or a reset at any point. After each one the process must be
 * alive, must have answered no 500, and, once the clients are gone, every gauge of held
 * resources must be back at its baseline.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { metricValue } from '@camrelay/clients';
import { spawnGateway } from '@camrelay/stack';
import type { Service } from '@camrelay/stack';
import { eventually } from './eventually.js';

export const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
export const LAB_TOKEN = 'fuzz-lab-token-0123456789';
const WRONG_TOKEN = 'fuzz-wrong-token-0123456789';

/** Small viewer limits, so that refusals (per address and per gateway) are common. */
const GATEWAY_ENV = {
  open: { REDIS_URL: '', AUTH: 'off', MAX_VIEWERS: '2', MAX_VIEWERS_PER_ADDRESS: '1' },
  auth: {
    REDIS_URL: '',
    MAX_VIEWERS: '3',
    MAX_VIEWERS_PER_ADDRESS: '2',
    AUTH: 'on',
    API_TOKENS: `${ADMIN_TOKEN};${LAB_TOKEN}=lab`,
    URL_SIGNING_KEY: 'fuzz-signing-key-0123456789abcdefghijklmnop',
  },
} as const;

export type GatewayKind = keyof typeof GATEWAY_ENV;

type Auth = 'none' | 'admin' | 'lab' | 'wrong' | 'basic';
/** A signed query as the API hands it out, or one that must be refused. */
type Signed = 'fresh' | 'expiring' | 'expired' | 'tampered' | 'other-camera';

export type Piece =
  | {
      readonly kind: 'request';
      readonly method: string;
      readonly path: string;
      readonly auth: Auth;
      readonly signed?: Signed;
      readonly close: boolean;
    }
  | { readonly kind: 'raw'; readonly text: string }
  | { readonly kind: 'garbage'; readonly bytes: Uint8Array }
  | { readonly kind: 'huge-header'; readonly bytes: number };

type Ending =
  /** Reads for a while, then leaves with a FIN. */
  | { readonly kind: 'hold'; readonly ms: number }
  /** socket.end() once written: the gateway answers what it has and closes, or we leave after ms. */
  | { readonly kind: 'half-close'; readonly ms: number }
  /** A reset after everything was written and ms of reading (mid-stream, mostly). */
  | { readonly kind: 'reset-after'; readonly ms: number }
  /** A reset before the given share of the chunks was written (mid-head, mostly). */
  | { readonly kind: 'reset-mid'; readonly at: number };

export interface ConnectionPlan {
  /** The client's address: 127.0.0.<address>. */
  readonly address: 1 | 2 | 3 | 4;
  readonly startMs: number;
  readonly pieces: readonly Piece[];
  /** Where the bytes are cut into writes, as shares of their length. */
  readonly cuts: readonly number[];
  readonly gapMs: number;
  /** The first writes trickled a few bytes at a time. */
  readonly trickle: { readonly writes: number; readonly bytes: number; readonly gapMs: number } | null;
  readonly ending: Ending;
}

export interface Sequence {
  readonly gateway: GatewayKind;
  readonly connections: readonly ConnectionPlan[];
}

// Camera ids as a path carries them: known, unknown, too long, malformed.
const cameraInPath = fc.constantFrom('lab', 'lab', 'yard', 'nope', 'a'.repeat(65), '%E0%A4%A', 'lab%00', '..%2F..%2Fetc');
const streamQuery = fc.constantFrom('', '', '', '?fps=2', '?fps=0', '?fps=abc', '?size=80x60', '?size=999x999', '?size=80x60&fps=1');
const dropInQuery = fc.constantFrom('', '', 'camera=lab', 'camera=yard', 'camera=nope', 'camera=lab&fps=1');

const streamPath = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(cameraInPath, streamQuery).map(([camera, query]) => `/cameras/${camera}/stream.mjpg${query}`) },
  { weight: 1, arbitrary: dropInQuery.map((query) => `/video_feed${query && `?${query}`}`) },
  { weight: 1, arbitrary: dropInQuery.map((query) => `/?action=stream${query && `&${query}`}`) },
  { weight: 1, arbitrary: dropInQuery.map((query) => `/stream${query && `?${query}`}`) },
);
const snapshotPath = fc.oneof(
  fc
    .tuple(cameraInPath, fc.constantFrom('', '?size=40x30', '?size=1x1'))
    .map(([camera, query]) => `/cameras/${camera}/snapshot.jpg${query}`),
  dropInQuery.map((query) => `/?action=snapshot${query && `&${query}`}`),
  dropInQuery.map((query) => `/snapshot${query && `?${query}`}`),
);
const apiPath = fc.oneof(
  fc.constantFrom('/api/cameras', '/metrics', '/readyz', '/healthz', '/state', '/', '/?action=nope', '/nope', '/../../etc/passwd'),
  fc
    .tuple(cameraInPath, fc.constantFrom('', '?ttl=10', '?ttl=5', '?ttl=ten', '?viewer=ann', '?viewer=%3Cb%3E'))
    .map(([camera, query]) => `/api/cameras/${camera}/urls${query}`),
);

const auth = fc.constantFrom<Auth>('none', 'admin', 'admin', 'lab', 'wrong', 'basic');

const request = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
      path: streamPath,
      auth,
      close: fc.boolean(),
    }),
  },
  {
    weight: 2,
    // A signed stream or snapshot URL of camera lab, as /api/cameras/lab/urls hands it out.
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      method: fc.constantFrom('GET', 'GET', 'HEAD'),
      path: fc.constantFrom(
        '/cameras/lab/stream.mjpg',
        '/cameras/lab/snapshot.jpg',
        '/cameras/yard/stream.mjpg',
        '/?action=stream&camera=lab',
      ),
      auth: fc.constant<Auth>('none'),
      signed: fc.constantFrom<Signed>('fresh', 'fresh', 'expiring', 'expiring', 'expired', 'tampered', 'other-camera'),
      close: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'DELETE'),
      path: fc.oneof(snapshotPath, apiPath),
      auth,
      close: fc.boolean(),
    }),
  },
);

/** Heads and bodies Node's parser must refuse, or that never complete. */
const malformed = fc.constantFrom(
  'GET\r\n\r\n',
  'GET / HTTP/9.9\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n',
  'GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\n',
  'GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
  'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
  'POST /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  'POST /api/cameras HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd',
  'GET /cameras/lab/stream.mjpg HTTP/1.0\r\n\r\n',
  'GET /healthz HTTP/1.0\r\n\r\n',
  '\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  'CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n',
  'GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\n\r\n',
);

const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 12, arbitrary: request },
  { weight: 2, arbitrary: malformed.map((text) => ({ kind: 'raw' as const, text })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 48 }).map((bytes) => ({ kind: 'garbage' as const, bytes })) },
  { weight: 1, arbitrary: fc.constantFrom(17_000, 40_000).map((bytes) => ({ kind: 'huge-header' as const, bytes })) },
);

/** A stream that should be served (within the limits), by token or signed URL; most viewers are. */
const viewerRequest: fc.Arbitrary<Piece> = fc.oneof(
  fc.record({
    kind: fc.constant('request' as const),
    method: fc.constant('GET'),
    path: fc.constantFrom(
      '/cameras/lab/stream.mjpg',
      '/cameras/yard/stream.mjpg',
      '/cameras/lab/stream.mjpg?fps=2',
      '/cameras/lab/stream.mjpg?size=80x60',
      '/video_feed',
      '/?action=stream',
      '/stream?camera=lab',
    ),
    auth: fc.constantFrom<Auth>('admin', 'admin', 'lab'),
    close: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('request' as const),
    method: fc.constant('GET'),
    path: fc.constantFrom('/cameras/lab/stream.mjpg', '/?action=stream&camera=lab'),
    auth: fc.constant<Auth>('none'),
    signed: fc.constantFrom<Signed>('fresh', 'expiring', 'expiring', 'expired'),
    close: fc.boolean(),
  }),
);

const ending: fc.Arbitrary<Ending> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('hold' as const), ms: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('half-close' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reset-after' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reset-mid' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

/** A viewer stays a while, so that others meet the limits it holds, and leaves by FIN, half-close or reset. */
const viewerEnding: fc.Arbitrary<Ending> = fc.oneof(
  fc.record({ kind: fc.constant('hold' as const), ms: fc.integer({ min: 100, max: 500 }) }),
  fc.record({ kind: fc.constant('half-close' as const), ms: fc.integer({ min: 100, max: 500 }) }),
  fc.record({ kind: fc.constant('reset-after' as const), ms: fc.integer({ min: 100, max: 500 }) }),
);

const share = fc.double({ min: 0, max: 1, noNaN: true });

const writing = {
  address: fc.constantFrom<1 | 2 | 3 | 4>(1, 1, 1, 2, 3, 4),
  startMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 })),
  // One write half the time: a whole pipelined sequence in one segment.
  cuts: fc.oneof(fc.constant([]), fc.array(share, { minLength: 1, maxLength: 8 })),
  gapMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 15 })),
  // A slow trickle now and then: most clients send a request in one go.
  trickle: fc.oneof(
    { weight: 5, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.record({
        writes: fc.integer({ min: 2, max: 10 }),
        bytes: fc.integer({ min: 1, max: 4 }),
        gapMs: fc.integer({ min: 5, max: 40 }),
      }),
    },
  ),
};

const connectionPlan: fc.Arbitrary<ConnectionPlan> = fc.oneof(
  // Anything at all, pipelined.
  { weight: 1, arbitrary: fc.record({ ...writing, pieces: fc.array(piece, { minLength: 1, maxLength: 4 }), ending }) },
  // A viewer, and maybe whatever it pipelines behind its stream.
  {
    weight: 2,
    arbitrary: fc.record({
      ...writing,
      pieces: fc.tuple(viewerRequest, fc.array(piece, { maxLength: 2 })).map(([first, rest]) => [first, ...rest]),
      ending: viewerEnding,
    }),
  },
);

export const sequences: fc.Arbitrary<Sequence> = fc.record({
  gateway: fc.constantFrom<GatewayKind>('open', 'auth'),
  connections: fc.array(connectionPlan, { minLength: 1, maxLength: 6 }),
});

/** The two gateway processes a run drives; one that died or was left unclean is replaced. */
export class Gateways {
  private readonly running = new Map<GatewayKind, Service>();
  private readonly signers = new Map<GatewayKind, Signer>();
  /** Gateways found dead or not back at baseline: replaced before their next sequence. */
  private readonly dirty = new Set<GatewayKind>();
  /** Gateways replaced (shrinking replaces one per failing step), for the failure report. */
  replaced = 0;

  static async start(): Promise<Gateways> {
    const gateways = new Gateways();
    const started = await Promise.allSettled((['open', 'auth'] as const).map((kind) => gateways.spawn(kind)));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      await gateways.stop();
      throw failed.reason;
    }
    return gateways;
  }

  private async spawn(kind: GatewayKind): Promise<void> {
    const service = await spawnGateway({
      ...GATEWAY_ENV[kind],
      // Always open: a sleeping camera's snapshot would wait for it to wake, and make a sequence slow.
      CAMERAS: 'lab=pattern:160x120@10,always;yard=pattern:160x120@5,always',
      HEADERS_TIMEOUT: '2',
    });
    this.running.set(kind, service);
    this.signers.set(kind, new Signer(service.port));
  }

  /** The gateway for a sequence, a fresh process if the last one died or leaked. */
  async get(kind: GatewayKind): Promise<{ service: Service; signer: Signer }> {
    if (this.dirty.has(kind)) {
      const old = this.running.get(kind)!;
      await old.stop('SIGKILL');
      this.replaced++;
      this.dirty.delete(kind);
      await this.spawn(kind);
    }
    return { service: this.running.get(kind)!, signer: this.signers.get(kind)! };
  }

  markDirty(kind: GatewayKind): void {
    this.dirty.add(kind);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running.values()].map((service) => service.stop()));
  }
}

/** A signed query (`exp=…&sig=…`) for camera lab, as the API hands it out. */
class Signer {
  private fresh: { query: string; exp: number } | undefined;
  /** Short-lived URLs (the shortest TTL, 10 s), signed a second apart: some expire mid-sequence. */
  private readonly short: { query: string; exp: number }[] = [];

  constructor(private readonly port: number) {}

  /** Signs what a sequence may need (at most two API calls); before its connections open. */
  async prepare(): Promise<Record<Signed, string>> {
    const now = Date.now() / 1000;
    if (!this.fresh || this.fresh.exp - now < 600) this.fresh = await this.sign(3600);
    const newest = this.short.at(-1);
    if (!newest || newest.exp - 10 < now - 1) {
      this.short.push(await this.sign(10));
      if (this.short.length > 12) this.short.shift();
    }
    // The one expiring soonest, but not before the sequence's connections open.
    const expiring = this.short.find((signed) => signed.exp > now + 0.3) ?? this.fresh;
    const expired = this.short.find((signed) => signed.exp < now - 1)?.query ?? `exp=${Math.floor(now) - 5}&sig=${'A'.repeat(43)}`;
    const tampered = this.fresh.query.replace(/sig=(.)/, (_match, first: string) => `sig=${first === 'A' ? 'B' : 'A'}`);
    return { fresh: this.fresh.query, expiring: expiring.query, expired, tampered, 'other-camera': this.fresh.query };
  }

  private async sign(ttl: number): Promise<{ query: string; exp: number }> {
    const { status, body } = await rawRequest(this.port, `/api/cameras/lab/urls?ttl=${ttl}`, ADMIN_TOKEN);
    assert.equal(status, 200, `signing a URL: ${status} ${body}`);
    const { streamUrl } = JSON.parse(body) as { streamUrl: string };
    const query = streamUrl.slice(streamUrl.indexOf('?') + 1);
    return { query, exp: Number(new URLSearchParams(query).get('exp')) };
  }
}

function authHeader(auth: Auth): string {
  switch (auth) {
    case 'none':
      return '';
    case 'admin':
      return `Authorization: Bearer ${ADMIN_TOKEN}\r\n`;
    case 'lab':
      return `Authorization: Bearer ${LAB_TOKEN}\r\n`;
    case 'wrong':
      return `Authorization: Bearer ${WRONG_TOKEN}\r\n`;
    case 'basic':
      return 'Authorization: Basic YWRtaW46YWRtaW4=\r\n';
  }
}

/** A sequence's bytes for one connection. */
export function render(pieces: readonly Piece[], signed: Record<Signed, string> | undefined): Buffer {
  return Buffer.concat(
    pieces.map((piece) => {
      switch (piece.kind) {
        case 'raw':
          return Buffer.from(piece.text, 'latin1');
        case 'garbage':
          return Buffer.from(piece.bytes);
        case 'huge-header':
          return Buffer.from(`GET /cameras/lab/stream.mjpg HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(piece.bytes)}\r\n\r\n`, 'latin1');
        case 'request': {
          let path = piece.path;
          if (piece.signed && signed) path += `${path.includes('?') ? '&' : '?'}${signed[piece.signed]}`;
          const head = `${piece.method} ${path} HTTP/1.1\r\nHost: gateway\r\n${authHeader(piece.auth)}${piece.close ? 'Connection: close\r\n' : ''}`;
          return Buffer.from(`${head}\r\n`, 'latin1');
        }
      }
    }),
  );
}

/** The writes a connection makes: a trickle of a few bytes first, then the bytes cut at the plan's shares. */
export function chunksOf(bytes: Buffer, plan: ConnectionPlan): { chunk: Buffer; gapMs: number }[] {
  const writes: { chunk: Buffer; gapMs: number }[] = [];
  let at = 0;
  for (let i = 0; plan.trickle && i < plan.trickle.writes && at < bytes.length; i++) {
    writes.push({ chunk: bytes.subarray(at, at + plan.trickle.bytes), gapMs: plan.trickle.gapMs });
    at += plan.trickle.bytes;
  }
  const rest = bytes.subarray(Math.min(at, bytes.length));
  const offsets = [...new Set(plan.cuts.map((cut) => Math.floor(cut * rest.length)))]
    .filter((o) => o > 0 && o < rest.length)
    .sort((a, b) => a - b);
  let from = 0;
  for (const offset of [...offsets, rest.length]) {
    if (offset > from) writes.push({ chunk: rest.subarray(from, offset), gapMs: plan.gapMs });
    from = offset;
  }
  return writes;
}

/** Keeps the start of what a connection received: enough to read its status lines. */
const KEEP_BYTES = 64 * 1024;
/** However a connection ends, it is gone from our side by then. */
const CONNECTION_BOUND_MS = 5000;

interface ConnectionOutcome {
  readonly received: string;
  /** The gateway closed the connection before the client did anything to end it. */
  readonly endedByGateway: boolean;
}

async function runConnection(port: number, plan: ConnectionPlan, bytes: Buffer): Promise<ConnectionOutcome> {
  if (plan.startMs > 0) await delay(plan.startMs);
  const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${plan.address}`, noDelay: true });
  const kept: Buffer[] = [];
  let keptBytes = 0;
  socket.on('data', (chunk: Buffer) => {
    if (keptBytes >= KEEP_BYTES) return;
    kept.push(chunk.subarray(0, KEEP_BYTES - keptBytes));
    keptBytes += chunk.length;
  });
  // Resets, refused writes after the gateway closed: all part of the game.
  socket.on('error', () => undefined);
  let leaving = false;
  let endedByGateway = false;
  socket.once('end', () => (endedByGateway = !leaving));
  const closed = once(socket, 'close').then(() => undefined);
  const bound = setTimeout(() => socket.destroy(), CONNECTION_BOUND_MS);
  try {
    await Promise.race([once(socket, 'connect'), closed]);
    const writes = chunksOf(bytes, plan);
    const resetAt = plan.ending.kind === 'reset-mid' ? Math.floor(plan.ending.at * writes.length) : -1;
    for (const [i, { chunk, gapMs }] of writes.entries()) {
      if (socket.destroyed) break;
      if (i === resetAt) break;
      socket.write(chunk);
      if (gapMs > 0) await Promise.race([delay(gapMs), closed]);
    }
    const { ending } = plan;
    if (!socket.destroyed) {
      if (ending.kind === 'reset-mid') leaving = true;
      else if (ending.kind === 'reset-after') await Promise.race([delay(ending.ms), closed]);
      else if (ending.kind === 'half-close') {
        leaving = true;
        socket.end();
        await Promise.race([delay(ending.ms), closed]);
      } else await Promise.race([delay(ending.ms), closed]);
    }
    leaving = true;
    if (!socket.destroyed && ending.kind.startsWith('reset')) socket.resetAndDestroy();
    socket.destroy();
    await closed;
  } finally {
    clearTimeout(bound);
  }
  return { received: Buffer.concat(kept).toString('latin1'), endedByGateway };
}

/** The gauges of resources a client holds: each must come back to its idle value once clients are gone. */
const BASELINE = {
  camrelay_open_streams: 0,
  camrelay_viewer_slots: 0,
  camrelay_viewer_addresses: 0,
  camrelay_camera_claims: 0,
  // The connection reading /metrics is the only one left.
  camrelay_http_connections: 1,
};

/** One request on a fresh connection that closes after it: no keep-alive pool to count. */
export async function rawRequest(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  const socket = connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
  socket.setTimeout(5000, () => socket.destroy(new Error(`${path}: no answer within 5 s`)));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}Connection: close\r\n\r\n`);
  await ended;
  const text = Buffer.concat(chunks).toString('utf8');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, body };
}

function alive(service: Service): boolean {
  return service.process.exitCode === null && service.process.signalCode === null;
}

function diedMessage(service: Service): string {
  return `the gateway process died (exit ${service.process.exitCode}, signal ${service.process.signalCode}); its last lines:\n${service.output.slice(-15).join('\n')}`;
}

/** A stream began: a multipart head and its body's first delimiter (a HEAD answer has the head only). */
function hasStream(received: string): boolean {
  const boundary = /Content-Type: multipart\/x-mixed-replace; ?boundary=([^\r\s;]+)/i.exec(received)?.[1];
  return boundary !== undefined && received.includes(`\r\n\r\n--${boundary}\r\n`);
}

/**
 * What the gateways answered over a run: status codes, error codes and streams begun
 * (`stream`). A run that never met a refusal or a stream tested less than it claims.
 */
export class Coverage {
  readonly seen = new Map<string, number>();

  add({ received, endedByGateway }: ConnectionOutcome): void {
    for (const [, status] of received.matchAll(/HTTP\/1\.1 (\d{3}) /g)) this.count(status!);
    for (const [, code] of received.matchAll(/"code":"([a-z_]+)"/g)) this.count(code!);
    const streamed = hasStream(received);
    if (streamed) this.count('stream');
    // Only a signed URL's expiry (or a stuck viewer, which these clients never are) ends a stream.
    if (streamed && endedByGateway) this.count('stream ended by the gateway');
  }

  private count(key: string): void {
    this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
  }

  summary(): string {
    return [...this.seen]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${key}: ${n}`)
      .join(', ');
  }
}

/** The property: every sequence leaves the gateway alive, answering, and back at its baseline. */
export function requestPathProperty(gateways: Gateways, coverage = new Coverage()): fc.IAsyncPropertyWithHooks<[Sequence]> {
  return fc.asyncProperty(sequences, async (sequence) => {
    const { service, signer } = await gateways.get(sequence.gateway);
    try {
      const signed = sequence.gateway === 'auth' ? await signer.prepare() : undefined;
      const outcomes = await Promise.all(
        sequence.connections.map((plan) => runConnection(service.port, plan, render(plan.pieces, signed))),
      );
      for (const [i, outcome] of outcomes.entries()) {
        const { received, endedByGateway } = outcome;
        coverage.add(outcome);
        if (received.length > 0) assert.match(received, /^HTTP\/1\.1 \d{3} /, `connection ${i}: whatever comes back is an HTTP response`);
        assert.doesNotMatch(received, /HTTP\/1\.1 5(?!03)\d\d /, `connection ${i}: no 5xx but 503 (limits, no frame)`);
        // A stream goes on until its client leaves, whatever valid requests the client pipelined
        // behind it; a signed URL's expiry is the one thing that ends it from the gateway's side.
        // A client that sent malformed bytes may be cut: parsed before the stream's hand-over
        // (the same segment), they get a 400 and the connection ends.
        const { pieces } = sequence.connections[i]!;
        const mayExpire = sequence.gateway === 'auth' && pieces.some((piece) => piece.kind === 'request' && piece.signed === 'expiring');
        const malformed = pieces.some((piece) => piece.kind !== 'request');
        if (hasStream(received) && !mayExpire && !malformed) {
          assert.ok(!endedByGateway, `connection ${i}: its stream was ended by the gateway while the client held it`);
        }
      }
      assert.ok(alive(service), diedMessage(service));
      const health = await rawRequest(service.port, '/healthz');
      assert.equal(health.status, 200, '/healthz answers');
      let last = '';
      await eventually(
        async () => {
          if (!alive(service)) return; // reported below, at once
          const { status, body } = await rawRequest(service.port, '/metrics', ADMIN_TOKEN);
          assert.equal(status, 200);
          const seen = Object.fromEntries(Object.keys(BASELINE).map((name) => [name, metricValue(body, name)]));
          last = JSON.stringify(seen);
          assert.deepEqual(seen, BASELINE);
        },
        5000,
        50,
      ).catch((error: Error) => {
        throw new Error(`gauges not back at baseline 5 s after the clients left: ${last}; ${error.message}`, { cause: error });
      });
      assert.ok(alive(service), diedMessage(service));
    } catch (error) {
      gateways.markDirty(sequence.gateway);
      // A refused or reset check is most often a process that died: say so, with its last words.
      await Promise.race([service.exited, delay(1000)]);
      if (!alive(service)) throw new Error(`${diedMessage(service)}\n(seen as: ${(error as Error).message})`, { cause: error });
      throw error;
    }
  });
}

/** The lines that let a failure be replayed: fast-check's seed and the counterexample's path. */
export function describeFailure(details: fc.RunDetails<[Sequence]>, gateways: Gateways): string {
  const { seed, counterexamplePath, counterexample, numRuns, numShrinks, errorInstance } = details;
  return [
    `request path property failed after ${numRuns} sequence(s), shrunk ${numShrinks} time(s)`,
    `replay: npm run fuzz -- --seed=${seed} --path=${counterexamplePath}`,
    `error: ${errorInstance instanceof Error ? errorInstance.message : String(errorInstance)}`,
    `sequence: ${fc.stringify(counterexample?.[0])}`,
    `gateway processes replaced after a failure: ${gateways.replaced}`,
  ].join('\n');
}
