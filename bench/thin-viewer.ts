/**
 * One viewer for bench:thin, run in the thin link's network namespace (a process cannot enter
 * another one): reads the stream at --url for --seconds and prints, as one JSON line, what it
 * got after the first --warmup seconds: frames a second, bits a second, and how old each frame
 * was when it arrived (its X-Timestamp to receipt, one clock: the same host).
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamViewer } from '@camrelay/clients';
import { percentile } from './percentile.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
  },
});
if (!values.url) throw new Error('--url is required');
const seconds = Number(values.seconds);
const warmupMs = Number(values.warmup) * 1000;

const viewer = new StreamViewer(values.url, { keepJpegs: false });
let bytes = 0;
const started = Date.now();
await sleep(warmupMs);
const from = viewer.frames.length;
viewer.response?.on('data', (chunk: Buffer) => (bytes += chunk.length));
await sleep(seconds * 1000 - warmupMs);
const frames = viewer.frames.slice(from);
viewer.close();
const windowSeconds = (Date.now() - started - warmupMs) / 1000;
const ages = frames.map((frame) => frame.receivedAt - frame.timestamp * 1000).sort((a, b) => a - b);
console.log(
  JSON.stringify({
    fps: frames.length / windowSeconds,
    mbitPerSecond: (bytes * 8) / windowSeconds / 1e6,
    ageMs: { p50: percentile(ages, 50), p95: percentile(ages, 95), max: ages.at(-1) ?? null },
  }),
);
