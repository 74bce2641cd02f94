/**
 * The floor: the least a Node server can do to serve the same stream. Raw sockets, no HTTP
 * framework, no bus: one timer writes the same pre-built part to every socket, with the
 * gateway's backpressure rule (a socket that has not drained skips the frame). camrelay's
 * gateway is measured against this.
 *
 *   node bench/dist/floor.js --port P --frames DIR --fps 30
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodePart, streamContentType, streamPreamble } from '@camrelay/multipart';

const { values } = parseArgs({ options: { port: { type: 'string' }, frames: { type: 'string' }, fps: { type: 'string', default: '30' } } });
const fps = Number(values.fps);
const jpegs = readdirSync(values.frames!)
  .filter((name) => name.endsWith('.jpg'))
  .sort()
  .map((name) => readFileSync(join(values.frames!, name)));
const head = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: ${streamContentType()}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`,
  'latin1',
);
const preamble = streamPreamble();
const sockets = new Set<Socket>();
let latest: Buffer | null = null;

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let request = '';
  const onData = (chunk: Buffer) => {
    request += chunk.toString('latin1');
    if (!request.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    socket.write(Buffer.concat([head, preamble, ...(latest ? [latest] : [])]));
    sockets.add(socket);
  };
  socket.on('data', onData);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
});

const started = Date.now();
let sequence = 0;
function tick() {
  const capturedAt = Date.now();
  latest = encodePart(jpegs[sequence % jpegs.length]!, { capturedAt, sequence });
  sequence++;
  for (const socket of sockets) if (socket.writableLength === 0) socket.write(latest);
  // Paced against the start time, as capture paces, so the rate does not drift.
  setTimeout(tick, Math.max(0, started + (sequence * 1000) / fps - Date.now()));
}

// The gateway's listen backlog (services/gateway/src/gateway.ts), so that a storm meets the same queue.
server.listen({ port: Number(values.port), host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`floor listening on http://127.0.0.1:${values.port}`);
  tick();
});
process.on('SIGTERM', () => process.exit(0));
