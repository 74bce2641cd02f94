import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Frame } from '@camrelay/frame';

/** What a viewer is sent: one encoded part, shared by every viewer of the camera. */
export interface SharedPart {
  /** Headers, JPEG and the next delimiter: written as is. */
  readonly bytes: Buffer;
  readonly frame: Frame;
}

/** What a viewer counts: plain numbers on the hot path, read by /metrics when scraped. */
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
 *
 * Parts go straight to the socket once the response's headers are out: ServerResponse.write
 * corks the socket and flushes on the next tick through writev, which cost a fifth of the
 * gateway's CPU per delivered frame in the fan-out benchmark. The stream is close-delimited
 * (no chunked framing), so the bytes on the socket are the body.
 */
export class Viewer {
  private waitingForDrain = false;
  private waitingSince = 0;
  private lastSent: SharedPart | null = null;
  private lastSentCapturedAt = Number.NEGATIVE_INFINITY;

  private readonly socket: Socket;

  constructor(
    readonly response: ServerResponse,
    private readonly pace: {
      /** Smallest gap between two frames sent to this viewer (?fps=N), 0 for every frame. */
      readonly minIntervalMs: number;
      /** A socket that has not drained for this long is a dead link or a stuck client: cut. */
      readonly stuckMs: number;
    },
    private readonly newest: () => SharedPart | null,
    private readonly counters: DeliveryCounters,
  ) {
    this.socket = response.socket!;
    this.socket.on('drain', this.onDrain);
    // A reset connection must end this viewer, never the process.
    response.on('error', this.onError);
  }

  /** Bytes written to this viewer that the socket has not taken yet. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  offer(part: SharedPart): void {
    if (this.waitingForDrain) {
      this.counters.skipped++;
      if (performance.now() - this.waitingSince > this.pace.stuckMs) this.response.destroy();
      return;
    }
    if (!this.isDue(part)) {
      this.counters.skipped++;
      return;
    }
    this.send(part);
  }

  detach(): void {
    this.socket.off('drain', this.onDrain);
  }

  private isDue(part: SharedPart): boolean {
    if (this.pace.minIntervalMs === 0) return true;
    const gap = part.frame.capturedAt - this.lastSentCapturedAt;
    // 0.9: a 30 fps source capped at 15 sends every second frame despite capture jitter.
    // A negative gap is a capture clock that stepped back: send rather than stall.
    return gap < 0 || gap >= this.pace.minIntervalMs * 0.9;
  }

  private send(part: SharedPart): void {
    this.lastSent = part;
    this.lastSentCapturedAt = part.frame.capturedAt;
    this.counters.delivered++;
    if (!this.socket.write(part.bytes)) {
      this.waitingForDrain = true;
      this.waitingSince = performance.now();
    }
  }

  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    const part = this.newest();
    if (part && part !== this.lastSent && this.isDue(part)) this.send(part);
  };

  private readonly onError = (): void => {
    this.response.destroy();
  };
}
