import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EnvelopeError } from './envelope.js';
import { Fmp4Splitter, readFragment, readInit, retime } from './fmp4.js';

/** FFmpeg's live fragmented MP4, as capture asks for it: 12 frames, a keyframe every 5. */
function encodeClip(file: string): void {
  const run = spawnSync(
    'ffmpeg',
    [
      ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10', '-frames:v', '12'],
      ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '5'],
      ['-video_track_timescale', '90000', '-f', 'mp4', '-movflags', '+empty_moov+frag_every_frame+default_base_moof', file],
    ].flat(),
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
}

function split(bytes: Buffer, chunk: number): { inits: Buffer[]; fragments: Buffer[] } {
  const inits: Buffer[] = [];
  const fragments: Buffer[] = [];
  const splitter = new Fmp4Splitter(
    (init) => inits.push(init),
    (fragment) => fragments.push(fragment),
  );
  for (let at = 0; at < bytes.length; at += chunk) splitter.push(bytes.subarray(at, at + chunk));
  return { inits, fragments };
}

describe('fragmented MP4', () => {
  let dir: string;
  let clip: Buffer;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'camrelay-fmp4-'));
    encodeClip(join(dir, 'clip.mp4'));
    clip = readFileSync(join(dir, 'clip.mp4'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('cuts a stream into its init segment and one fragment per frame, however its bytes arrive', () => {
    const whole = split(clip, clip.length);
    assert.equal(whole.inits.length, 1);
    assert.equal(whole.inits[0]!.toString('latin1', 4, 8), 'ftyp');
    assert.equal(whole.fragments.length, 12);
    for (const fragment of whole.fragments) assert.equal(fragment.toString('latin1', 4, 8), 'moof');
    // Byte by byte, or in odd pieces: the same boxes, byte for byte.
    for (const chunk of [1, 7, 4096]) assert.deepEqual(split(clip, chunk), whole, `in pieces of ${chunk}`);
  });

  it('tells keyframes from the frames between them, as FFmpeg marks them', () => {
    const { inits, fragments } = split(clip, clip.length);
    const init = readInit(inits[0]!);
    assert.equal(init.timescale, 90_000);
    const keyframes = fragments.flatMap((fragment, i) => (readFragment(fragment, init).keyframe ? [i] : []));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=flags', '-of', 'csv=p=0', join(dir, 'clip.mp4')], {
      encoding: 'utf8',
    });
    const probed = probe.stdout
      .trim()
      .split('\n')
      .flatMap((flags, i) => (flags.startsWith('K') ? [i] : []));
    assert.deepEqual(keyframes, probed);
    assert.deepEqual(keyframes, [0, 5, 10]);
  });

  it('sets a fragment’s decode time, which FFmpeg then reads, and its duration', () => {
    const { inits, fragments } = split(clip, clip.length);
    const init = readInit(inits[0]!);
    const start = 1_796_000_000 * 90_000; // a Unix time, in 90 kHz ticks: past 32 bits
    fragments.forEach((fragment, i) => retime(fragment, readFragment(fragment, init), start + i * 4500, 4500));
    const third = readFragment(fragments[3]!, init);
    assert.equal(third.decodeTime, start + 3 * 4500);
    // FFmpeg's tfhd holds the default duration (flag 0x08): the one written there.
    assert.notEqual(third.durationAt, -1);
    assert.equal(fragments[3]!.readUInt32BE(third.durationAt), 4500);
    const file = join(dir, 'retimed.mp4');
    writeFileSync(file, Buffer.concat([inits[0]!, ...fragments]));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=dts', '-of', 'csv=p=0', file], { encoding: 'utf8' });
    assert.deepEqual(
      probe.stdout.trim().split('\n').map(Number),
      fragments.map((_, i) => start + i * 4500),
    );
  });

  it('refuses bytes that are not MP4 boxes', () => {
    const splitter = new Fmp4Splitter(
      () => undefined,
      () => undefined,
    );
    assert.throws(() => splitter.push(Buffer.from('\0\0\0\x04abcdefgh')), EnvelopeError);
    const { inits } = split(clip, clip.length);
    assert.throws(() => readFragment(inits[0]!, readInit(inits[0]!)), EnvelopeError);
  });
});
