/**
 * Local network cameras for tests and benchmarks: one server on 127.0.0.1 that answers as an IP
 * camera's MJPEG endpoint does, and in the ways such cameras fail. The path picks the behaviour,
 * `/KIND/N.mjpg`; N only makes the URLs of several cameras distinct.
 *
 *   healthy  multipart/x-mixed-replace at `fps`, each part with Content-Type and Content-Length
 *   hung     accepts the connection and never answers anything (a wedged camera)
 *   reset    a few frames, then a TCP reset, on every connection
 *   trickle  the response head, then a few bytes a second: never one whole part
 *
 * The frames are a ring of JPEGs the caller encoded once, so this needs no OpenCV. Raw sockets,
 * no HTTP framework: a hung or trickling answer needs control of every byte, and the server
 * should cost next to nothing beside what it measures. `spawnMjpegSources` runs the same server
 * in a child process, so that it does not share the event loop of the process under test.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isJpeg } from '@camrelay/frame';
import { spawnProcess } from '@camrelay/stack';

export const SOURCE_KINDS = ['healthy', 'hung', 'reset', 'trickle'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export interface MjpegSourcesOptions {
  /**
   * The ring every healthy and reset stream plays, in order: distinct pictures (capture skips a
   * frame whose bytes equal the last one's), e.g. 30 640x480 JPEGs with a frame number drawn.
   */
  readonly jpegs: readonly Buffer[];
  /** Frames per second of each stream. @default 30 */
  readonly fps?: number;
  /** Frames a reset source sends on each connection before it resets it. @default 5 */
  readonly resetAfterFrames?: number;
  /** Bytes per second a trickle source sends after its response head. @default 4 */
  readonly trickleBytesPerSecond?: number;
  /** @default 0: a free port */
  readonly port?: number;
}

export const MJPEG_SOURCES_DEFAULTS = { fps: 30, resetAfterFrames: 5, trickleBytesPerSecond: 4, port: 0 } as const;

export interface MjpegSources {
  readonly port: number;
  /** `http://127.0.0.1:PORT/KIND/N.mjpg`: N tells cameras apart (and offsets where a stream starts in the ring). */
  url(kind: SourceKind, n?: number): string;
  /** Connections of this kind open now. From a child process: as of its last report, at most ~50 ms old. */
  connections(kind: SourceKind): number;
  /** Connections of this kind accepted since the start: a reset source's count rises with every reconnect. */
  accepted(kind: SourceKind): number;
  close(): Promise<void>;
}

/** The counts a child reports on stdout, one JSON line per change. */
interface Counts {
  readonly connections: Record<SourceKind, number>;
  readonly accepted: Record<SourceKind, number>;
}

const BOUNDARY = 'cameraframe';
const REQUEST_PATH = /^GET \/(healthy|hung|reset|trickle)\/(\d{1,6})\.mjpg(?:\?\S*)? HTTP\/1\.[01]\r\n/;
/** A request head larger than this is no camera client's: the connection is dropped. */
const MAX_REQUEST_HEAD = 16 * 1024;
const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
// Close-delimited, as IP cameras send it: no chunked encoding, no Content-Length for the body.
const STREAM_HEAD = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=${BOUNDARY}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n`,
  'latin1',
);

const zeroCounts = (): Record<SourceKind, number> => ({ healthy: 0, hung: 0, reset: 0, trickle: 0 });

function checked(options: MjpegSourcesOptions): Required<MjpegSourcesOptions> {
  const merged = { ...MJPEG_SOURCES_DEFAULTS, ...options };
  if (merged.jpegs.length === 0) throw new Error('startMjpegSources: jpegs is empty; give it the ring of JPEGs to stream');
  const bad = merged.jpegs.findIndex((jpeg) => !isJpeg(jpeg));
  if (bad !== -1) throw new Error(`startMjpegSources: jpegs[${bad}] is not a complete JPEG (FF D8 … FF D9)`);
  if (!(merged.fps > 0 && merged.fps <= 1000))
    throw new Error(`startMjpegSources: fps must be above 0 and at most 1000, got ${merged.fps}`);
  if (!(Number.isInteger(merged.resetAfterFrames) && merged.resetAfterFrames >= 0))
    throw new Error(`startMjpegSources: resetAfterFrames must be a whole number ≥ 0, got ${merged.resetAfterFrames}`);
  if (!(merged.trickleBytesPerSecond > 0 && merged.trickleBytesPerSecond <= 1000))
    throw new Error(`startMjpegSources: trickleBytesPerSecond must be above 0 and at most 1000, got ${merged.trickleBytesPerSecond}`);
  return merged;
}

/** The server, in this process. */
export async function startMjpegSources(options: MjpegSourcesOptions): Promise<MjpegSources> {
  const { jpegs, fps, resetAfterFrames, trickleBytesPerSecond, port } = checked(options);
  // Each part is built once and written to every stream that plays it.
  const parts = jpegs.map((jpeg) =>
    Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`, 'latin1'),
      jpeg,
      Buffer.from('\r\n', 'latin1'),
    ]),
  );
  const open = { healthy: new Set<Socket>(), hung: new Set<Socket>(), reset: new Set<Socket>(), trickle: new Set<Socket>() };
  const accepted = zeroCounts();
  const sockets = new Set<Socket>();

  /** Healthy and reset streams: one timer per stream, paced against its start so the rate does not drift. */
  function play(socket: Socket, n: number, resetAfter: number | null) {
    const started = performance.now();
    let due = 0;
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      if (resetAfter !== null && sent >= resetAfter) {
        socket.resetAndDestroy(); // RST, not FIN: as a camera that crashes or a NAT that drops the flow
        return;
      }
      // Backpressure: a reader that has not taken the last part misses this one, so a slow reader
      // never makes the server queue frames (as the gateway does for a slow viewer).
      if (socket.writableLength === 0) {
        socket.write(parts[(n + due) % parts.length]!);
        sent++;
      }
      due++;
      timer = setTimeout(tick, Math.max(0, started + (due * 1000) / fps - performance.now()));
    };
    socket.write(STREAM_HEAD);
    tick();
    socket.once('close', () => clearTimeout(timer));
  }

  /** Bytes of a part, a few at a time: the head promised a stream, and no part ever completes. */
  function trickle(socket: Socket) {
    socket.write(STREAM_HEAD);
    const part = parts[0]!;
    let offset = 0;
    const timer = setInterval(() => {
      socket.write(part.subarray(offset, offset + 1));
      offset = (offset + 1) % part.length;
    }, 1000 / trickleBytesPerSecond);
    socket.once('close', () => clearInterval(timer));
  }

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true); // a part leaves when written, and a trickled byte on its own
    socket.on('error', () => socket.destroy()); // a client that resets: nothing to report
    socket.once('close', () => sockets.delete(socket));
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) {
        if (head.length > MAX_REQUEST_HEAD) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const match = REQUEST_PATH.exec(head);
      if (!match) {
        socket.end(NOT_FOUND);
        return;
      }
      const kind = match[1] as SourceKind;
      accepted[kind]++;
      open[kind].add(socket);
      socket.once('close', () => open[kind].delete(socket));
      if (kind === 'healthy') play(socket, Number(match[2]), null);
      else if (kind === 'reset') play(socket, Number(match[2]), resetAfterFrames);
      else if (kind === 'trickle') trickle(socket);
      // hung: the request was read; nothing is ever written back, and the connection stays open.
    };
    socket.on('data', onData);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const bound = (server.address() as { port: number }).port;

  return {
    port: bound,
    url: (kind, n = 0) => `http://127.0.0.1:${bound}/${kind}/${n}.mjpg`,
    connections: (kind) => open[kind].size,
    accepted: (kind) => accepted[kind],
    async close() {
      const closed = once(server, 'close');
      server.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** What the child process prints as its first line. */
export function mjpegSourcesReadyLine(port: number): string {
  return JSON.stringify({ port });
}

/** What the child prints whenever its counts changed: `{"connections":{…},"accepted":{…}}`. */
export function mjpegSourcesCountsLine(sources: MjpegSources): string {
  const counts: Counts = { connections: zeroCounts(), accepted: zeroCounts() };
  for (const kind of SOURCE_KINDS) {
    counts.connections[kind] = sources.connections(kind);
    counts.accepted[kind] = sources.accepted(kind);
  }
  return JSON.stringify(counts);
}

/**
 * The same server in a child process (tools/clients/dist/mjpeg-sources-main.js), so that its
 * timers and writes do not run on the event loop of what it measures. The JPEGs go to the child
 * as files in a temporary directory, removed by `close()`.
 */
export async function spawnMjpegSources(options: MjpegSourcesOptions): Promise<MjpegSources> {
  const { jpegs, fps, resetAfterFrames, trickleBytesPerSecond, port } = checked(options);
  const dir = mkdtempSync(join(tmpdir(), 'camrelay-mjpeg-sources-'));
  jpegs.forEach((jpeg, i) => writeFileSync(join(dir, `${String(i).padStart(4, '0')}.jpg`), jpeg));
  const main = fileURLToPath(new URL('./mjpeg-sources-main.js', import.meta.url));
  const child = spawnProcess(
    process.execPath,
    [
      main,
      '--frames',
      dir,
      '--fps',
      String(fps),
      '--reset-after',
      String(resetAfterFrames),
      '--trickle-bps',
      String(trickleBytesPerSecond),
      '--port',
      String(port),
    ],
    {},
    { keepLines: 100 },
  );
  let counts: Counts = { connections: zeroCounts(), accepted: zeroCounts() };
  let partial = '';
  child.process.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{"connections"')) counts = JSON.parse(line) as Counts;
  });
  try {
    const ready = JSON.parse(await child.waitFor(/^\{"port":\d+\}$/)) as { port: number };
    return {
      port: ready.port,
      url: (kind, n = 0) => `http://127.0.0.1:${ready.port}/${kind}/${n}.mjpg`,
      connections: (kind) => counts.connections[kind],
      accepted: (kind) => counts.accepted[kind],
      async close() {
        await child.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
