import type { Mat } from '../opencv.js';

/** An opened camera (or what stands in for one). */
export interface FrameSource {
  /** What the log shows, e.g. "device 0" or "test pattern 640x480@30". */
  readonly description: string;
  /** The rate capture paces this source to; a live device or stream may deliver less. */
  readonly fps: number;
  /** The next picture. Rejects when the source has failed; capture then reopens it. */
  read(): Promise<Mat>;
  close(): void;
}

export class SourceError extends Error {
  override readonly name = 'SourceError';
}

/** A frame rate as reported by OpenCV, or the fallback when it reports nothing usable. */
export function usableFps(reported: number, fallback: number): number {
  return Number.isFinite(reported) && reported >= 1 && reported <= 120 ? reported : fallback;
}
