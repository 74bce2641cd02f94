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
 * Parts go straight to the socket, which StreamSockets has taken from the HTTP server once the
 * response's headers were out (ServerResponse.write would also cork the socket and flush on the
 * next tick through writev, which cost a fifth of the gateway's CPU per delivered frame in the
 * fan-out benchmark). The stream is close-delimited (no chunked framing), so the bytes on the
 * socket are the body.
 */
export class Viewer {
  /** Its place in its fanout's list of viewers; -1 once it has left. */
  slot = -1;
  private waitingForDrain = false;
  private waitingSince = 0;
  private lastSent: SharedPart | null = null;
  private lastSentCapturedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly socket: Socket,
    private readonly pace: {
      /** Smallest gap between two frames sent to this viewer (?fps=N), 0 for every frame. */
      readonly minIntervalMs: number;
      /** A socket that has not drained for this long is a dead link or a stuck client: cut. */
      readonly stuckMs: number;
    },
    private readonly newest: () => SharedPart | null,
    private readonly counters: DeliveryCounters,
  ) {
    socket.on('drain', this.onDrain);
  }

  /** Bytes written to this viewer that the socket has not taken yet. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  offer(part: SharedPart): void {
    if (this.waitingForDrain) {
      this.counters.skipped++;
      if (performance.now() - this.waitingSince > this.pace.stuckMs) this.socket.destroy();
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
}
