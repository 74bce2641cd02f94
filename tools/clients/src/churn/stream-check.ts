/**
 * What every part of a stream under churn must be, beyond the format that the parser's strict
 * mode checks: a complete JPEG, X-Sequence rising, at most the frame rate asked for, and never
 * the NO SIGNAL picture (the cameras never stop).
 */
import { isJpeg } from '@camrelay/frame';
import type { Part } from '@camrelay/multipart';

export class StreamCheck {
  frames = 0;
  frameBytes = 0;
  private lastSequence = -1;
  private lastTimestamp = Number.NaN;
  /** How close two frames may be under ?fps: the gateway's own tolerance, less rounding. */
  private readonly minGapMs: number;

  constructor(private readonly fps?: number) {
    this.minGapMs = fps ? (1000 / fps) * 0.9 - 1 : 0;
  }

  /** Throws an Error that says what is wrong with the part. */
  accept(part: Part): void {
    const { body, headers } = part;
    // A stand-in picture means this camera's frames stopped reaching the gateway (a
    // subscription lost while it churned, say) for 3 s.
    if (headers['x-no-signal'] !== undefined)
      throw new Error(`NO SIGNAL picture after ${this.frames} frames: no frames from the camera for seconds`);
    if (!isJpeg(body)) {
      const ends = (at: number) => body.toString('hex', Math.max(0, at), at + 2);
      throw new Error(`part ${this.frames + 1} is not a complete JPEG (starts ${ends(0)}, ends ${ends(body.length - 2)})`);
    }
    const sequence = Number(headers['x-sequence']);
    const timestamp = Number(headers['x-timestamp']);
    if (sequence <= this.lastSequence) throw new Error(`X-Sequence ${sequence} after ${this.lastSequence}`);
    const gapMs = (timestamp - this.lastTimestamp) * 1000;
    if (this.frames > 0 && gapMs < this.minGapMs) throw new Error(`?fps=${this.fps}: frames ${gapMs.toFixed(0)} ms apart`);
    this.lastSequence = sequence;
    this.lastTimestamp = timestamp;
    this.frames++;
    this.frameBytes += body.length;
  }
}
