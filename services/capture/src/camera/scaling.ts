/**
 * A camera's smaller sizes: which it offers its viewers besides its own, and its frames at
 * those someone watches, each scaled and encoded once per frame, whatever the number of its
 * viewers and gateways.
 */
import type { Logger } from 'pino';
import { encodeEnvelope, feedId } from '@camrelay/frame';
import type { CameraSpec } from '../cameras.js';
import type { Mat, OpenCV } from '../opencv.js';
import { describe } from '../opencv.js';
import type { SourceFrame } from '../sources/source.js';

export interface NamedSize {
  readonly width: number;
  readonly height: number;
  /** `WxH`, as viewers ask for it (`?size=`). */
  readonly name: string;
}

/** Below this in either dimension a size is not worth a feed. */
const SMALLEST = 16;

/**
 * The smaller sizes of a camera of `width` x `height`: those configured (`sizes=` in CAMERAS),
 * or by default half and quarter. Never the camera's own size and never larger: a configured
 * size that does not fit is refused (reported once through `onRefused`), as upscaling would
 * cost bandwidth for no detail.
 */
export function smallerSizes(
  configured: ReadonlyArray<{ readonly width: number; readonly height: number }> | null,
  width: number,
  height: number,
  onRefused: (sizes: string[]) => void,
): NamedSize[] {
  const candidates = configured ?? [2, 4].map((divisor) => ({ width: Math.round(width / divisor), height: Math.round(height / divisor) }));
  const offered: NamedSize[] = [];
  const refused: string[] = [];
  for (const size of candidates) {
    const name = `${size.width}x${size.height}`;
    if (size.width === width && size.height === height) continue;
    if (size.width > width || size.height > height) refused.push(name);
    else if (size.width >= SMALLEST && size.height >= SMALLEST && !offered.some((known) => known.name === name))
      offered.push({ ...size, name });
  }
  if (refused.length > 0) onRefused(refused);
  return offered;
}

export interface ScalerOptions {
  readonly cv: OpenCV;
  readonly cameraId: string;
  /** The sizes configured for the camera (`sizes=` in CAMERAS); null for half and quarter. */
  readonly configured: CameraSpec['sizes'];
  /** The camera's JPEG parameters: a smaller size is encoded as its own size is. */
  readonly encodeParams: number[];
  readonly log: Logger;
  /** Where the envelope of each smaller size goes (the camera's publisher). */
  readonly publish: (feed: string, envelope: Buffer) => void;
}

/** Publishes a camera's frames at the smaller sizes someone watches, each under its own feed (`id@WxH`). */
export class Scaler {
  /** The smaller sizes viewers may ask for, from the camera's own size (known at its first frame). */
  private offered: readonly NamedSize[] = [];
  /** The smaller sizes someone watches now, by name (`WxH`): each encoded once per frame. */
  private watched: ReadonlySet<string> = new Set();
  private width = 0;
  private height = 0;
  /** Frames encoded at each smaller size. */
  readonly scaledFrames = new Map<string, number>();
  /** Frames that could not be scaled (a source JPEG that does not decode); logged once. */
  failures = 0;

  constructor(private readonly options: ScalerOptions) {}

  /** The smaller sizes offered now, by name (`WxH`); none before the camera's size is known. */
  offeredNames(): string[] {
    return this.offered.map((size) => size.name);
  }

  /** The smaller sizes offered now. */
  get offeredSizes(): readonly NamedSize[] {
    return this.offered;
  }

  /** The smaller sizes (`WxH`) someone watches now; others are not encoded. */
  watch(sizes: ReadonlySet<string>): void {
    this.watched = sizes;
  }

  /** The camera's frames now have this size (its first frame, or a source that changed): the sizes offered follow it. */
  resize(width: number, height: number): void {
    this.offered = smallerSizes(this.options.configured, width, height, (refused) =>
      this.options.log.warn({ refused, width, height }, 'sizes larger than the camera are not offered (never upscaled)'),
    );
    this.width = width;
    this.height = height;
  }

  /**
   * The frame at each smaller size someone watches: scaled and encoded once, from the picture
   * (a source's own JPEG is decoded once for all).
   */
  async publish(frame: SourceFrame, jpeg: Buffer, sequence: number, capturedAt: number): Promise<void> {
    const wanted = this.offered.filter((size) => this.watched.has(size.name));
    if (wanted.length === 0) return;
    const { cv, cameraId, encodeParams } = this.options;
    try {
      const picture = frame.kind === 'picture' ? frame.mat : await this.decodeFor(jpeg, wanted);
      for (const size of wanted) {
        const scaled =
          picture.cols === size.width && picture.rows === size.height
            ? picture
            : await picture.resizeAsync(size.height, size.width, 0, 0, cv.INTER_AREA);
        const smaller = await cv.imencodeAsync('.jpg', scaled, encodeParams);
        this.scaledFrames.set(size.name, (this.scaledFrames.get(size.name) ?? 0) + 1);
        this.options.publish(
          feedId(cameraId, size.name),
          encodeEnvelope({ sequence, capturedAt, width: size.width, height: size.height, jpeg: smaller }),
        );
      }
    } catch (error) {
      // The frame at its own size went out; a picture that cannot be scaled costs its smaller sizes only.
      if (this.failures++ === 0)
        this.options.log.warn({ err: describe(error) }, 'a frame could not be scaled (logged once; its smaller sizes skip it)');
    }
  }

  /**
   * A source's JPEG, decoded at the smallest scale that still covers every wanted size: libjpeg
   * scales by 1/2, 1/4 or 1/8 while it decodes, which costs a fraction of a full decode (and at
   * exactly half or a quarter, no resize is left to do).
   */
  private decodeFor(jpeg: Buffer, wanted: readonly NamedSize[]): Promise<Mat> {
    const { cv } = this.options;
    const reductions = [
      [8, cv.IMREAD_REDUCED_COLOR_8],
      [4, cv.IMREAD_REDUCED_COLOR_4],
      [2, cv.IMREAD_REDUCED_COLOR_2],
    ] as const;
    const fits = (by: number) => wanted.every((size) => size.width * by <= this.width && size.height * by <= this.height);
    return cv.imdecodeAsync(jpeg, reductions.find(([by]) => fits(by))?.[1] ?? cv.IMREAD_COLOR);
  }
}
