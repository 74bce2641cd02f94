/**
 * The floor: the least a Node server can do to serve the same stream. Raw sockets, no HTTP
 * framework, no bus: one timer writes the same pre-built part to every socket, with the
 * gateway's backpressure rule (a socket that has not drained skips the frame). camrelay's
 * gateway is measured against this.
 *
 * With --fmp4 FILE it serves an H.264 stream (stream.mp4) instead: FILE's init segment, then its
 * fragments in a loop (FILE must hold whole groups of pictures), each given a decode time of now
 * (as capture stamps the capture time), with the gateway's rule for video (VideoFanout): a new
 * socket gets the init segment and the current group of pictures in one write, and one that has
 * more than its allowance unsent waits for the next keyframe.
 *
 *   node bench/dist/floor.js --port P --frames DIR --fps 30
 *   node bench/dist/floor.js --port P --fmp4 FILE --fps 30
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Fmp4Splitter, readFragment, readInit, retime } from '@camrelay/frame';
import type { FragmentInfo } from '@camrelay/frame';
import { encodePart, streamContentType, streamPreamble } from '@camrelay/multipart';

const { values } = parseArgs({
  options: { port: { type: 'string' }, frames: { type: 'string' }, fmp4: { type: 'string' }, fps: { type: 'string', default: '30' } },
});
const fps = Number(values.fps);

/** What the floor serves: the response's start, and each tick's bytes for every socket. */
interface Stream {
  readonly contentType: string;
  /** The body's start for a socket that joins now. */
  joining(): Buffer[];
  /** The next frame, built once for every socket. */
  next(sequence: number): void;
  /** Writes the current frame to a socket that can take it. */
  offer(socket: Socket): void;
  forget(socket: Socket): void;
}

function motionJpeg(dir: string): Stream {
  const jpegs = readdirSync(dir)
    .filter((name) => name.endsWith('.jpg'))
    .sort()
    .map((name) => readFileSync(join(dir, name)));
  const preamble = streamPreamble();
  let latest: Buffer | null = null;
  return {
    contentType: streamContentType(),
    joining: () => [preamble, ...(latest ? [latest] : [])],
    next(sequence) {
      latest = encodePart(jpegs[sequence % jpegs.length]!, { capturedAt: Date.now(), sequence });
    },
    offer(socket) {
      if (socket.writableLength === 0) socket.write(latest!);
    },
    forget: () => undefined,
  };
}

/** As the gateway's VideoFanout: MIN_BACKLOG_ALLOWANCE, or twice the latest keyframe. */
const MIN_BACKLOG_ALLOWANCE = 256 * 1024;

function fragmentedMp4(file: string): Stream {
  let init: Buffer | null = null;
  const fragments: Array<{ bytes: Buffer; info: FragmentInfo }> = [];
  const splitter = new Fmp4Splitter(
    (bytes) => (init = bytes),
    (bytes) => fragments.push({ bytes, info: readFragment(bytes, readInit(init!)) }),
  );
  splitter.push(readFileSync(file));
  if (!init || !fragments[0]?.info.keyframe) throw new Error(`${file}: no init segment, or its first fragment is not a keyframe`);
  const initInfo = readInit(init);
  const ticksPerMs = initInfo.timescale / 1000;
  const group: Buffer[] = [];
  let current: Buffer | null = null;
  let keyframe = false;
  let allowance = MIN_BACKLOG_ALLOWANCE;
  const waiting = new WeakSet<Socket>();
  return {
    contentType: 'video/mp4',
    joining: () => [init!, ...group],
    next(sequence) {
      const source = fragments[sequence % fragments.length]!;
      // A copy: the one before may still sit in sockets' queues, and its time must stay its own.
      current = Buffer.from(source.bytes);
      retime(current, source.info, Math.round(Date.now() * ticksPerMs), Math.round((1000 / fps) * ticksPerMs));
      keyframe = source.info.keyframe;
      if (keyframe) {
        group.length = 0;
        allowance = Math.max(MIN_BACKLOG_ALLOWANCE, 2 * current.length);
      }
      group.push(current);
    },
    offer(socket) {
      if (socket.writableLength > allowance) {
        waiting.add(socket);
        return;
      }
      if (waiting.has(socket)) {
        if (!keyframe) return;
        waiting.delete(socket);
      }
      socket.write(current!);
    },
    forget: (socket) => waiting.delete(socket),
  };
}

const stream = values.fmp4 ? fragmentedMp4(values.fmp4) : motionJpeg(values.frames!);
const head = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: ${stream.contentType}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`,
  'latin1',
);
const sockets = new Set<Socket>();

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let request = '';
  const onData = (chunk: Buffer) => {
    request += chunk.toString('latin1');
    if (!request.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    socket.write(Buffer.concat([head, ...stream.joining()]));
    sockets.add(socket);
  };
  socket.on('data', onData);
  socket.on('close', () => {
    sockets.delete(socket);
    stream.forget(socket);
  });
  socket.on('error', () => socket.destroy());
});

const started = Date.now();
let sequence = 0;
function tick() {
  stream.next(sequence);
  sequence++;
  for (const socket of sockets) stream.offer(socket);
  // Paced against the start time, as capture paces, so the rate does not drift.
  setTimeout(tick, Math.max(0, started + (sequence * 1000) / fps - Date.now()));
}

// The gateway's listen backlog (services/gateway/src/gateway.ts), so that a storm meets the same queue.
server.listen({ port: Number(values.port), host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`floor listening on http://127.0.0.1:${values.port}`);
  tick();
});
process.on('SIGTERM', () => process.exit(0));
