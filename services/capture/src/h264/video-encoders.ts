/**
 * A camera's H.264 feeds: an encoder (encoder.ts) per size someone watches in H.264, started
 * when the first gateway claims it and stopped when the last claim goes, as the smaller JPEG
 * sizes are (camera/scaling.ts). Each is given every frame once, whatever the number of viewers.
 */
import type { Logger } from 'pino';
import { feedId } from '@camrelay/frame';
import type { NamedSize } from '../camera/scaling.js';
import type { Mat, OpenCV } from '../opencv.js';
import { describe } from '../opencv.js';
import type { SourceFrame } from '../sources/source.js';
import { H264Encoder } from './encoder.js';

/** The camera's own size in a set of watched H.264 sizes (a smaller size is its `WxH`). */
export const OWN_SIZE = '';

/** After an encoder fails, the next starts this long later, doubling up to MAX_RETRY_MS. */
const MIN_RETRY_MS = 2000;
const MAX_RETRY_MS = 60_000;

export interface VideoEncodersOptions {
  readonly cv: OpenCV;
  readonly cameraId: string;
  readonly log: Logger;
  readonly publish: (feed: string, envelope: Buffer) => void;
  /** @default 'ffmpeg' */
  readonly ffmpegPath?: string;
}

export class VideoEncoders {
  /** The sizes watched in H.264: OWN_SIZE, or a smaller size's `WxH`. */
  private watched: ReadonlySet<string> = new Set();
  private readonly encoders = new Map<string, H264Encoder>();
  /** Counts of the encoders stopped since. */
  private retired = { encoded: 0, behind: 0 };
  private failures = 0;
  private retryAt = 0;
  /** Frames that could not be turned into pixels for the encoders (logged once). */
  pixelFailures = 0;

  constructor(private readonly options: VideoEncodersOptions) {}

  /** Frames encoded, and frames the encoders were too busy to take, over the encoders running now. */
  get counts(): { encoded: number; behind: number } {
    let { encoded, behind } = this.retired;
    for (const encoder of this.encoders.values()) {
      encoded += encoder.encoded;
      behind += encoder.behind;
    }
    return { encoded, behind };
  }

  watch(sizes: ReadonlySet<string>): void {
    this.watched = sizes;
    for (const [size, encoder] of this.encoders) {
      if (!sizes.has(size)) this.retire(size, encoder);
    }
  }

  /** Gives a frame to the encoder of each watched size (a size not offered is skipped). */
  async encode(
    frame: SourceFrame,
    own: { readonly width: number; readonly height: number; readonly fps: number },
    offered: readonly NamedSize[],
    sequence: number,
    capturedAt: number,
  ): Promise<void> {
    if (this.watched.size === 0 || performance.now() < this.retryAt) return;
    const { cv } = this.options;
    try {
      let picture: Mat | null = null;
      for (const size of this.watched) {
        const target = size === OWN_SIZE ? own : offered.find((candidate) => candidate.name === size);
        if (!target) continue;
        const encoder = this.encoderFor(size, target.width, target.height, own.fps);
        // A source's own JPEG is decoded once for every size.
        picture ??= frame.kind === 'picture' ? frame.mat : await cv.imdecodeAsync(frame.jpeg, cv.IMREAD_COLOR);
        const scaled =
          picture.cols === target.width && picture.rows === target.height
            ? picture
            : await picture.resizeAsync(target.height, target.width, 0, 0, cv.INTER_AREA);
        encoder.encode(scaled.getData(), sequence, capturedAt);
      }
    } catch (error) {
      if (this.pixelFailures++ === 0)
        this.options.log.warn({ err: describe(error) }, 'a frame could not be given to the H.264 encoder (logged once; it skips it)');
    }
  }

  close(): void {
    for (const [size, encoder] of this.encoders) this.retire(size, encoder);
  }

  private retire(size: string, encoder: H264Encoder): void {
    encoder.close();
    if (this.encoders.get(size) === encoder) this.encoders.delete(size);
    this.retired = { encoded: this.retired.encoded + encoder.encoded, behind: this.retired.behind + encoder.behind };
  }

  /** The size's running encoder, or a new one (none yet, or the camera's size changed). */
  private encoderFor(size: string, width: number, height: number, fps: number): H264Encoder {
    const running = this.encoders.get(size);
    if (running && running.width === width && running.height === height) return running;
    if (running) this.retire(size, running);
    const { cameraId, log, publish, ffmpegPath } = this.options;
    const encoder = new H264Encoder({
      feed: feedId(cameraId, size === OWN_SIZE ? undefined : size, 'h264'),
      width,
      height,
      fps,
      log,
      publish,
      ffmpegPath,
      onEnd: (ended) => {
        this.retire(size, ended);
        // An encoder that ran a while failed for a reason of its own: the next starts soon.
        if (ended.encoded > 100) this.failures = 0;
        this.retryAt = performance.now() + Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** this.failures++);
      },
    });
    this.encoders.set(size, encoder);
    return encoder;
  }
}
