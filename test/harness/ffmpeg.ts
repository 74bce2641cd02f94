/**
 * What FFmpeg (Debian's, as users' tools run it) makes of a recorded stream. Its H.264 decoder
 * conceals a missing reference frame without an error at the usual log levels: only its debug
 * output says "Frame num gap", which is what a fragment dropped from the middle of a group of
 * pictures causes. So the decode runs at debug level, and both are read from there.
 */
import { spawnSync } from 'node:child_process';

export interface Decoded {
  /** Frames decoded, and the decoder's own count of errors. */
  readonly frames: number;
  readonly errors: number;
  /** What went wrong, in FFmpeg's words: decoding errors, concealment, frame number gaps. */
  readonly problems: readonly string[];
  readonly width: number;
  readonly height: number;
}

const PROBLEM = /frame num gap|error while decoding|concealing|non-existing|decode_slice_header error|no frame!|invalid data/i;

export function decode(file: string): Decoded {
  // passthrough timing and the input's time base: the null muxer would otherwise round the
  // capture times (not a frame grid) onto one and complain of equal timestamps.
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'debug', '-i', file, '-map', '0:v:0'];
  const run = spawnSync('ffmpeg', [...args, '-fps_mode', 'passthrough', '-enc_time_base', '-1', '-f', 'null', '-'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const log = run.stderr;
  const summary = /(\d+) frames successfully decoded, (\d+) decoding errors/.exec(log);
  const size = /Video: h264[^\n]*?, (\d+)x(\d+)/.exec(log);
  return {
    frames: Number(summary?.[1] ?? 0),
    errors: Number(summary?.[2] ?? 0),
    problems: log.split('\n').filter((line) => PROBLEM.test(line)),
    width: Number(size?.[1] ?? 0),
    height: Number(size?.[2] ?? 0),
  };
}

/** A clip of sensor-like noise (every pixel changes every frame): H.264's worst case, ~1 MB/s at 640x480@30. */
export function writeNoiseClip(file: string, width: number, height: number, fps: number, seconds = 4): void {
  const run = spawnSync(
    'ffmpeg',
    [
      ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y'],
      ['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps},noise=alls=40:allf=t+u`],
      ['-t', String(seconds), '-c:v', 'mjpeg', '-q:v', '4', file],
    ].flat(),
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`ffmpeg could not write ${file}: ${run.stderr}`);
}
