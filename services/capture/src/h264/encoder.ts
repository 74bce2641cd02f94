/**
 * One H.264 feed of one camera: an FFmpeg process (ffmpeg-args.ts) fed the camera's frames as
 * raw pixels, its fragmented MP4 cut into fragments (@camrelay/frame's Fmp4Splitter), each
 * published as a segment envelope. Runs in the camera's worker process, so a crash or a hang
 * here costs this camera alone.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { Fmp4Splitter, encodeSegment, readFragment, readInit, retime } from '@camrelay/frame';
import type { InitInfo } from '@camrelay/frame';
import { ffmpegArgs } from './ffmpeg-args.js';

/** Frames written to FFmpeg and not yet out: beyond this it is behind, and frames are not given to it. */
const MAX_FRAMES_IN_ENCODER = 3;

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
  private initInfo: InitInfo | null = null;
  private index = 0;
  private lastDecodeTime = -1;
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
    const splitter = new Fmp4Splitter(
      (init) => this.onInit(init),
      (fragment) => this.onFragment(fragment),
    );
    let errors = '';
    this.ffmpeg.stderr.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-2000)));
    this.ffmpeg.stdout.on('data', (chunk: Buffer) => {
      try {
        splitter.push(chunk);
      } catch (error) {
        this.fail(`its output is not fragmented MP4: ${(error as Error).message}`);
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

  private onInit(init: Buffer): void {
    this.init = init;
    this.initInfo = readInit(init);
  }

  /**
   * A fragment out: the frame it holds is the oldest given in. Its decode time becomes the
   * frame's capture time, so that a stream's timeline is the wall clock, continuous across a
   * restarted encoder, worker or capture instance; its duration, the gap to the next frame
   * given in (FFmpeg cuts a fragment when that frame arrives).
   */
  private onFragment(fragment: Buffer): void {
    const frame = this.pending.shift();
    if (!frame || !this.init || !this.initInfo) return;
    const info = readFragment(fragment, this.initInfo);
    const ticksPerMs = this.initInfo.timescale / 1000;
    const decodeTime = Math.max(Math.round(frame.capturedAt * ticksPerMs), this.lastDecodeTime + 1);
    const next = this.pending[0];
    const duration = next ? Math.max(1, Math.round((next.capturedAt - frame.capturedAt) * ticksPerMs)) : undefined;
    retime(fragment, info, decodeTime, duration);
    this.lastDecodeTime = decodeTime;
    this.index = info.keyframe ? 0 : this.index + 1;
    this.encoded++;
    const { feed, width, height } = this.options;
    this.options.publish(
      feed,
      encodeSegment({
        sequence: frame.sequence,
        capturedAt: frame.capturedAt,
        width,
        height,
        keyframe: info.keyframe,
        index: this.index,
        init: info.keyframe ? this.init : null,
        fragment,
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
