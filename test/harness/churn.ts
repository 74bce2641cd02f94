/**
 * Viewer churn against one gateway, for the churn test and `npm run bench:churn`: a population
 * of clients that keep arriving, watching for a moment and leaving, the way browsers do
 * (reloads, closed tabs, dropped phones, health checks, link previews), while the gateway's
 * /metrics is sampled. What must not grow under churn: sockets, listeners, subscriptions, memory.
 *
 * Each visit is one of (weights in DEFAULT_MIX):
 *   stream       GET a stream, read 1..maxFrames frames, leave: socket destroyed (reset) or
 *                ended (FIN, then the gateway must close); HTTP/1.0 or 1.1
 *   stream-fps   the same with ?fps=5, 1..3 frames; checks the cap (capture gaps ≥ 180 ms)
 *   video-feed   the same on /video_feed
 *   mid-part     reads in 4 KB reads, destroys the socket in the middle of a part's body
 *   stall        reads a few frames, stops reading for 0.5-2.5 s, then destroys the socket
 *   abort-early  sends a stream request and destroys the socket 0-20 ms later, often before
 *                the response (while the gateway checks the camera or subscribes)
 *   mid-headers  sends part of a request's headers, then destroys or half-closes the socket
 *   head         HEAD on a stream (keep-alive), then destroy or half-close
 *   not-found    a stream of an unknown camera: 404 JSON
 *   snapshot     GET snapshot.jpg through a keep-alive agent (some on a fresh connection)
 *   api          GET /api/cameras the same way
 * Streams are read with raw sockets and a parser that checks every part: Content-Type,
 * Content-Length, FF D8 … FF D9, the delimiter after it, X-Sequence rising, and no NO SIGNAL
 * picture (the cameras never stop).
 * A burst camera, if given, is watched only by a few viewers every burstEveryMs, so its
 * subscription goes through linger and unsubscribe again and again.
 */
import { Agent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Running } from './processes.js';

export type VisitKind = 'stream' | 'stream-fps' | 'video-feed' | 'mid-part' | 'stall' | 'abort-early' | 'mid-headers' | 'head' | 'not-found' | 'snapshot' | 'api';

export const DEFAULT_MIX: Readonly<Record<VisitKind, number>> = {
  stream: 38,
  'stream-fps': 7,
  'video-feed': 3,
  'mid-part': 12,
  stall: 4,
  'abort-early': 7,
  'mid-headers': 6,
  head: 5,
  'not-found': 5,
  snapshot: 8,
  api: 5,
};

export interface ChurnOptions {
  readonly baseUrl: string;
  /** Cameras the population watches, all the time. */
  readonly cameras: readonly string[];
  /** The first camera of CAMERAS, served at /video_feed. @default cameras[0] */
  readonly firstCamera?: string;
  /** Watched only in bursts, so its subscription comes and goes. */
  readonly burstCamera?: string;
  /** @default 10_000 (more than the gateway's 5 s linger) */
  readonly burstEveryMs?: number;
  /** @default 3 */
  readonly burstViewers?: number;
  /** Visits in progress at any time. */
  readonly concurrency: number;
  readonly durationMs: number;
  /** A stream visit reads 1..maxFrames frames. @default 20 */
  readonly maxFrames?: number;
  readonly mix?: Partial<Record<VisitKind, number>>;
  /** /metrics sampling interval. @default 1000 */
  readonly sampleEveryMs?: number;
  /** Post-GC memory probes (probeMemory on the gateway), taken every probeEveryMs during churn. */
  readonly probe?: () => Promise<MemoryProbe>;
  /** @default 10_000 */
  readonly probeEveryMs?: number;
  /** A visit still going after this long is a failure (the gateway stopped answering). @default 20_000 */
  readonly visitTimeoutMs?: number;
  readonly seed?: number;
  /** Called with each sample as it is taken (progress output). */
  readonly onSample?: (sample: GatewaySample) => void;
}

/** The gateway's leak-relevant metrics at one moment. */
export interface GatewayMetrics {
  viewers: number;
  /** Places taken under the viewer limits: must come back to 0 as surely as viewers. */
  viewerSlots: number;
  subscriptions: number;
  httpConnections: number;
  eventListeners: number;
  activeHandles: number;
  openFds: number;
  heapUsed: number;
  rss: number;
  framesDelivered: number;
}

/** Taken during churn: t is ms since it started; active and connections are the clients'. */
export interface GatewaySample extends GatewayMetrics {
  t: number;
  /** Visits in progress. */
  active: number;
  /** Connections opened so far. */
  connections: number;
}

/** What a gateway retains after a full GC (gc-probe.ts). */
export interface MemoryProbe {
  /** During churn: ms since it started, and connections opened so far (else 0). */
  t: number;
  connections: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

export interface ChurnResult {
  readonly seed: number;
  readonly durationMs: number;
  /** TCP connections the clients opened (raw sockets, and new sockets of the HTTP agent). */
  readonly connections: number;
  readonly requests: number;
  readonly visits: Record<VisitKind, { started: number; finished: number }>;
  /** Stream visits (stream, stream-fps, video-feed, burst) that read every frame they meant to. */
  readonly completedStreams: number;
  readonly burstStreams: number;
  readonly frames: number;
  readonly frameBytes: number;
  /** mid-part visits that did cut a part's body. */
  readonly midPartCuts: number;
  /** Snapshots and API calls answered 200 with a valid body. */
  readonly okRequests: number;
  /** Anything the gateway got wrong: failed requests, bad parts, early closes, timeouts. */
  readonly failures: number;
  readonly failureExamples: readonly string[];
  readonly samples: readonly GatewaySample[];
  readonly probes: readonly MemoryProbe[];
}

// ---------------------------------------------------------------------------------------------
// Gateway-side helpers

/** Environment for spawnGateway that preloads gc-probe.js, for probeMemory. */
export function gcProbeEnv(): NodeJS.ProcessEnv {
  const preload = pathToFileURL(fileURLToPath(new URL('./gc-probe.js', import.meta.url))).href;
  return { NODE_OPTIONS: [process.env.NODE_OPTIONS, '--expose-gc', `--import=${preload}`].filter(Boolean).join(' ') };
}

const probeCounts = new WeakMap<Running, number>();

/** Runs a full GC in a gateway started with gcProbeEnv() and reads what it retains. */
export async function probeMemory(gateway: Running): Promise<MemoryProbe> {
  const n = (probeCounts.get(gateway) ?? 0) + 1;
  probeCounts.set(gateway, n);
  const line = gateway.waitFor(new RegExp(`^gc-probe ${n} `), 15_000);
  gateway.process.kill('SIGUSR2');
  const json = JSON.parse((await line).slice(`gc-probe ${n} `.length)) as Omit<MemoryProbe, 't'> & { error?: string };
  if (json.error) throw new Error(`gc-probe: ${json.error}`);
  return { t: 0, connections: 0, heapUsed: json.heapUsed, external: json.external, arrayBuffers: json.arrayBuffers, rss: json.rss };
}

/** One scrape of /metrics on a fresh connection (so the scrape is always exactly one connection). */
export async function scrapeGateway(baseUrl: string): Promise<GatewayMetrics> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(`${baseUrl}/metrics`, { agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`/metrics: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('/metrics: timed out')));
    req.on('error', reject);
    req.end();
  });
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#') || line.includes('{')) continue;
    const space = line.indexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  const read = (name: string) => {
    const value = values.get(name);
    if (value === undefined) throw new Error(`metric ${name} not found`);
    return value;
  };
  return {
    viewers: read('camrelay_open_streams'),
    viewerSlots: read('camrelay_viewer_slots'),
    subscriptions: read('camrelay_subscriptions'),
    httpConnections: read('camrelay_http_connections'),
    eventListeners: read('camrelay_event_listeners'),
    activeHandles: read('nodejs_active_handles_total'),
    openFds: read('process_open_fds'),
    heapUsed: read('nodejs_heap_size_used_bytes'),
    rss: read('process_resident_memory_bytes'),
    framesDelivered: read('camrelay_frames_delivered_total'),
  };
}

/** Least-squares slope of value over t (ms), per minute. */
export function slopePerMinute(points: ReadonlyArray<{ t: number; value: number }>): number {
  if (points.length < 2) return Number.NaN;
  const n = points.length;
  const meanT = points.reduce((sum, p) => sum + p.t, 0) / n;
  const meanV = points.reduce((sum, p) => sum + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - meanT) * (p.value - meanV);
    den += (p.t - meanT) ** 2;
  }
  return den === 0 ? Number.NaN : (num / den) * 60_000;
}

/** Retained memory after a full GC: JS heap plus memory outside it (Buffers). */
export function retained(probe: MemoryProbe): number {
  return probe.heapUsed + probe.external;
}

// ---------------------------------------------------------------------------------------------
// The driver

/** mulberry32: a seeded generator, so a failing run can be replayed with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Data is parsed inside the read callback and never kept (pending header bytes are copied),
// so every socket reads into one of two shared buffers.
const LARGE_READS = Buffer.allocUnsafe(64 * 1024);
const SMALL_READS = Buffer.allocUnsafe(4 * 1024); // mid-part visits: a part spans several reads
const HEAD_END = Buffer.from('\r\n\r\n');

class ProtocolError extends Error {}

interface PartHeaders {
  readonly contentType: string | undefined;
  readonly contentLength: number;
  readonly sequence: number;
  readonly timestamp: number;
}

/**
 * Reads an HTTP response head, then (for a 200 multipart response) the parts, checking each.
 * Throws ProtocolError on anything a browser would choke on.
 */
class ResponseReader {
  status = 0;
  headers = new Map<string, string>();
  /** Body bytes of a non-multipart response (small: error JSON). */
  body: Buffer[] = [];
  bodyBytes = 0;
  frames = 0;
  frameBytes = 0;
  lastSequence = -1;
  lastTimestamp = Number.NaN;
  private phase: 'head' | 'delimiter' | 'part-head' | 'body' | 'tail' | 'other' = 'head';
  private pending: Buffer | null = null;
  private expected = Buffer.alloc(0);
  private expectedAt = 0;
  private tail = Buffer.alloc(0);
  private remaining = 0;
  private bodyLength = 0;
  private firstBytes = 0;
  private lastBytes = 0;

  constructor(
    private readonly isHead: boolean,
    private readonly onFrame: (part: PartHeaders) => void,
  ) {}

  get headDone(): boolean {
    return this.phase !== 'head';
  }

  /** True in the middle of a part's body: some of it read, not all. */
  get inBody(): boolean {
    return this.phase === 'body' && this.remaining > 0 && this.remaining < this.bodyLength;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.phase) {
        case 'head':
        case 'part-head':
          pos += this.readHead(chunk.subarray(pos));
          break;
        case 'delimiter':
        case 'tail': {
          const take = Math.min(this.expected.length - this.expectedAt, chunk.length - pos);
          if (!chunk.subarray(pos, pos + take).equals(this.expected.subarray(this.expectedAt, this.expectedAt + take))) {
            throw new ProtocolError(`expected ${JSON.stringify(this.expected.toString('latin1'))} after ${this.frames} frames, got ${JSON.stringify(chunk.toString('latin1', pos, pos + take))}`);
          }
          this.expectedAt += take;
          pos += take;
          if (this.expectedAt === this.expected.length) this.phase = 'part-head';
          break;
        }
        case 'body': {
          const take = Math.min(this.remaining, chunk.length - pos);
          const at = this.bodyLength - this.remaining;
          for (let i = 0; i < take && at + i < 2; i++) this.firstBytes = (this.firstBytes << 8) | chunk[pos + i]!;
          for (let i = Math.max(0, take - 2); i < take; i++) this.lastBytes = ((this.lastBytes << 8) | chunk[pos + i]!) & 0xffff;
          this.remaining -= take;
          pos += take;
          if (this.remaining === 0) {
            if (this.firstBytes !== 0xffd8 || this.lastBytes !== 0xffd9) throw new ProtocolError(`part ${this.frames + 1} is not a complete JPEG (starts ${this.firstBytes.toString(16)}, ends ${this.lastBytes.toString(16)})`);
            this.frames++;
            this.frameBytes += this.bodyLength;
            this.expected = this.tail;
            this.expectedAt = 0;
            this.phase = 'tail';
          }
          break;
        }
        case 'other':
          this.bodyBytes += chunk.length - pos;
          if (this.bodyBytes > 64 * 1024) throw new ProtocolError('response body too long');
          this.body.push(Buffer.from(chunk.subarray(pos)));
          pos = chunk.length;
          break;
      }
    }
  }

  /** Finds a header block's end across reads; returns the bytes of `rest` used. */
  private readHead(rest: Buffer): number {
    const haystack = this.pending ? Buffer.concat([this.pending, rest]) : rest;
    const end = haystack.indexOf(HEAD_END);
    if (end === -1) {
      if (haystack.length > 16 * 1024) throw new ProtocolError('header block too long');
      this.pending = Buffer.from(haystack);
      return rest.length;
    }
    const used = end + HEAD_END.length - (this.pending?.length ?? 0);
    this.pending = null;
    const block = haystack.toString('latin1', 0, end);
    if (this.phase === 'head') this.onResponseHead(block);
    else this.onPartHead(block);
    return used;
  }

  private onResponseHead(block: string): void {
    const [statusLine = '', ...lines] = block.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine);
    if (!match) throw new ProtocolError(`bad status line ${JSON.stringify(statusLine)}`);
    this.status = Number(match[1]);
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) this.headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const boundary = /^multipart\/x-mixed-replace;\s*boundary=(\S+)$/.exec(this.headers.get('content-type') ?? '')?.[1];
    if (this.status === 200 && boundary && !this.isHead) {
      if (this.headers.has('transfer-encoding')) throw new ProtocolError(`stream sent with Transfer-Encoding: ${this.headers.get('transfer-encoding')}`);
      this.expected = Buffer.from(`--${boundary}\r\n`, 'latin1');
      this.expectedAt = 0;
      this.tail = Buffer.from(`\r\n--${boundary}\r\n`, 'latin1');
      this.phase = 'delimiter';
    } else {
      this.phase = 'other';
    }
  }

  private onPartHead(block: string): void {
    const fields = new Map<string, string>();
    for (const line of block.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ProtocolError(`bad part header line ${JSON.stringify(line)}`);
      fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const part: PartHeaders = {
      contentType: fields.get('content-type'),
      contentLength: Number(fields.get('content-length')),
      sequence: Number(fields.get('x-sequence')),
      timestamp: Number(fields.get('x-timestamp')),
    };
    // The cameras stream all along: a stand-in picture means this camera's frames stopped
    // reaching the gateway (a subscription lost while it churned, say) for 3 s.
    if (fields.has('x-no-signal')) throw new ProtocolError(`NO SIGNAL picture after ${this.frames} frames: no frames from the camera for seconds`);
    if (part.contentType !== 'image/jpeg') throw new ProtocolError(`part Content-Type ${part.contentType}`);
    if (!Number.isSafeInteger(part.contentLength) || part.contentLength < 4) throw new ProtocolError(`part Content-Length ${fields.get('content-length')}`);
    if (!Number.isSafeInteger(part.sequence) || part.sequence <= this.lastSequence) throw new ProtocolError(`X-Sequence ${fields.get('x-sequence')} after ${this.lastSequence}`);
    if (!Number.isFinite(part.timestamp)) throw new ProtocolError(`X-Timestamp ${fields.get('x-timestamp')}`);
    this.onFrame(part);
    this.lastSequence = part.sequence;
    this.lastTimestamp = part.timestamp;
    this.bodyLength = this.remaining = part.contentLength;
    this.firstBytes = 0;
    this.lastBytes = 0;
    this.phase = 'body';
  }
}

type Leave = 'destroy' | 'end';

interface Connection {
  readonly socket: Socket;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;
  /** True once the client left (or the churn stopped): a close is then not the gateway's doing. */
  left(): boolean;
  leave(how: Leave): void;
}

interface Counters {
  connections: number;
  requests: number;
  completedStreams: number;
  burstStreams: number;
  frames: number;
  frameBytes: number;
  midPartCuts: number;
  okRequests: number;
  failures: number;
  failureExamples: string[];
}

class Churn {
  private readonly rand: () => number;
  private readonly seed: number;
  private readonly url: URL;
  private readonly host: string;
  private readonly maxFrames: number;
  private readonly mix: Array<[VisitKind, number]>;
  private readonly mixTotal: number;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  private readonly sockets = new Set<Socket>();
  private readonly visitsInFlight = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();
  private running = false;
  private active = 0;
  private startedAt = 0;
  private readonly counters: Counters = {
    connections: 0, requests: 0, completedStreams: 0, burstStreams: 0, frames: 0, frameBytes: 0,
    midPartCuts: 0, okRequests: 0, failures: 0, failureExamples: [],
  };
  private readonly visits = Object.fromEntries(Object.keys(DEFAULT_MIX).map((kind) => [kind, { started: 0, finished: 0 }])) as Record<VisitKind, { started: number; finished: number }>;
  private readonly samples: GatewaySample[] = [];
  private readonly probes: MemoryProbe[] = [];

  constructor(private readonly options: ChurnOptions) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.rand = random(this.seed);
    this.url = new URL(options.baseUrl);
    this.host = this.url.host;
    this.maxFrames = options.maxFrames ?? 20;
    this.mix = Object.entries({ ...DEFAULT_MIX, ...options.mix }).filter(([, weight]) => weight > 0) as Array<[VisitKind, number]>;
    this.mixTotal = this.mix.reduce((sum, [, weight]) => sum + weight, 0);
  }

  async run(): Promise<ChurnResult> {
    const { concurrency, durationMs } = this.options;
    this.running = true;
    this.startedAt = performance.now();
    // Arrivals spread over the first second, then each leaving visit is replaced.
    for (let i = 0; i < concurrency; i++) this.later((i * 1000) / concurrency, () => this.launch());
    if (this.options.burstCamera) this.burst(this.options.burstCamera);
    const sampler = this.sampleLoop();
    const prober = this.probeLoop();
    await new Promise<void>((resolve) => this.later(durationMs, resolve));

    // Stop: no new arrivals; whoever is still watching leaves at once (a mass disconnect).
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of [...this.wakers]) wake();
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await Promise.all([...this.visitsInFlight]);
    await Promise.all([sampler, prober]);
    const elapsed = performance.now() - this.startedAt;
    return {
      seed: this.seed,
      durationMs: elapsed,
      ...this.counters,
      visits: this.visits,
      samples: this.samples,
      probes: this.probes,
    };
  }

  private now(): number {
    return performance.now() - this.startedAt;
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  private async sampleLoop(): Promise<void> {
    const every = this.options.sampleEveryMs ?? 1000;
    while (this.running) {
      const next = performance.now() + every;
      try {
        const [t, active, connections] = [this.now(), this.active, this.counters.connections];
        const sample = { t, active, connections, ...(await scrapeGateway(this.options.baseUrl)) };
        this.samples.push(sample);
        this.options.onSample?.(sample);
      } catch (error) {
        this.fail(`scrape at ${(this.now() / 1000).toFixed(1)} s: ${(error as Error).message}`);
      }
      await this.sleepUntil(next);
    }
  }

  private async probeLoop(): Promise<void> {
    const probe = this.options.probe;
    if (!probe) return;
    const every = this.options.probeEveryMs ?? 10_000;
    let next = performance.now() + every;
    for (;;) {
      await this.sleepUntil(next);
      if (!this.running) return;
      next += every;
      const [t, connections] = [this.now(), this.counters.connections];
      try {
        this.probes.push({ ...(await probe()), t, connections });
      } catch (error) {
        this.fail(`memory probe at ${(t / 1000).toFixed(1)} s: ${(error as Error).message.split('\n')[0]}`);
        return;
      }
    }
  }

  /** Sleeps until `at` (performance.now()) or until the churn stops. */
  private sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, at - performance.now()));
      this.wakers.add(wake);
    });
  }

  private fail(message: string): void {
    this.counters.failures++;
    if (this.counters.failureExamples.length < 10) this.counters.failureExamples.push(message);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.rand() * (max - min + 1));
  }

  private kind(): VisitKind {
    let r = this.rand() * this.mixTotal;
    for (const [kind, weight] of this.mix) {
      r -= weight;
      if (r < 0) return kind;
    }
    return this.mix[this.mix.length - 1]![0];
  }

  private launch(): void {
    if (!this.running) return;
    const kind = this.kind();
    this.track(kind, this.visit(kind), () => {
      // Replaced after a short pause, as a new arrival.
      if (this.running) this.later(this.rand() * 20, () => this.launch());
    });
  }

  private burst(camera: string): void {
    if (!this.running) return;
    const viewers = this.options.burstViewers ?? 3;
    for (let i = 0; i < viewers; i++) {
      this.counters.burstStreams++;
      this.track('stream', this.stream({ camera, frames: this.int(1, this.maxFrames), leave: this.rand() < 0.7 ? 'destroy' : 'end' }));
    }
    this.later(this.options.burstEveryMs ?? 10_000, () => this.burst(camera));
  }

  private track(kind: VisitKind, visit: Promise<void>, then?: () => void): void {
    this.active++;
    this.visits[kind].started++;
    const settled = visit
      .catch((error: Error) => this.fail(`${kind}: ${error.message}`))
      .finally(() => {
        this.active--;
        this.visits[kind].finished++;
        this.visitsInFlight.delete(settled);
        then?.();
      });
    this.visitsInFlight.add(settled);
  }

  private visit(kind: VisitKind): Promise<void> {
    const camera = this.pick(this.options.cameras);
    const leave: Leave = this.rand() < 0.7 ? 'destroy' : 'end';
    switch (kind) {
      case 'stream':
        return this.stream({ camera, frames: this.int(1, this.maxFrames), leave });
      case 'stream-fps':
        return this.stream({ camera, frames: this.int(1, 3), leave, fps: 5 });
      case 'video-feed':
        return this.stream({ camera: this.options.firstCamera ?? this.options.cameras[0]!, path: '/video_feed', frames: this.int(1, this.maxFrames), leave });
      case 'mid-part':
        return this.stream({ camera, frames: this.int(0, this.maxFrames - 1), leave: 'destroy', midPart: true });
      case 'stall':
        return this.stream({ camera, frames: this.int(1, 5), leave: 'destroy', stallMs: this.int(500, 2500) });
      case 'abort-early':
        return this.abortEarly(camera);
      case 'mid-headers':
        return this.midHeaders(camera, leave);
      case 'head':
        return this.head(this.pick([...this.options.cameras, ...(this.options.burstCamera ? [this.options.burstCamera] : [])]), leave);
      case 'not-found':
        return this.notFound();
      case 'snapshot':
        return this.get(`/cameras/${this.pick([...this.options.cameras, ...(this.options.burstCamera ? [this.options.burstCamera] : [])])}/snapshot.jpg`, 'snapshot');
      case 'api':
        return this.get('/api/cameras', 'api');
    }
  }

  /**
   * A raw connection; resolves once it has closed. `setup` writes the request and returns
   * what to do with each read; the visit decides when to leave. A failure to parse (a
   * ProtocolError) is recorded and the socket destroyed.
   */
  private connection(what: string, readBuffer: Buffer, setup: (conn: Connection) => (chunk: Buffer) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      let leaving = false;
      let onData: (chunk: Buffer) => void = () => undefined;
      this.counters.connections++;
      const socket = connect({
        host: this.url.hostname,
        port: Number(this.url.port),
        onread: {
          buffer: readBuffer,
          callback: (bytes: number, buffer: Uint8Array) => {
            if (leaving) return true;
            try {
              onData(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
            } catch (error) {
              if (!leaving) this.fail(`${what}: ${(error as Error).message}`);
              leaving = true;
              socket.destroy();
            }
            return true;
          },
        },
      });
      this.sockets.add(socket);
      const timeoutMs = this.options.visitTimeoutMs ?? 20_000;
      const timeout = setTimeout(() => {
        if (!leaving) this.fail(`${what}: still open after ${timeoutMs} ms`);
        leaving = true;
        socket.destroy();
      }, timeoutMs);
      const closed = new Promise<void>((done) =>
        socket.once('close', () => {
          clearTimeout(timeout);
          this.sockets.delete(socket);
          done();
        }),
      );
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (!leaving && this.running) this.fail(`${what}: ${error.code ?? error.message}`);
      });
      const conn: Connection = {
        socket,
        closed,
        // Gone by choice (ours, or the churn stopping), not by the gateway's doing.
        left: () => leaving || !this.running,
        leave: (how) => {
          if (leaving) return;
          leaving = true;
          if (how === 'destroy') socket.destroy();
          else socket.end(); // FIN: the gateway must close its side
        },
      };
      onData = setup(conn);
      void closed.then(resolve);
    });
  }

  private request(method: string, path: string, http10: boolean, keepAlive: boolean): Buffer {
    const version = http10 ? 'HTTP/1.0' : 'HTTP/1.1';
    const connection = keepAlive ? (http10 ? 'Connection: keep-alive\r\n' : '') : 'Connection: close\r\n';
    return Buffer.from(`${method} ${path} ${version}\r\nHost: ${this.host}\r\nUser-Agent: camrelay-churn\r\nAccept: */*\r\n${connection}\r\n`, 'latin1');
  }

  private stream(plan: { camera: string; frames: number; leave: Leave; path?: string; fps?: number; midPart?: boolean; stallMs?: number }): Promise<void> {
    const path = plan.path ?? `/cameras/${plan.camera}/stream.mjpg${plan.fps ? `?fps=${plan.fps}` : ''}`;
    const what = `GET ${path}${plan.midPart ? ' (mid-part)' : plan.stallMs ? ' (stall)' : ''}`;
    const minGapMs = plan.fps ? (1000 / plan.fps) * 0.9 - 1 : 0; // the gateway's own tolerance, less rounding
    const reader = new ResponseReader(false, (part) => {
      const gapMs = (part.timestamp - reader.lastTimestamp) * 1000;
      if (reader.frames > 0 && gapMs < minGapMs) throw new ProtocolError(`?fps=${plan.fps}: frames ${gapMs.toFixed(0)} ms apart`);
    });
    let reachedTarget = false;
    return this.connection(what, plan.midPart ? SMALL_READS : LARGE_READS, (conn) => {
      this.counters.requests++;
      conn.socket.write(this.request('GET', path, this.rand() < 0.3, true));
      void conn.closed.then(() => {
        this.counters.frameBytes += reader.frameBytes;
        if (!conn.left()) this.fail(`${what}: the gateway closed the stream after ${reader.frames} of ${plan.frames} frames (HTTP ${reader.status || 'none'})`);
      });
      return (chunk) => {
        const before = reader.frames;
        reader.push(chunk);
        this.counters.frames += reader.frames - before;
        if (reader.headDone && reader.status !== 200) throw new ProtocolError(`HTTP ${reader.status}`);
        if (!reachedTarget && reader.frames >= plan.frames) {
          reachedTarget = true;
          if (plan.stallMs) {
            this.counters.completedStreams++;
            conn.socket.pause(); // stops reading: the gateway's writes back up
            this.later(plan.stallMs, () => conn.leave('destroy'));
          } else if (!plan.midPart) {
            this.counters.completedStreams++;
            conn.leave(plan.leave);
          }
        }
        if (plan.midPart && reachedTarget) {
          if (reader.inBody) {
            this.counters.midPartCuts++;
            conn.leave('destroy');
          } else if (reader.frames >= plan.frames + 5) {
            conn.leave('destroy'); // parts too small to be caught mid-body: leave anyway
          }
        }
      };
    });
  }

  private abortEarly(camera: string): Promise<void> {
    const path = `/cameras/${camera}/stream.mjpg`;
    return this.connection(`abort-early ${path}`, LARGE_READS, (conn) => {
      this.counters.requests++;
      conn.socket.write(this.request('GET', path, false, true));
      const delay = this.int(0, 20);
      if (delay === 0) setImmediate(() => conn.leave('destroy'));
      else this.later(delay, () => conn.leave('destroy'));
      return () => undefined;
    });
  }

  private midHeaders(camera: string, how: Leave): Promise<void> {
    const request = this.request('GET', `/cameras/${camera}/stream.mjpg`, false, true);
    const cut = this.int(1, request.length - 4); // never the blank line that ends the headers
    return this.connection('mid-headers', LARGE_READS, (conn) => {
      conn.socket.write(request.subarray(0, cut));
      this.later(this.int(0, 200), () => conn.leave(how));
      return () => undefined;
    });
  }

  private head(camera: string, how: Leave): Promise<void> {
    const path = `/cameras/${camera}/stream.mjpg`;
    const reader = new ResponseReader(true, () => undefined);
    return this.connection(`HEAD ${path}`, LARGE_READS, (conn) => {
      this.counters.requests++;
      conn.socket.write(this.request('HEAD', path, false, true));
      void conn.closed.then(() => {
        if (!conn.left()) this.fail(`HEAD ${path}: the gateway closed the connection (HTTP ${reader.status || 'none'})`);
      });
      return (chunk) => {
        reader.push(chunk);
        if (!reader.headDone) return;
        if (reader.status !== 200) throw new ProtocolError(`HTTP ${reader.status}`);
        if (!/^multipart\/x-mixed-replace/.test(reader.headers.get('content-type') ?? '')) throw new ProtocolError(`Content-Type ${reader.headers.get('content-type')}`);
        // A HEAD response has no body: bytes after its head would be a broken keep-alive connection.
        if (reader.bodyBytes > 0) throw new ProtocolError('a HEAD response with a body');
        this.counters.okRequests++;
        conn.leave(how);
      };
    });
  }

  private notFound(): Promise<void> {
    const path = `/cameras/nope-${this.int(0, 999)}/stream.mjpg`;
    const reader = new ResponseReader(false, () => undefined);
    return this.connection(`GET ${path}`, LARGE_READS, (conn) => {
      this.counters.requests++;
      conn.socket.write(this.request('GET', path, this.rand() < 0.3, false));
      void conn.closed.then(() => {
        if (conn.left()) return;
        const body = Buffer.concat(reader.body).toString('utf8');
        if (reader.status !== 404 || !body.includes('"unknown_camera"')) this.fail(`GET ${path}: HTTP ${reader.status} ${body.slice(0, 200)}`);
        else this.counters.okRequests++;
      });
      return (chunk) => reader.push(chunk);
    });
  }

  /** A request through the keep-alive agent (one in five on a fresh connection, closed after). */
  private get(path: string, kind: 'snapshot' | 'api'): Promise<void> {
    const fresh = this.rand() < 0.2;
    return new Promise<void>((resolve) => {
      this.counters.requests++;
      let done = false;
      const finish = (problem: string | null) => {
        if (done) return;
        done = true;
        if (problem === null) this.counters.okRequests++;
        else if (this.running) this.fail(`GET ${path}: ${problem}`);
        resolve();
      };
      const req = httpRequest(`${this.options.baseUrl}${path}`, { agent: fresh ? false : this.agent, timeout: this.options.visitTimeoutMs ?? 20_000 }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          finish(kind === 'snapshot' ? checkSnapshot(res, body) : checkCameraList(res, body, this.options.cameras));
        });
        res.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
        res.on('close', () => finish('the response ended early'));
      });
      req.on('socket', () => {
        if (!req.reusedSocket) this.counters.connections++;
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
      req.end();
    });
  }
}

function checkSnapshot(res: IncomingMessage, body: Buffer): string | null {
  if (res.statusCode !== 200) return `HTTP ${res.statusCode} ${body.toString('utf8', 0, 200)}`;
  if (res.headers['content-type'] !== 'image/jpeg') return `Content-Type ${res.headers['content-type']}`;
  const n = body.length;
  if (!(n >= 4 && body[0] === 0xff && body[1] === 0xd8 && body[n - 2] === 0xff && body[n - 1] === 0xd9)) return 'not a complete JPEG';
  return null;
}

function checkCameraList(res: IncomingMessage, body: Buffer, cameras: readonly string[]): string | null {
  if (res.statusCode !== 200) return `HTTP ${res.statusCode} ${body.toString('utf8', 0, 200)}`;
  try {
    const ids = (JSON.parse(body.toString('utf8')) as Array<{ id: string }>).map((camera) => camera.id);
    const missing = cameras.filter((id) => !ids.includes(id));
    return missing.length ? `cameras ${missing.join(', ')} not listed` : null;
  } catch {
    return `not JSON: ${body.toString('utf8', 0, 200)}`;
  }
}

/** Runs the churn for options.durationMs, then makes every remaining client leave at once. */
export function runChurn(options: ChurnOptions): Promise<ChurnResult> {
  return new Churn(options).run();
}
