import type { ServerResponse } from 'node:http';
import type { Frame } from '@camrelay/frame';

/** What a viewer is sent: one encoded part, shared by every viewer of the camera. */
export interface SharedPart {
  /** Headers, JPEG and the next delimiter: written as is. */
  readonly bytes: Buffer;
  readonly frame: Frame;
}

/** Counters kept as plain numbers on the hot path; /metrics reads them when scraped. */
export interface DeliveryCounters {
  delivered: number;
  skipped: number;
}

/**
 * One browser (or client) watching one camera.
 *
 * Backpressure: while the socket has not drained the viewer skips frames; when it drains it
 * gets the newest frame. A slow viewer therefore holds at most one part in user space and
 * never slows the others.
 */
export class Viewer {
  private waitingForDrain = false;
  private lastSentCapturedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly response: ServerResponse,
    /** Smallest gap between two frames sent to this viewer (?fps=N), 0 for every frame. */
    private readonly minIntervalMs: number,
    private readonly newest: () => SharedPart | null,
    private readonly counters: DeliveryCounters,
  ) {
    response.on('drain', this.onDrain);
  }

  /** Bytes written to this viewer that the socket has not taken yet. */
  get queuedBytes(): number {
    return this.response.writableLength;
  }

  offer(part: SharedPart): void {
    if (this.waitingForDrain || !this.isDue(part)) {
      this.counters.skipped++;
      return;
    }
    this.send(part);
  }

  detach(): void {
    this.response.off('drain', this.onDrain);
  }

  private isDue(part: SharedPart): boolean {
    // 0.9: a 30 fps source capped at 15 sends every second frame despite capture jitter.
    return this.minIntervalMs === 0 || part.frame.capturedAt - this.lastSentCapturedAt >= this.minIntervalMs * 0.9;
  }

  private send(part: SharedPart): void {
    this.lastSentCapturedAt = part.frame.capturedAt;
    this.counters.delivered++;
    this.waitingForDrain = !this.response.write(part.bytes);
  }

  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    const part = this.newest();
    if (part && part.frame.capturedAt > this.lastSentCapturedAt && this.isDue(part)) this.send(part);
  };
}
