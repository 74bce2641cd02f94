import type { Socket } from 'node:net';
import type { Frame } from '@camrelay/frame';
import { encodePart } from '@camrelay/multipart';
import type { DeliveryCounters, SharedPart } from './viewer.js';
import { Viewer } from './viewer.js';

const NO_SIGNAL_EVERY_MS = 1000;

/**
 * One camera's frames to all of its viewers on this gateway. Each frame is turned into a
 * multipart part once and the same Buffer is written to every socket. Knows nothing of Koa.
 */
/** A camera's counters on this gateway: frames received from the bus, and its viewers' deliveries. */
export interface FanoutCounters extends DeliveryCounters {
  received: number;
  /** Viewers added. */
  opened: number;
}

export class Fanout {
  /** In no particular order: a viewer leaves by swapping places with the last one. */
  private readonly viewers: Viewer[] = [];
  /** What a viewer is sent when it joins or drains: the newest live frame, or the NO SIGNAL picture. */
  private newest: SharedPart | null = null;
  private newestLive: Frame | null = null;
  /** When the last live frame arrived (performance.now()), or when the fanout was made. */
  private liveAt = performance.now();
  private noSignalSentAt = Number.NEGATIVE_INFINITY;
  private noSignalCount = 0;
  readonly counters: FanoutCounters = { received: 0, delivered: 0, skipped: 0, opened: 0 };

  constructor(
    /** A viewer whose socket has not drained for this long is cut. */
    private readonly stuckViewerMs: number,
  ) {}

  get viewerCount(): number {
    return this.viewers.length;
  }

  get latest(): SharedPart | null {
    return this.newest;
  }

  /**
   * Sends a frame to every viewer. A frame is stale (the latest-frame fetch racing the live
   * channel) only if it is older in both sequence and time: a restarted capture counts from
   * 0 again, and a capture host's clock may step back.
   */
  publish(frame: Frame): void {
    const newest = this.newestLive;
    if (newest && frame.sequence <= newest.sequence && frame.capturedAt <= newest.capturedAt) return;
    this.counters.received++;
    this.newestLive = frame;
    this.liveAt = performance.now();
    this.offerAll({ bytes: encodePart(frame.jpeg, frame), frame });
  }

  /**
   * While no frame has arrived for noSignalAfterMs, sends one of the NO SIGNAL pictures about
   * once a second, alternating, so the picture visibly lives and says what is wrong. It keeps
   * the last sequence number: no frame was captured.
   */
  checkSignal(now: number, noSignalAfterMs: number, pictures: readonly Buffer[]): void {
    if (now - this.liveAt < noSignalAfterMs || now - this.noSignalSentAt < NO_SIGNAL_EVERY_MS) return;
    this.noSignalSentAt = now;
    const jpeg = pictures[this.noSignalCount++ % pictures.length]!;
    const meta = { sequence: this.newestLive?.sequence ?? 0, capturedAt: Date.now(), noSignal: true };
    // Viewers read only the bytes and the capture time of a part: the size is not needed.
    this.offerAll({ bytes: encodePart(jpeg, meta), frame: { ...meta, width: 0, height: 0, jpeg } });
  }

  /** False while NO SIGNAL pictures are going out (one in the last two seconds). */
  get hasSignal(): boolean {
    return performance.now() - this.noSignalSentAt > NO_SIGNAL_EVERY_MS * 2;
  }

  private offerAll(part: SharedPart): void {
    this.newest = part;
    // Each frame starts at a random viewer. In a fixed order the same viewers would always be
    // written last: at 1000 viewers they saw the picture ~15 ms later than the first, every frame.
    const viewers = this.viewers;
    const start = Math.floor(Math.random() * viewers.length);
    for (let i = start; i < viewers.length; i++) viewers[i]!.offer(part);
    for (let i = 0; i < start; i++) viewers[i]!.offer(part);
  }

  /**
   * Adds a viewer whose response headers and preamble are already written to its socket; sends
   * the newest frame at once. Returns what ends its stream early (its access expired).
   */
  add(socket: Socket, minIntervalMs: number, onLeave: () => void): () => void {
    if (socket.destroyed) {
      onLeave(); // gone before it could be added
      return () => undefined;
    }
    const viewer = new Viewer(socket, { minIntervalMs, stuckMs: this.stuckViewerMs }, () => this.newest, this.counters);
    viewer.slot = this.viewers.push(viewer) - 1;
    this.counters.opened++;
    socket.on('close', () => {
      viewer.detach();
      this.remove(viewer);
      onLeave();
    });
    if (this.newest) viewer.offer(this.newest);
    return () => {
      if (!this.remove(viewer)) return;
      viewer.detach();
      socket.end();
    };
  }

  /** The largest backlog any viewer has; bounded by about one part per viewer. */
  maxQueuedBytes(): number {
    let max = 0;
    for (const viewer of this.viewers) max = Math.max(max, viewer.queuedBytes);
    return max;
  }

  /** Ends every viewer's stream (shutdown); nothing is written to them afterwards. */
  endAll(): void {
    for (const viewer of this.viewers) {
      viewer.slot = -1;
      viewer.detach();
      viewer.socket.end();
    }
    this.viewers.length = 0;
  }

  /** False if the viewer had already left. */
  private remove(viewer: Viewer): boolean {
    if (viewer.slot === -1) return false;
    const last = this.viewers.pop()!;
    if (last !== viewer) {
      this.viewers[viewer.slot] = last;
      last.slot = viewer.slot;
    }
    viewer.slot = -1;
    return true;
  }
}
