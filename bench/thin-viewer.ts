/**
 * One viewer for bench:thin, run in the thin link's network namespace (a process cannot enter
 * another one): reads the stream at --url for --seconds and prints, as one JSON line, what it
 * got after the first --warmup seconds: frames a second, bits a second, and how old each frame
 * was when it arrived (its X-Timestamp to receipt, one clock: the same host). With --h2 K it is
 * a page of K tiles of that stream over one HTTP/2 connection (https://, trusting --ca): the
 * frame rate is a tile's, the ages every tile's.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamViewer } from '@camrelay/clients';
import { MultipartParser, boundaryOf } from '@camrelay/multipart';
import { percentile } from './percentile.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    h2: { type: 'string' },
    ca: { type: 'string' },
  },
});
if (!values.url) throw new Error('--url is required');
const seconds = Number(values.seconds);
const warmupMs = Number(values.warmup) * 1000;
const tiles = values.h2 === undefined ? 1 : Number(values.h2);

/** Frames as they arrive (X-Timestamp in seconds, receipt in ms), and the bytes of the window. */
let frames: Array<{ timestamp: number; receivedAt: number }> = [];
let bytes = 0;
let measuring = false;
let close: () => void;
let countBytes = () => {};
if (values.h2 === undefined) {
  const viewer = new StreamViewer(values.url, { keepJpegs: false });
  frames = viewer.frames;
  close = () => viewer.close();
  countBytes = () => viewer.response?.on('data', (chunk: Buffer) => (bytes += chunk.length));
} else {
  const url = new URL(values.url);
  const session = connect(url.origin, { ca: values.ca ? readFileSync(values.ca, 'utf8') : undefined });
  session.on('error', (error: Error) => console.error(`thin viewer: ${error.message}`));
  for (let i = 0; i < tiles; i++) {
    const stream = session.request({ ':path': `${url.pathname}${url.search}` });
    let parser: MultipartParser | undefined;
    stream.on('response', (headers) => (parser = new MultipartParser(boundaryOf(String(headers['content-type'])))));
    stream.on('data', (chunk: Buffer) => {
      if (measuring) bytes += chunk.length;
      for (const part of parser?.push(chunk) ?? []) frames.push({ timestamp: Number(part.headers['x-timestamp']), receivedAt: Date.now() });
    });
  }
  close = () => session.destroy();
}
const started = Date.now();
await sleep(warmupMs);
const from = frames.length;
measuring = true;
countBytes();
await sleep(seconds * 1000 - warmupMs);
const window = frames.slice(from);
close();
const windowSeconds = (Date.now() - started - warmupMs) / 1000;
const ages = window.map((frame) => frame.receivedAt - frame.timestamp * 1000).sort((a, b) => a - b);
console.log(
  JSON.stringify({
    fps: window.length / tiles / windowSeconds,
    mbitPerSecond: (bytes * 8) / windowSeconds / 1e6,
    ageMs: { p50: percentile(ages, 50), p95: percentile(ages, 95), max: ages.at(-1) ?? null },
  }),
);
process.exit(0);
