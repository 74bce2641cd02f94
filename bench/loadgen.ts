/**
 * A load generator built to play thousands of MJPEG viewers from one process without being
 * the bottleneck: raw sockets, a hand-written GET, and a parser that never copies a picture.
 * It reads each part's headers (Content-Length, X-Sequence, X-Timestamp), then counts the
 * body's bytes, checking that it starts FF D8 and ends FF D9. With --format fmp4 it reads an
 * H.264 stream (stream.mp4) instead: top-level MP4 boxes, each moof copied (~100 bytes) to read
 * its keyframe flag and decode time (capture sets it to the frame's capture time), each mdat's
 * bytes counted, never copied; a frame is a moof and its mdat.
 *
 *   node bench/dist/loadgen.js --url http://127.0.0.1:P/path --viewers N --warmup-ms W --duration-ms D
 *     [--slow-fraction 0.1]   a share of viewers that read slowly (250 ms pause after each frame)
 *     [--arrive-within-ms M]  open every viewer within M ms (a reconnect storm); by default 100 every 20 ms
 *     [--ca FILE]             an https:// URL's certificate to trust (HTTP/1.1 over TLS unless:)
 *     [--h2 K]                HTTP/2, K viewers (a page's tiles) to a connection, with a browser's
 *                             flow-control windows (Chromium's: 6 MB a stream, 15 MB a connection)
 *     [--format fmp4]         the body is fragmented MP4, not multipart (default: multipart)
 *
 * Prints one JSON object: per-viewer frame rates and times to first frame, latency
 * percentiles from X-Timestamp to receipt, X-Sequence gaps, invalid parts, and its own CPU.
 * For fmp4: the first frame is the first keyframe, latency runs from the fragment's decode
 * time, a stream whose first fragment is not a keyframe counts as invalid, and no gaps are
 * counted (fragments carry no sequence); it adds the body bytes all viewers received in the
 * window (windowBytes).
 */
import { readFileSync } from 'node:fs';
import { connect as connectHttp2 } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { parseArgs } from 'node:util';
import { readFragment, readInit } from '@camrelay/frame';
import type { InitInfo } from '@camrelay/frame';
import { percentile } from './percentile.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string', default: '100' },
    'warmup-ms': { type: 'string', default: '3000' },
    'duration-ms': { type: 'string', default: '5000' },
    'slow-fraction': { type: 'string', default: '0' },
    'arrive-within-ms': { type: 'string' },
    ca: { type: 'string' },
    h2: { type: 'string' },
    format: { type: 'string', default: 'multipart' },
  },
});
if (values.format !== 'multipart' && values.format !== 'fmp4') throw new Error(`--format: multipart or fmp4, got ${values.format}`);
const fmp4 = values.format === 'fmp4';
const ca = values.ca === undefined ? undefined : readFileSync(values.ca, 'utf8');
const streamsPerSession = values.h2 === undefined ? 0 : Number(values.h2);
const url = new URL(values.url!);
const viewerCount = Number(values.viewers);
const warmupMs = Number(values['warmup-ms']);
const durationMs = Number(values['duration-ms']);
const slowEvery = Number(values['slow-fraction']) > 0 ? Math.round(1 / Number(values['slow-fraction'])) : 0;
// HTTP/1.0: no server may answer with chunked framing, so the body on the wire is the multipart.
const request = Buffer.from(
  `GET ${url.pathname}${url.search} HTTP/1.0\r\nHost: ${url.host}\r\nUser-Agent: camrelay-loadgen\r\n\r\n`,
  'latin1',
);
// One read buffer for every socket: data is parsed inside the read callback and never kept
// (pending headers are copied), so thousands of sockets allocate nothing per read.
const readBuffer = Buffer.allocUnsafe(256 * 1024);
const HEAD_END = Buffer.from('\r\n\r\n');
/** Part headers are ~100 bytes: where one is pending, its end is looked for this far into the next read. */
const HEAD_SEARCH_BYTES = 4096;

const enum Phase {
  HttpHead,
  PartHead,
  Body,
}
const enum ChunkState {
  Size,
  Data,
  Crlf,
}

interface Viewer {
  readonly slow: boolean;
  readonly startedAt: number;
  phase: Phase;
  pending: Buffer | null;
  remaining: number;
  bodyLength: number;
  firstByte: number;
  last: number; // the last two body bytes seen, as (prev << 8) | byte
  sequence: number;
  timestamp: number;
  lastSequence: number;
  firstFrameAt: number;
  windowFrames: number;
  windowGaps: number;
  /** When its last frame arrived (Date.now), and the longest wait between two frames in the window. */
  lastFrameAt: number;
  longestWaitMs: number;
  closed: boolean;
  /** Transfer-Encoding: chunked (werkzeug answers so even an HTTP/1.0 request). */
  chunked: boolean;
  chunkLeft: number;
  chunkState: ChunkState;
  sizeLine: string;
  /** fmp4: the box being read, its header so far, and the bytes of it still to come. */
  box: Mp4Box;
}

interface Mp4Box {
  /** The 8 bytes of size and type (16 with a 64-bit size), gathered across reads. */
  readonly head: Buffer;
  headLength: number;
  /** A moof or moov, copied whole (small); null for an mdat or a box skipped, only counted. */
  kept: Buffer | null;
  keptLength: number;
  remaining: number;
  isMdat: boolean;
  /** The track's timescale and default flags (from moov), and whether the moof before this mdat was read. */
  init: InitInfo | null;
  afterMoof: boolean;
  /** Body bytes received in the measurement window. */
  windowBytes: number;
}

const viewers: Viewer[] = [];
let measuring = false;
let invalid = 0;
let errors = 0;
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;

function recordLatency(ms: number): void {
  if (latencyCount === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[latencyCount++] = ms;
}

function frameDone(viewer: Viewer): void {
  const now = Date.now();
  if (viewer.firstFrameAt === 0) viewer.firstFrameAt = performance.now();
  if (measuring) {
    if (viewer.lastFrameAt > 0) viewer.longestWaitMs = Math.max(viewer.longestWaitMs, now - viewer.lastFrameAt);
    viewer.windowFrames++;
    if (viewer.lastSequence >= 0 && viewer.sequence > viewer.lastSequence + 1)
      viewer.windowGaps += viewer.sequence - viewer.lastSequence - 1;
    if (!viewer.slow) recordLatency(now - viewer.timestamp * 1000);
  }
  viewer.lastSequence = viewer.sequence;
  viewer.lastFrameAt = now;
}

function parsePartHead(viewer: Viewer, block: string): void {
  const length = /Content-Length: *(\d+)/i.exec(block);
  if (!length) throw new Error(`part without Content-Length: ${JSON.stringify(block.slice(0, 200))}`);
  viewer.bodyLength = viewer.remaining = Number(length[1]);
  viewer.sequence = Number(/X-Sequence: *(\d+)/i.exec(block)?.[1] ?? -1);
  viewer.timestamp = Number(/X-Timestamp: *([\d.]+)/i.exec(block)?.[1] ?? 0);
  viewer.firstByte = -1;
  viewer.last = 0;
}

/** What a viewer reads from: a socket, or an HTTP/2 stream (paused to read slowly). */
interface Source {
  pause(): unknown;
  resume(): unknown;
}

/** Multipart bytes (after any chunked framing is removed). */
function parseParts(viewer: Viewer, chunk: Buffer, socket: Source): void {
  let pos = 0;
  while (pos < chunk.length) {
    if (viewer.phase === Phase.Body) {
      const take = Math.min(viewer.remaining, chunk.length - pos);
      const bodyPos = viewer.bodyLength - viewer.remaining;
      if (bodyPos === 0) viewer.firstByte = chunk[pos]! << 8;
      if (bodyPos <= 1 && bodyPos + take >= 2) viewer.firstByte |= bodyPos === 0 ? chunk[pos + 1]! : chunk[pos]!;
      if (take >= 2) viewer.last = (chunk[pos + take - 2]! << 8) | chunk[pos + take - 1]!;
      else if (take === 1) viewer.last = ((viewer.last & 0xff) << 8) | chunk[pos]!;
      viewer.remaining -= take;
      pos += take;
      if (viewer.remaining === 0) {
        viewer.phase = Phase.PartHead;
        if ((viewer.firstByte !== 0xffd8 || (viewer.last & 0xffff) !== 0xffd9) && viewer.bodyLength > 0) invalid++;
        frameDone(viewer);
        readSlowly(viewer, socket);
      }
      continue;
    }
    pos += readHead(viewer, chunk.subarray(pos), (block) => {
      parsePartHead(viewer, block);
      viewer.phase = Phase.Body;
    });
  }
}

/** A slow viewer pauses after each frame. */
function readSlowly(viewer: Viewer, socket: Source): void {
  if (!viewer.slow) return;
  socket.pause();
  setTimeout(() => socket.resume(), 250);
}

/** Fragmented MP4: top-level boxes, only moof and moov copied (they are small), mdat counted. */
function parseBoxes(viewer: Viewer, chunk: Buffer, socket: Source): void {
  const box = viewer.box;
  if (measuring) box.windowBytes += chunk.length;
  let pos = 0;
  while (pos < chunk.length) {
    if (box.remaining === 0) {
      pos += readBoxHead(box, chunk, pos);
      continue;
    }
    const take = Math.min(box.remaining, chunk.length - pos);
    if (box.kept) {
      chunk.copy(box.kept, box.keptLength, pos, pos + take);
      box.keptLength += take;
    }
    box.remaining -= take;
    pos += take;
    if (box.remaining === 0) boxDone(viewer, socket);
  }
}

/** Reads (part of) a box's size and type; returns the bytes used. */
function readBoxHead(box: Mp4Box, chunk: Buffer, pos: number): number {
  const want = box.headLength >= 8 && box.head.readUInt32BE(0) === 1 ? 16 : 8;
  const take = Math.min(want - box.headLength, chunk.length - pos);
  chunk.copy(box.head, box.headLength, pos, pos + take);
  box.headLength += take;
  if (box.headLength < want) return take;
  const small = box.head.readUInt32BE(0);
  if (small === 1 && want === 8) return take; // a 64-bit size follows
  const size = small === 1 ? Number(box.head.readBigUInt64BE(8)) : small;
  if (size < want) throw new Error(`MP4 box of size ${size}`);
  const type = box.head.toString('latin1', 4, 8);
  box.isMdat = type === 'mdat';
  box.kept = type === 'moof' || type === 'moov' ? Buffer.allocUnsafe(size) : null;
  if (box.kept) box.head.copy(box.kept, 0, 0, want);
  box.keptLength = want;
  box.remaining = size - want;
  box.headLength = 0;
  if (box.remaining === 0) box.kept = null; // an empty box: nothing to read
  return take;
}

function boxDone(viewer: Viewer, socket: Source): void {
  const box = viewer.box;
  const kept = box.kept;
  box.kept = null;
  if (kept && kept.toString('latin1', 4, 8) === 'moov') box.init = readInit(kept);
  else if (kept) {
    if (!box.init) throw new Error('a fragment before the init segment');
    const fragment = readFragment(kept, box.init);
    if (viewer.firstFrameAt === 0 && !fragment.keyframe) invalid++;
    viewer.timestamp = fragment.decodeTime / box.init.timescale;
    box.afterMoof = true;
  } else if (box.isMdat) {
    if (!box.afterMoof) invalid++;
    box.afterMoof = false;
    frameDone(viewer);
    readSlowly(viewer, socket);
  }
}

/** Finds a header block's blank line, across chunks if it is split; returns the bytes used. */
function readHead(viewer: Viewer, rest: Buffer, onBlock: (block: string) => void): number {
  // A part's delimiter comes at the end of the previous part, so a header block is pending at
  // almost every part: join it with the start of the chunk, not with the picture behind it (that
  // copy of every frame made this load generator the bottleneck at 1000 viewers).
  const prefix = viewer.pending && rest.length > HEAD_SEARCH_BYTES ? rest.subarray(0, HEAD_SEARCH_BYTES) : rest;
  let haystack = viewer.pending ? Buffer.concat([viewer.pending, prefix]) : rest;
  let end = haystack.indexOf(HEAD_END);
  if (end === -1 && prefix !== rest) {
    haystack = Buffer.concat([viewer.pending!, rest]);
    end = haystack.indexOf(HEAD_END);
  }
  if (end === -1) {
    if (haystack.length > 64 * 1024) throw new Error('headers too long');
    viewer.pending = Buffer.from(haystack);
    return rest.length;
  }
  const consumed = end + HEAD_END.length - (viewer.pending?.length ?? 0);
  viewer.pending = null;
  onBlock(haystack.toString('latin1', 0, end));
  return consumed;
}

/** Removes chunked framing, passing the payload on without copying it. */
function dechunk(viewer: Viewer, chunk: Buffer, socket: Source): void {
  let pos = 0;
  while (pos < chunk.length) {
    if (viewer.chunkState === ChunkState.Size) {
      const newline = chunk.indexOf(0x0a, pos);
      if (newline === -1) {
        viewer.sizeLine += chunk.toString('latin1', pos);
        return;
      }
      const size = parseInt(viewer.sizeLine + chunk.toString('latin1', pos, newline), 16);
      viewer.sizeLine = '';
      pos = newline + 1;
      if (!(size > 0)) throw new Error('chunked stream ended');
      viewer.chunkLeft = size;
      viewer.chunkState = ChunkState.Data;
    } else if (viewer.chunkState === ChunkState.Data) {
      const take = Math.min(viewer.chunkLeft, chunk.length - pos);
      parseParts(viewer, chunk.subarray(pos, pos + take), socket);
      pos += take;
      viewer.chunkLeft -= take;
      if (viewer.chunkLeft === 0) {
        viewer.chunkState = ChunkState.Crlf;
        viewer.chunkLeft = 2;
      }
    } else {
      const take = Math.min(viewer.chunkLeft, chunk.length - pos);
      pos += take;
      viewer.chunkLeft -= take;
      if (viewer.chunkLeft === 0) viewer.chunkState = ChunkState.Size;
    }
  }
}

function onData(viewer: Viewer, chunk: Buffer, socket: Source): void {
  let pos = 0;
  if (viewer.phase === Phase.HttpHead) {
    pos = readHead(viewer, chunk, (block) => {
      if (!/^HTTP\/1\.[01] 200/.test(block)) throw new Error(`HTTP status: ${block.split('\r\n')[0]}`);
      viewer.chunked = /\r\ntransfer-encoding: *chunked/i.test(block);
      viewer.phase = Phase.PartHead;
    });
    if (viewer.phase === Phase.HttpHead) return;
  }
  const rest = pos === 0 ? chunk : chunk.subarray(pos);
  if (fmp4) parseBoxes(viewer, rest, socket);
  else if (viewer.chunked) dechunk(viewer, rest, socket);
  else parseParts(viewer, rest, socket);
}

function open(index: number): void {
  const viewer: Viewer = {
    slow: slowEvery > 0 && index % slowEvery === slowEvery - 1,
    startedAt: performance.now(),
    phase: Phase.HttpHead,
    pending: null,
    remaining: 0,
    bodyLength: 0,
    firstByte: 0,
    last: 0,
    sequence: -1,
    timestamp: 0,
    lastSequence: -1,
    firstFrameAt: 0,
    windowFrames: 0,
    windowGaps: 0,
    lastFrameAt: 0,
    longestWaitMs: 0,
    closed: false,
    chunked: false,
    chunkLeft: 0,
    chunkState: ChunkState.Size,
    sizeLine: '',
    box: {
      head: Buffer.alloc(fmp4 ? 16 : 0),
      headLength: 0,
      kept: null,
      keptLength: 0,
      remaining: 0,
      isMdat: false,
      init: null,
      afterMoof: false,
      windowBytes: 0,
    },
  };
  viewers.push(viewer);
  const fail = (error: Error, destroy: () => void) => {
    errors++;
    if (errors <= 3) console.error(`viewer ${index}: ${error.message}`);
    destroy();
  };
  if (streamsPerSession > 0) {
    // HTTP/2: no HTTP/1 head on the stream, its status comes as a frame of its own.
    const stream = session(index).request({ ':path': `${url.pathname}${url.search}` });
    stream.on('response', (headers) => {
      if (headers[':status'] !== 200) fail(new Error(`HTTP status: ${headers[':status']}`), () => stream.destroy());
      else viewer.phase = Phase.PartHead;
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        onData(viewer, chunk, stream);
      } catch (error) {
        fail(error as Error, () => stream.destroy());
      }
    });
    stream.on('error', () => errors++);
    stream.on('close', () => (viewer.closed = true));
    return;
  }
  if (url.protocol === 'https:') {
    // No onread for TLS sockets: each read is a buffer of its own.
    const secure = connectTls(
      { port: Number(url.port), host: url.hostname, servername: url.hostname, ca, ALPNProtocols: ['http/1.1'] },
      () => secure.write(request),
    );
    secure.on('data', (chunk: Buffer) => {
      try {
        onData(viewer, chunk, secure);
      } catch (error) {
        fail(error as Error, () => secure.destroy());
      }
    });
    secure.setNoDelay(true);
    secure.on('error', () => errors++);
    secure.on('close', () => (viewer.closed = true));
    return;
  }
  const socket = connect(
    {
      port: Number(url.port),
      host: url.hostname,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number, buffer: Uint8Array) => {
          try {
            onData(viewer, Buffer.from(buffer.buffer, buffer.byteOffset, bytes), socket);
          } catch (error) {
            errors++;
            if (errors <= 3) console.error(`viewer ${index}: ${(error as Error).message}`);
            socket.destroy();
          }
          return true;
        },
      },
    },
    () => socket.write(request),
  );
  socket.setNoDelay(true);
  socket.on('error', () => {
    errors++;
  });
  socket.on('close', () => {
    viewer.closed = true;
  });
}

const sessions: ClientHttp2Session[] = [];
/** The HTTP/2 connection viewer `index` shares with the other tiles of its page. */
function session(index: number): ClientHttp2Session {
  const page = Math.floor(index / streamsPerSession);
  if (!sessions[page]) {
    const opened = connectHttp2(url.origin, { ca, settings: { initialWindowSize: 6 * 1024 * 1024 } });
    opened.on('connect', () => opened.setLocalWindowSize(15 * 1024 * 1024));
    opened.on('error', () => errors++);
    sessions[page] = opened;
  }
  return sessions[page];
}

// Connect in batches: thousands of SYNs at once overflow a listen backlog of 511.
const BATCH = 100;
const batchEveryMs = values['arrive-within-ms'] === undefined ? 20 : Number(values['arrive-within-ms']) / Math.ceil(viewerCount / BATCH);
console.error('arriving'); // the orchestrator marks the start of a storm here
for (let i = 0; i < viewerCount; i += BATCH) {
  for (let k = i; k < Math.min(viewerCount, i + BATCH); k++) open(k);
  await new Promise((resolve) => setTimeout(resolve, batchEveryMs));
}
await new Promise((resolve) => setTimeout(resolve, warmupMs));
const cpuBefore = process.cpuUsage();
const windowStart = performance.now();
measuring = true;
console.error('measuring'); // the orchestrator samples the servers' CPU between these two lines
await new Promise((resolve) => setTimeout(resolve, durationMs));
measuring = false;
console.error('measured');
const windowSeconds = (performance.now() - windowStart) / 1000;
const cpu = process.cpuUsage(cpuBefore);

const normal = viewers.filter((v) => !v.slow);
const fps = normal.map((v) => v.windowFrames / windowSeconds).sort((a, b) => a - b);
const ttff = viewers
  .filter((v) => v.firstFrameAt > 0)
  .map((v) => v.firstFrameAt - v.startedAt)
  .sort((a, b) => a - b);
const sortedLatency = latencies.subarray(0, latencyCount).sort();
console.log(
  JSON.stringify({
    viewers: viewerCount,
    slowViewers: viewers.length - normal.length,
    windowSeconds,
    framesDelivered: viewers.reduce((sum, v) => sum + v.windowFrames, 0),
    fps: { median: percentile(fps, 50), p10: percentile(fps, 10), min: fps[0] ?? null },
    slowFps: (() => {
      const slow = viewers
        .filter((v) => v.slow)
        .map((v) => v.windowFrames / windowSeconds)
        .sort((a, b) => a - b);
      return slow.length ? { median: percentile(slow, 50) } : null;
    })(),
    firstFrameMs: { median: percentile(ttff, 50), p99: percentile(ttff, 99), max: ttff[ttff.length - 1] ?? null },
    neverGotFrame: viewers.length - ttff.length,
    latencyMs: { p50: percentile(sortedLatency, 50), p99: percentile(sortedLatency, 99) },
    sequenceGaps: normal.reduce((sum, v) => sum + v.windowGaps, 0),
    longestWaitMs: (() => {
      const waits = normal.map((v) => v.longestWaitMs).sort((a, b) => a - b);
      return { p99: percentile(waits, 99), max: waits[waits.length - 1] ?? null };
    })(),
    closed: viewers.filter((v) => v.closed).length,
    invalid,
    errors,
    ...(fmp4 ? { windowBytes: viewers.reduce((sum, v) => sum + v.box.windowBytes, 0) } : {}),
    loadgenCpuMsPerSecond: (cpu.user + cpu.system) / 1000 / windowSeconds,
  }),
);
process.exit(0);
