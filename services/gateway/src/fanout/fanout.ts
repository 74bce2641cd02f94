import type { Socket } from 'node:net';
import type { Frame } from '@camrelay/frame';
import { encodePart } from '@camrelay/multipart';
import type { DeliveryCounters, SharedPart } from './viewer.js';
import { removeFromSlots } from './slots.js';
import { Viewer } from './viewer.js';

const STAND_IN_EVERY_MS = 1000;
/** An ended stream's last bytes get this long to flush before its socket is cut. */
const ENDED_STREAM_GRACE_MS = 2000;
/**
 * Frames numbered below the newest are a stale capture instance's and are dropped (fencing),
 * unless the newest numbering has been silent this long: then Redis lost every epoch and the
 * capture fleet started over (docs/scaling.md, Cameras: capture as a fleet). A stale holder stops itself within a
 * lease renewal (0.3 s) of running again; a live one is never silent this long (a still scene
 * is published again every second).
 */
const FENCE_FOR_MS = 5000;

/** When a camera's viewers get a stand-in picture instead of frames, and which. */
export interface SignalRules {
  /** Without frames for this long (after having had some), NO SIGNAL. */
  readonly noSignalAfterMs: number;
  /** A camera woken for its first viewer is starting for this long at most, then NO SIGNAL. */
  readonly startingForMs: number;
  readonly noSignalPictures: readonly Buffer[];
  readonly startingPictures: readonly Buffer[];
}

/** A feed's counters on this gateway: frames received from the bus, and its viewers' deliveries. */
export interface FanoutCounters extends DeliveryCounters {
  received: number;
  /** Frames dropped for a sequence at or below the newest: a stale capture instance's, or a late latest-frame copy. */
  fenced: number;
  /** Viewers added. */
  opened: number;
}

/**
 * One feed's frames to all of its viewers on this gateway. Each frame is turned into a
 * multipart part once and the same Buffer is written to every socket. Knows nothing of Koa.
 */
export class Fanout {
  /** In no particular order: a viewer leaves by swapping places with the last one. */
  private readonly viewers: Viewer[] = [];
  /** What a viewer is sent when it joins or drains: the newest live frame, or the NO SIGNAL picture. */
  private newest: SharedPart | null = null;
  private newestLive: Frame | null = null;
  /** When the last live frame arrived (performance.now()), or when the fanout was made. */
  private liveAt = performance.now();
  private standInSentAt = Number.NEGATIVE_INFINITY;
  private standInCount = 0;
  /** The camera was asleep when its first viewer here came: STARTING until its first frame. */
  private starting = false;
  /** Snapshots waiting for the camera's next frame (it was asleep). */
  private readonly liveWaiters = new Set<(frame: Frame | null) => void>();
  readonly counters: FanoutCounters = { received: 0, fenced: 0, delivered: 0, skipped: 0, opened: 0 };
  /** Added to the frames' sequences after the numbering started over, so that viewers' X-Sequence still rises. */
  private sequenceOffset = 0;

  constructor(
    /** A viewer whose socket has not drained for this long is cut. */
    private readonly stuckViewerMs: number,
  ) {}

  get viewerCount(): number {
    return this.viewers.length;
  }

  /** The newest frame from the camera (never a stand-in picture), or null before the first. */
  get latestLive(): Frame | null {
    return this.newestLive;
  }

  /** The camera's next frame, or null if none comes within timeoutMs. */
  nextLiveFrame(timeoutMs: number): Promise<Frame | null> {
    return new Promise((resolve) => {
      const done = (frame: Frame | null) => {
        clearTimeout(timer);
        this.liveWaiters.delete(done);
        resolve(frame);
      };
      const timer = setTimeout(done, timeoutMs, null);
      this.liveWaiters.add(done);
    });
  }

  /**
   * Sends a frame to every viewer, unless it is numbered at or below the newest: the sequence
   * carries its holder's fencing epoch in its high bits (@camrelay/frame's epoch), so such a
   * frame is a stale capture instance's (paused, partitioned, or holding the camera before a
   * hand-over), or the latest-frame copy racing the live channel. The higher epoch wins.
   */
  publish(incoming: Frame): void {
    const newest = this.newestLive;
    let frame = this.sequenceOffset === 0 ? incoming : { ...incoming, sequence: incoming.sequence + this.sequenceOffset };
    if (newest && frame.sequence <= newest.sequence) {
      if (performance.now() - this.liveAt < FENCE_FOR_MS) {
        this.counters.fenced++;
        return;
      }
      this.sequenceOffset += newest.sequence + 1 - frame.sequence;
      frame = { ...incoming, sequence: newest.sequence + 1 };
    }
    this.counters.received++;
    this.newestLive = frame;
    this.liveAt = performance.now();
    this.starting = false;
    this.offerAll({ bytes: encodePart(frame.jpeg, frame), frame });
    if (this.liveWaiters.size > 0) for (const resolve of [...this.liveWaiters]) resolve(frame);
  }

  /** The camera was asleep and is being opened: its viewers see STARTING, from now, until its first frame. */
  expectStart(): void {
    this.starting = true;
    this.liveAt = performance.now();
    this.standInSentAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * While a camera woken from sleep has not sent its first frame (for startingForMs at most),
   * sends one of the STARTING pictures about once a second; while no frame has arrived for
   * noSignalAfterMs otherwise, one of the NO SIGNAL pictures. They alternate, so the picture
   * visibly lives and says what is going on, and keep the last sequence number: no frame was
   * captured.
   */
  checkSignal(now: number, rules: SignalRules): void {
    if (now - this.standInSentAt < STAND_IN_EVERY_MS) return;
    const quietFor = now - this.liveAt;
    const starting = this.starting && quietFor < rules.startingForMs;
    if (!starting && quietFor < rules.noSignalAfterMs) return;
    this.standInSentAt = now;
    const pictures = starting ? rules.startingPictures : rules.noSignalPictures;
    const jpeg = pictures[this.standInCount++ % pictures.length]!;
    const meta = { sequence: this.newestLive?.sequence ?? 0, capturedAt: Date.now(), noSignal: true };
    // Viewers read only the bytes and the capture time of a part: the size is not needed.
    this.offerAll({ bytes: encodePart(jpeg, meta), frame: { ...meta, width: 0, height: 0, jpeg } });
  }

  /** False while stand-in pictures are going out (one in the last two seconds). */
  get hasSignal(): boolean {
    return performance.now() - this.standInSentAt > STAND_IN_EVERY_MS * 2;
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
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      onLeave();
    };
    socket.on('close', () => {
      viewer.detach();
      this.remove(viewer);
      leave();
    });
    if (this.newest) viewer.offer(this.newest);
    return () => {
      if (!this.remove(viewer)) return;
      viewer.detach();
      // The stream is over for good: its slot, address count, claim and subscription go now,
      // not when a client that may never read or close lets the socket go.
      leave();
      socket.end();
      const cut = setTimeout(() => socket.destroy(), ENDED_STREAM_GRACE_MS);
      socket.once('close', () => clearTimeout(cut));
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
    return removeFromSlots(this.viewers, viewer);
  }
}
