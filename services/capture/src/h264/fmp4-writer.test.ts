import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fmp4Splitter, readFragment, readInit } from '@camrelay/frame';
import { ffmpegArgs } from './ffmpeg-args.js';
import { FlvReader } from './flv-reader.js';
import { TIMESCALE, fragment, initSegment } from './fmp4-writer.js';

const [WIDTH, HEIGHT, FPS, FRAMES] = [160, 120, 10, 25];
/** A Unix time in 90 kHz ticks, past 32 bits: decode times as capture sets them. */
const START = 1_796_000_000 * TIMESCALE;
/** Uneven gaps, as a live camera's: 100 ms, then 90 and 110 in turn. */
const decodeTimeOf = (n: number) => START + n * 9000 + (n % 2) * -900;

/** Capture's FFmpeg arguments on FRAMES raw frames of FFmpeg's test picture: its FLV. */
function encode(): Buffer {
  const raw = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${WIDTH}x${HEIGHT}:rate=${FPS}`,
      '-frames:v',
      String(FRAMES),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'bgr24',
      'pipe:1',
    ],
    { maxBuffer: 64 << 20 },
  );
  const flv = spawnSync('ffmpeg', ffmpegArgs(WIDTH, HEIGHT, FPS), { input: raw.stdout, maxBuffer: 64 << 20 });
  assert.equal(flv.status, 0, String(flv.stderr));
  return flv.stdout;
}

describe("capture's fragmented MP4, from FFmpeg's FLV", () => {
  let dir: string;
  let stream: Buffer;
  let keyframes: number[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'camrelay-fmp4-writer-'));
    const parts: Buffer[] = [];
    keyframes = [];
    let n = 0;
    const reader = new FlvReader(
      (avcC) => parts.push(initSegment(avcC, WIDTH, HEIGHT)),
      (keyframe, data) => {
        if (keyframe) keyframes.push(n);
        const duration = decodeTimeOf(n + 1) - decodeTimeOf(n);
        parts.push(fragment({ sequenceNumber: n + 1, decodeTime: decodeTimeOf(n), duration, keyframe, data }));
        n++;
      },
    );
    // In odd pieces, as a pipe delivers it.
    const flv = encode();
    for (let at = 0; at < flv.length; at += 333) reader.push(flv.subarray(at, at + 333));
    stream = Buffer.concat(parts);
    writeFileSync(join(dir, 'stream.mp4'), stream);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a frame a fragment, a keyframe a second (one every FPS frames)', () => {
    assert.deepEqual(keyframes, [0, 10, 20]);
  });

  it('is read by FFmpeg frame for frame: its decode times, keyframes, codec and size, without a decoding error', () => {
    const packets = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=dts,flags', '-of', 'csv=p=0', join(dir, 'stream.mp4')], {
      encoding: 'utf8',
    });
    assert.deepEqual(
      packets.stdout.trim().split('\n'),
      Array.from({ length: FRAMES }, (_, n) => `${decodeTimeOf(n)},${keyframes.includes(n) ? 'K_' : '__'}`),
    );
    const stream = spawnSync(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'stream=codec_name,profile,width,height', '-of', 'csv=p=0', join(dir, 'stream.mp4')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(stream.stdout.trim(), `h264,Constrained Baseline,${WIDTH},${HEIGHT}`);
    const decoded = spawnSync(
      'ffmpeg',
      ['-v', 'error', '-i', join(dir, 'stream.mp4'), '-fps_mode', 'passthrough', '-enc_time_base', '-1', '-f', 'null', '-'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(decoded.stderr, '', 'decoded without an error');
  });

  it('is what clients cut and read: an init segment, then fragments with their keyframes and times', () => {
    let init: Buffer | null = null;
    const read: Array<{ keyframe: boolean; decodeTime: number }> = [];
    new Fmp4Splitter(
      (bytes) => (init = bytes),
      (bytes) => read.push(readFragment(bytes, readInit(init!))),
    ).push(stream);
    assert.equal(readInit(init!).timescale, TIMESCALE);
    assert.deepEqual(
      read.map(({ keyframe, decodeTime }) => ({ keyframe, decodeTime })),
      Array.from({ length: FRAMES }, (_, n) => ({ keyframe: keyframes.includes(n), decodeTime: decodeTimeOf(n) })),
    );
  });
});
