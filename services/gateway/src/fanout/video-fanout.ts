import type { Socket } from 'node:net';
import type { Segment } from '@camrelay/frame';
import { epochOf } from '@camrelay/frame';
import type { FanoutCounters } from './fanout.js';
import { removeFromSlots } from './slots.js';
import { VideoViewer } from './video-viewer.js';

/** What a viewer may have waiting in user space before it skips to the next keyframe, at the least. */
const MIN_BACKLOG_ALLOWANCE = 256 * 1024;
/** A group of pictures kept for viewers who join is at most this large; past it they wait for the next keyframe. */
const MAX_GROUP_BYTES = 8 * 1024 * 1024;
/** An ended stream's last bytes get this long to flush before its socket is cut. */
const ENDED_STREAM_GRACE_MS = 2000;
/** As Fanout's FENCE_FOR_MS: lower sequences are a stale capture instance's unless the newest went quiet this long. */
const FENCE_FOR_MS = 5000;
/** Without a segment for this long a feed with viewers counts as without signal (camrelay_cameras_without_signal). */
const NO_SIGNAL_AFTER_MS = 3000;

/**
 * One H.264 feed's segments to all of its viewers on this gateway: every fragment is written,
 * as it came from the bus, to every viewer's socket. Keeps the current group of pictures (its
 * init segment, its keyframe and the fragments since), so that a viewer who joins starts with
 * a picture at once, and gets it in one write. Knows nothing of Koa.
 *
 * Passes a fragment on only when the one before it was passed on: after a fragment lost on the
 * bus (a Redis reconnect), a stale capture instance's, or a new instance's first fragments,
 * its viewers wait for the next keyframe rather than decode a broken picture.
 */
export class VideoFanout {
  private readonly viewers: VideoViewer[] = [];
  /** What gives each viewer's slot and hold on the feed back, once. */
  private readonly leaving = new WeakMap<VideoViewer, () => void>();
  /** The current init segment: the same object for as long as its bytes stay the same. */
  private init: Buffer | null = null;
  /** The current group of pictures' fragments from its keyframe on; null while none can be joined. */
  private group: Buffer[] | null = null;
  private groupBytes = 0;
  private newest: Segment | null = null;
  /** The fragment before the newest was lost: nothing is passed on until the next keyframe. */
  private broken = true;
  private liveAt = performance.now();
  private backlogAllowance = MIN_BACKLOG_ALLOWANCE;
  readonly counters: FanoutCounters = { received: 0, fenced: 0, delivered: 0, skipped: 0, opened: 0 };
  /** Fragments not passed on because one before them was lost (they could not be decoded). */
  gaps = 0;

  constructor(private readonly stuckViewerMs: number) {}

  get viewerCount(): number {
    return this.viewers.length;
  }

  /** Nobody watching (capture stops the encode then) is not a lost signal. */
  get hasSignal(): boolean {
    return this.viewers.length === 0 || performance.now() - this.liveAt < NO_SIGNAL_AFTER_MS;
  }

  publish(segment: Segment): void {
    const newest = this.newest;
    if (newest && segment.sequence <= newest.sequence && performance.now() - this.liveAt < FENCE_FOR_MS) {
      this.counters.fenced++;
      return;
    }
    if (!segment.keyframe) {
      const follows = newest !== null && segment.index === newest.index + 1 && epochOf(segment.sequence) === epochOf(newest.sequence);
      if (this.broken || !follows) {
        this.broken = true;
        this.gaps++;
        this.newest = segment;
        this.liveAt = performance.now();
        return;
      }
    }
    this.broken = false;
    this.counters.received++;
    this.newest = segment;
    this.liveAt = performance.now();
    if (segment.keyframe) this.startGroup(segment);
    else if (this.group && this.groupBytes + segment.fragment.length <= MAX_GROUP_BYTES) {
      this.group.push(segment.fragment);
      this.groupBytes += segment.fragment.length;
    } else this.group = null;

    const init = this.init!;
    const viewers = this.viewers;
    // Each fragment starts at a random viewer, as in Fanout: nobody is always written last.
    const start = Math.floor(Math.random() * viewers.length);
    for (let i = start; i < viewers.length; i++) viewers[i]!.offer(segment, init, this.backlogAllowance);
    for (let i = 0; i < start; i++) viewers[i]!.offer(segment, init, this.backlogAllowance);
  }

  /**
   * A keyframe. Its init segment is usually the one before (the same encoder, or one started
   * again with the same settings, whose timeline goes on); when it is not (the camera's size
   * changed), streams begun under the old one end, and their clients open them again.
   */
  private startGroup(segment: Segment): void {
    const init = segment.init!;
    if (!this.init || !init.equals(this.init)) {
      const old = this.init;
      this.init = Buffer.from(init);
      if (old) for (const viewer of [...this.viewers]) if (viewer.init === old) this.end(viewer);
    }
    this.group = [segment.fragment];
    this.groupBytes = segment.fragment.length;
    // A keyframe may be large (a 1080p one, 100-300 KB): a viewer keeping up must never count as behind for one.
    this.backlogAllowance = Math.max(MIN_BACKLOG_ALLOWANCE, 2 * segment.fragment.length);
  }

  /**
   * Adds a viewer whose response head is already written to its socket: it gets the current
   * group of pictures at once, or waits for the next keyframe. Returns what ends its stream
   * early (its access expired).
   */
  add(socket: Socket, onLeave: () => void): () => void {
    if (socket.destroyed) {
      onLeave();
      return () => undefined;
    }
    const viewer = new VideoViewer(socket, this.stuckViewerMs, this.counters);
    viewer.slot = this.viewers.push(viewer) - 1;
    this.counters.opened++;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      onLeave();
    };
    this.leaving.set(viewer, leave);
    socket.on('close', () => {
      this.remove(viewer);
      leave();
    });
    if (this.init && this.group && !this.broken) viewer.start(this.init, this.group);
    return () => this.end(viewer);
  }

  /** Ends one viewer's stream for good: its slot and hold go now, its socket once its last bytes are out. */
  private end(viewer: VideoViewer): void {
    if (!this.remove(viewer)) return;
    this.leaving.get(viewer)?.();
    const socket = viewer.socket;
    socket.end();
    const cut = setTimeout(() => socket.destroy(), ENDED_STREAM_GRACE_MS);
    socket.once('close', () => clearTimeout(cut));
  }

  maxQueuedBytes(): number {
    let max = 0;
    for (const viewer of this.viewers) max = Math.max(max, viewer.queuedBytes);
    return max;
  }

  endAll(): void {
    for (const viewer of this.viewers) {
      viewer.slot = -1;
      viewer.socket.end();
    }
    this.viewers.length = 0;
  }

  private remove(viewer: VideoViewer): boolean {
    return removeFromSlots(this.viewers, viewer);
  }
}
