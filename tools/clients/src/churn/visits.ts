/**
 * The visits a churn mixes: each is one client arriving, doing one thing the way a browser (or
 * a health check, or a link preview) does, and leaving. Weights in DEFAULT_MIX:
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
 * Every part of a stream is checked: its format by the multipart parser in strict mode
 * (delimiters, Content-Type, Content-Length, X-Sequence, X-Timestamp), what it carries by
 * StreamCheck (a complete JPEG, X-Sequence rising, the ?fps cap, no NO SIGNAL picture).
 */
import { Agent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { isJpeg } from '@camrelay/frame';
import { MultipartError, MultipartParser, boundaryOf } from '@camrelay/multipart';
import { Connection, requestHead } from './connection.js';
import type { Leave } from './connection.js';
import type { Random } from './random.js';
import { StreamCheck } from './stream-check.js';
import type { Tally } from './tally.js';
import type { Timers } from './timers.js';

export type VisitKind =
  'stream' | 'stream-fps' | 'video-feed' | 'mid-part' | 'stall' | 'abort-early' | 'mid-headers' | 'head' | 'not-found' | 'snapshot' | 'api';

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

export interface VisitSettings {
  readonly baseUrl: string;
  /** Cameras the visits watch. */
  readonly cameras: readonly string[];
  /** The camera served at /video_feed. */
  readonly firstCamera: string;
  /** Watched only in bursts; HEADs and snapshots ask for it too. */
  readonly burstCamera: string | undefined;
  readonly maxFrames: number;
  readonly visitTimeoutMs: number;
}

interface StreamPlan {
  readonly camera: string;
  readonly frames: number;
  readonly leave: Leave;
  readonly path?: string;
  readonly fps?: number;
  readonly midPart?: boolean;
  readonly stallMs?: number;
}

// Reads are copied out as they arrive (see Connection), so all connections share two buffers.
// A mid-part visit reads in small ones: a part then arrives in several reads, and the visit
// can leave between two of them.
const LARGE_READS = Buffer.allocUnsafe(64 * 1024);
const SMALL_READS = Buffer.allocUnsafe(4 * 1024);
/** A 404's JSON is small: more means the gateway sent something else. */
const MAX_ERROR_BODY = 64 * 1024;

export class Visits {
  private readonly url: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  private readonly connections = new Set<Connection>();
  private stopping = false;

  constructor(
    private readonly settings: VisitSettings,
    private readonly tally: Tally,
    private readonly random: Random,
    private readonly timers: Timers,
  ) {
    this.url = new URL(settings.baseUrl);
  }

  /** One visit of this kind; resolves once it is over and checked. */
  visit(kind: VisitKind): Promise<void> {
    const { cameras, burstCamera, maxFrames } = this.settings;
    const camera = this.random.pick(cameras);
    const anyCamera = () => this.random.pick(burstCamera ? [...cameras, burstCamera] : cameras);
    const leave: Leave = this.random.chance(0.7) ? 'destroy' : 'end';
    switch (kind) {
      case 'stream':
        return this.stream({ camera, frames: this.random.int(1, maxFrames), leave });
      case 'stream-fps':
        return this.stream({ camera, frames: this.random.int(1, 3), leave, fps: 5 });
      case 'video-feed':
        return this.stream({ camera: this.settings.firstCamera, path: '/video_feed', frames: this.random.int(1, maxFrames), leave });
      case 'mid-part':
        return this.stream({ camera, frames: this.random.int(0, maxFrames - 1), leave: 'destroy', midPart: true });
      case 'stall':
        return this.stream({ camera, frames: this.random.int(1, 5), leave: 'destroy', stallMs: this.random.int(500, 2500) });
      case 'abort-early':
        return this.abortEarly(camera);
      case 'mid-headers':
        return this.midHeaders(camera, leave);
      case 'head':
        return this.head(anyCamera(), leave);
      case 'not-found':
        return this.notFound();
      case 'snapshot':
        return this.get(`/cameras/${anyCamera()}/snapshot.jpg`, 'snapshot');
      case 'api':
        return this.get('/api/cameras', 'api');
    }
  }

  /** A stream viewer that reads 1..maxFrames frames of `camera` and leaves. */
  watch(camera: string): Promise<void> {
    return this.stream({ camera, frames: this.random.int(1, this.settings.maxFrames), leave: this.random.chance(0.7) ? 'destroy' : 'end' });
  }

  /** Every client still here leaves at once: a mass disconnect. */
  stop(): void {
    this.stopping = true;
    for (const connection of this.connections) connection.socket.destroy();
    this.agent.destroy();
  }

  private connect(what: string, readBuffer: Buffer): Connection {
    this.tally.connections++;
    const connection = new Connection({
      host: this.url.hostname,
      port: Number(this.url.port),
      readBuffer,
      timeoutMs: this.settings.visitTimeoutMs,
      what,
      fail: (message) => this.tally.fail(message),
      stopping: () => this.stopping,
    });
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
    return connection;
  }

  private request(connection: Connection, method: string, path: string, options: { http10: boolean; keepAlive: boolean }): void {
    this.tally.requests++;
    connection.socket.write(requestHead(method, path, this.url.host, options));
  }

  private stream(plan: StreamPlan): Promise<void> {
    const path = plan.path ?? `/cameras/${plan.camera}/stream.mjpg${plan.fps ? `?fps=${plan.fps}` : ''}`;
    const what = `GET ${path}${plan.midPart ? ' (mid-part)' : plan.stallMs ? ' (stall)' : ''}`;
    const connection = this.connect(what, plan.midPart ? SMALL_READS : LARGE_READS);
    const check = new StreamCheck(plan.fps);
    let status = 0;
    let parser: MultipartParser | undefined;
    let reachedTarget = false;

    const afterRead = (stream: MultipartParser) => {
      if (!reachedTarget && check.frames >= plan.frames) {
        reachedTarget = true;
        if (plan.stallMs) {
          this.tally.completedStreams++;
          connection.socket.pause(); // stops reading: the gateway's writes back up
          this.timers.later(plan.stallMs, () => connection.leave('destroy'));
        } else if (!plan.midPart) {
          this.tally.completedStreams++;
          connection.leave(plan.leave);
        }
      }
      if (plan.midPart && reachedTarget) {
        if (stream.midBody) {
          this.tally.midPartCuts++;
          connection.leave('destroy');
        } else if (check.frames >= plan.frames + 5) {
          connection.leave('destroy'); // parts too small to be caught mid-body: leave anyway
        }
      }
    };

    this.request(connection, 'GET', path, { http10: this.random.chance(0.3), keepAlive: true });
    connection.readResponse('GET', (response) => {
      status = response.statusCode ?? 0;
      const contentType = response.headers['content-type'] ?? '';
      if (status !== 200) return connection.fail(`HTTP ${status}`);
      if (!contentType.startsWith('multipart/x-mixed-replace;')) return connection.fail(`Content-Type ${contentType}`);
      // node:http would undo a chunked framing unseen; the bytes on the wire must be the multipart.
      const framing = response.headers['transfer-encoding'];
      if (framing) return connection.fail(`stream sent with Transfer-Encoding: ${framing}`);
      let stream: MultipartParser;
      try {
        stream = parser = new MultipartParser(boundaryOf(contentType), { strict: true });
      } catch (error) {
        return connection.fail((error as Error).message);
      }
      response.on('data', (chunk: Buffer) => {
        if (connection.left()) return;
        try {
          for (const part of stream.push(chunk)) {
            check.accept(part);
            this.tally.frames++;
          }
        } catch (error) {
          // The parser says what is wrong, not where in the stream.
          return connection.fail(
            error instanceof MultipartError ? `${error.message} after ${check.frames} frames` : (error as Error).message,
          );
        }
        afterRead(stream);
      });
    });

    return connection.closed.then(() => {
      this.tally.frameBytes += check.frameBytes;
      if (connection.left()) return;
      this.tally.fail(
        `${what}: the gateway closed the stream after ${check.frames} of ${plan.frames} frames (HTTP ${status || 'none'}${parser ? `, ${howItEnded(parser)}` : ''})`,
      );
    });
  }

  private abortEarly(camera: string): Promise<void> {
    const path = `/cameras/${camera}/stream.mjpg`;
    const connection = this.connect(`abort-early ${path}`, LARGE_READS);
    this.request(connection, 'GET', path, { http10: false, keepAlive: true });
    const delay = this.random.int(0, 20);
    if (delay === 0) setImmediate(() => connection.leave('destroy'));
    else this.timers.later(delay, () => connection.leave('destroy'));
    return connection.closed;
  }

  private midHeaders(camera: string, how: Leave): Promise<void> {
    const head = requestHead('GET', `/cameras/${camera}/stream.mjpg`, this.url.host, { http10: false, keepAlive: true });
    const cut = this.random.int(1, head.length - 4); // never the blank line that ends the headers
    const connection = this.connect('mid-headers', LARGE_READS);
    connection.socket.write(head.subarray(0, cut));
    this.timers.later(this.random.int(0, 200), () => connection.leave(how));
    return connection.closed;
  }

  private head(camera: string, how: Leave): Promise<void> {
    const path = `/cameras/${camera}/stream.mjpg`;
    const connection = this.connect(`HEAD ${path}`, LARGE_READS);
    let status = 0;
    this.request(connection, 'HEAD', path, { http10: false, keepAlive: true });
    connection.readResponse('HEAD', (response) => {
      status = response.statusCode ?? 0;
      const contentType = response.headers['content-type'] ?? '';
      if (status !== 200) return connection.fail(`HTTP ${status}`);
      if (!contentType.startsWith('multipart/x-mixed-replace')) return connection.fail(`Content-Type ${contentType}`);
      // Left at 'end', not here: bytes after the head (a body, which would break the keep-alive
      // connection) are a parse error that node:http reports before it ends the response.
      response.on('end', () => {
        if (connection.left()) return;
        this.tally.okRequests++;
        connection.leave(how);
      });
      response.resume();
    });
    return connection.closed.then(() => {
      if (!connection.left()) this.tally.fail(`HEAD ${path}: the gateway closed the connection (HTTP ${status || 'none'})`);
    });
  }

  private notFound(): Promise<void> {
    const path = `/cameras/nope-${this.random.int(0, 999)}/stream.mjpg`;
    const connection = this.connect(`GET ${path}`, LARGE_READS);
    let response: IncomingMessage | undefined;
    const body: Buffer[] = [];
    let bodyBytes = 0;
    // Connection: close, so the visit is over when the gateway closes, as it must.
    this.request(connection, 'GET', path, { http10: this.random.chance(0.3), keepAlive: false });
    connection.readResponse('GET', (res) => {
      response = res;
      res.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
        if (bodyBytes > MAX_ERROR_BODY) return connection.fail('response body too long');
        body.push(chunk);
      });
    });
    return connection.closed.then(() => {
      if (connection.left()) return;
      const text = Buffer.concat(body).toString('utf8');
      if (response?.statusCode === 404 && response.complete && text.includes('"unknown_camera"')) this.tally.okRequests++;
      else
        this.tally.fail(
          `GET ${path}: HTTP ${response?.statusCode ?? 'none'}${response && !response.complete ? ' (incomplete)' : ''} ${text.slice(0, 200)}`,
        );
    });
  }

  /** A request through the keep-alive agent (one in five on a fresh connection, closed after). */
  private get(path: string, kind: 'snapshot' | 'api'): Promise<void> {
    const fresh = this.random.chance(0.2);
    return new Promise<void>((resolve) => {
      this.tally.requests++;
      let done = false;
      const finish = (problem: string | null) => {
        if (done) return;
        done = true;
        if (problem === null) this.tally.okRequests++;
        else if (!this.stopping) this.tally.fail(`GET ${path}: ${problem}`);
        resolve();
      };
      const req = httpRequest(
        `${this.settings.baseUrl}${path}`,
        { agent: fresh ? false : this.agent, timeout: this.settings.visitTimeoutMs },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            finish(kind === 'snapshot' ? checkSnapshot(res, body) : checkCameraList(res, body, this.settings.cameras));
          });
          res.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
          res.on('close', () => finish('the response ended early'));
        },
      );
      req.on('socket', () => {
        if (!req.reusedSocket) this.tally.connections++;
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
      req.end();
    });
  }
}

/** Why a stream the gateway closed ended where it did, as the parser saw it. */
function howItEnded(parser: MultipartParser): string {
  try {
    parser.end();
    return 'after its closing delimiter';
  } catch (error) {
    return (error as Error).message;
  }
}

function checkSnapshot(res: IncomingMessage, body: Buffer): string | null {
  if (res.statusCode !== 200) return `HTTP ${res.statusCode} ${body.toString('utf8', 0, 200)}`;
  if (res.headers['content-type'] !== 'image/jpeg') return `Content-Type ${res.headers['content-type']}`;
  return isJpeg(body) ? null : 'not a complete JPEG';
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
