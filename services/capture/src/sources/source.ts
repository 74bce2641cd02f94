import { CamrelayError } from '@camrelay/errors';
import type { Mat } from '../opencv.js';

/** An opened camera (or what stands in for one). */
export interface FrameSource {
  /** What the log shows, e.g. "device 0" or "test pattern 640x480@30". */
  readonly description: string;
  /** The source's nominal frame rate. */
  readonly fps: number;
  /**
   * Live sources (devices, network streams) deliver at their own rate and read() waits for the
   * next frame: capture must not pace them, or frames would queue up inside OpenCV and the
   * picture would fall behind. Files and the pattern are paced to fps.
   */
  readonly live: boolean;
  /** True when the source's own JPEG is published as delivered (its codec is MJPEG). */
  readonly passthrough: boolean;
  /** The next frame. Rejects when the source has failed; capture then reopens it. */
  read(): Promise<SourceFrame>;
  close(): void;
}

/**
 * What a source delivers: a picture for capture to encode, or, from a source whose codec is
 * MJPEG, its own JPEG, published as it is (no decode, no encode).
 */
export type SourceFrame =
  | { readonly kind: 'picture'; readonly mat: Mat }
  | { readonly kind: 'jpeg'; readonly jpeg: Buffer; readonly width: number; readonly height: number };

export type SourceErrorCode = 'cannot_open' | 'read_failed' | 'no_frame';

/** A source that cannot be opened or read now; capture closes it and retries with backoff. */
export class SourceError extends CamrelayError<SourceErrorCode> {}

/** A frame rate as reported by OpenCV, or the fallback when it reports nothing usable. */
export function usableFps(reported: number, fallback: number): number {
  return Number.isFinite(reported) && reported >= 1 && reported <= 120 ? reported : fallback;
}
