/**
 * One H.264 feed of one camera: an FFmpeg process (ffmpeg-args.ts) fed the camera's frames as
 * raw pixels, each frame it encodes (read from its FLV, flv-reader.ts) made into a fragment of
 * fragmented MP4 (fmp4-writer.ts) and published as a segment envelope. Runs in the camera's
 * worker process, so a crash or a hang here costs this camera alone.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { encodeSegment } from '@camrelay/frame';
import { ffmpegArgs } from './ffmpeg-args.js';
import { FlvReader } from './flv-reader.js';
import { TIMESCALE, fragment, initSegment } from './fmp4-writer.js';

/** Frames written to FFmpeg and not yet out: beyond this it is behind, and frames are not given to it. */
const MAX_FRAMES_IN_ENCODER = 3;
const TICKS_PER_MS = TIMESCALE / 1000;

export interface H264EncoderOptions {
  readonly feed: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly log: Logger;
  /** Where each segment envelope goes (the worker's frame pipe). */
  readonly publish: (feed: string, envelope: Buffer) => void;
  /** The encoder ended on its own (FFmpeg failed or is missing). */
  readonly onEnd: (encoder: H264Encoder) => void;
  /** @default 'ffmpeg' */
  readonly ffmpegPath?: string;
}

/** A frame given to the encoder, awaiting its fragment. */
interface Pending {
  readonly sequence: number;
  readonly capturedAt: number;
}

export class H264Encoder {
  readonly width: number;
  readonly height: number;
  private readonly ffmpeg: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly pending: Pending[] = [];
  private init: Buffer | null = null;
  private index = 0;
  private fragments = 0;
  private last: { readonly decodeTime: number; readonly duration: number } | null = null;
  private closed = false;
  /** Frames encoded, and frames not given to the encoder because it was behind. */
  encoded = 0;
  behind = 0;

  constructor(private readonly options: H264EncoderOptions) {
    this.width = options.width;
    this.height = options.height;
    this.ffmpeg = spawn(options.ffmpegPath ?? 'ffmpeg', ffmpegArgs(options.width, options.height, options.fps), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const reader = new FlvReader(
      (avcC) => (this.init = initSegment(avcC, options.width, options.height)),
      (keyframe, nalUnits) => this.onFrame(keyframe, nalUnits),
    );
    let errors = '';
    this.ffmpeg.stderr.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-2000)));
    this.ffmpeg.stdout.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        this.fail(`its output is not H.264 in FLV: ${(error as Error).message}`);
      }
    });
    // A closed pipe (FFmpeg gone) must not end the worker.
    this.ffmpeg.stdin.on('error', () => undefined);
    this.ffmpeg.on('error', (error) => this.fail(error.message));
    this.ffmpeg.on('exit', (code, signal) => this.fail(`it exited (${signal ?? code}): ${errors.trim() || 'no message'}`));
  }

  /** One frame's pixels, BGR, width x height: given to FFmpeg unless it is behind. */
  encode(pixels: Buffer, sequence: number, capturedAt: number): void {
    if (this.closed) return;
    if (this.pending.length >= MAX_FRAMES_IN_ENCODER + 1) {
      this.behind++;
      return;
    }
    this.pending.push({ sequence, capturedAt });
    this.ffmpeg.stdin.write(pixels);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ffmpeg.stdin.end();
    this.ffmpeg.kill('SIGKILL');
  }

  /**
   * A frame out: the oldest given in. Its decode time is its capture time, so that a stream's
   * timeline is the wall clock, continuous across a restarted encoder, worker or capture
   * instance. Its duration is not known yet (the next frame has not come): the gap before it
   * stands in, as a camera's rate changes slowly.
   */
  private onFrame(keyframe: boolean, nalUnits: Buffer): void {
    const frame = this.pending.shift();
    if (!frame || !this.init) return;
    const last = this.last;
    const decodeTime = Math.max(Math.round(frame.capturedAt * TICKS_PER_MS), last ? last.decodeTime + 1 : 0);
    const gap = last ? decodeTime - last.decodeTime : Math.round(TIMESCALE / this.options.fps);
    const duration = Math.min(Math.max(gap, 1), TIMESCALE);
    this.last = { decodeTime, duration };
    this.index = keyframe ? 0 : this.index + 1;
    this.encoded++;
    const { feed, width, height } = this.options;
    this.options.publish(
      feed,
      encodeSegment({
        sequence: frame.sequence,
        capturedAt: frame.capturedAt,
        width,
        height,
        keyframe,
        index: this.index,
        init: keyframe ? this.init : null,
        fragment: fragment({ sequenceNumber: ++this.fragments, decodeTime, duration, keyframe, data: nalUnits }),
      }),
    );
  }

  private fail(why: string): void {
    if (this.closed) return;
    this.close();
    this.options.log.warn({ feed: this.options.feed, why }, 'H.264 encoder (FFmpeg) ended; it is started again at the next frame');
    this.options.onEnd(this);
  }
}
