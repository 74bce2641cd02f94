/**
 * The MJPEG sources (mjpeg-sources.ts) as a process of their own, for spawnMjpegSources or by
 * hand. Prints `{"port":N}` once listening, then `{"connections":{…},"accepted":{…}}` whenever
 * the counts changed (looked at every 50 ms: cheap, and recent enough for a test that polls).
 *
 *   node tools/clients/dist/mjpeg-sources-main.js --frames DIR [--fps 30] [--reset-after 5]
 *     [--trickle-bps 4] [--port 0]
 *
 * DIR holds the ring of JPEGs (*.jpg, played in name order).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MJPEG_SOURCES_DEFAULTS as D, mjpegSourcesCountsLine, mjpegSourcesReadyLine, startMjpegSources } from './mjpeg-sources.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string' },
    fps: { type: 'string', default: String(D.fps) },
    'reset-after': { type: 'string', default: String(D.resetAfterFrames) },
    'trickle-bps': { type: 'string', default: String(D.trickleBytesPerSecond) },
    port: { type: 'string', default: String(D.port) },
  },
});
if (!values.frames) {
  console.error('mjpeg-sources: --frames DIR is required (a directory of .jpg files)');
  process.exit(2);
}
const dir = values.frames;
const jpegs = readdirSync(dir)
  .filter((name) => name.endsWith('.jpg'))
  .sort()
  .map((name) => readFileSync(join(dir, name)));
const sources = await startMjpegSources({
  jpegs,
  fps: Number(values.fps),
  resetAfterFrames: Number(values['reset-after']),
  trickleBytesPerSecond: Number(values['trickle-bps']),
  port: Number(values.port),
});
console.log(mjpegSourcesReadyLine(sources.port));

let last = '';
setInterval(() => {
  const line = mjpegSourcesCountsLine(sources);
  if (line !== last) console.log((last = line));
}, 50);

for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    void sources.close().then(() => process.exit(0));
  });
