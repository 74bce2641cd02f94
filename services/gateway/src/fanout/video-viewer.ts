import type { Socket } from 'node:net';
import type { Segment } from '@camrelay/frame';
import type { DeliveryCounters } from './viewer.js';

/**
 * One client of an H.264 feed (stream.mp4). A fragment depends on every one before it back to
 * its keyframe, so a viewer that falls behind does not drop single fragments as a motion JPEG
 * viewer drops frames: once more than its backlog allowance waits in user space, it skips to
 * the next keyframe, and the fragments in between are never written to it. It holds at most
 * that allowance and one fragment, and never slows the others (they share the same Buffers).
 */
export class VideoViewer {
  /** Its place in its fanout's list of viewers; -1 once it has left. */
  slot = -1;
  /** The init segment its stream started with: a keyframe under another one cannot follow. */
  init: Buffer | null = null;
  /** Skipping until the next keyframe: it joined between two, or fell behind. */
  private waitingForKeyframe = true;
  /** Since when its backlog has been over the allowance (performance.now()), or 0. */
  private overSince = 0;

  constructor(
    readonly socket: Socket,
    /** A backlog over the allowance for this long is a dead link or a stuck client: cut. */
    private readonly stuckMs: number,
    private readonly counters: DeliveryCounters,
  ) {}

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Starts the stream at the current group of pictures: its init segment, its keyframe and what followed. */
  start(init: Buffer, group: readonly Buffer[]): void {
    this.init = init;
    this.waitingForKeyframe = false;
    this.socket.cork();
    this.socket.write(init);
    for (const fragment of group) this.socket.write(fragment);
    this.socket.uncork();
    this.counters.delivered += group.length;
  }

  /** `init` is the fanout's current init segment, the same object for every viewer until it changes. */
  offer(segment: Segment, init: Buffer, backlogAllowance: number): void {
    if (this.socket.writableLength > backlogAllowance) {
      this.waitingForKeyframe = true;
      this.counters.skipped++;
      const now = performance.now();
      if (this.overSince === 0) this.overSince = now;
      else if (now - this.overSince > this.stuckMs) this.socket.destroy();
      return;
    }
    this.overSince = 0;
    if (this.waitingForKeyframe) {
      if (!segment.keyframe) {
        this.counters.skipped++;
        return;
      }
      this.waitingForKeyframe = false;
      if (this.init === null) {
        this.init = init;
        this.socket.write(init);
      }
    }
    this.counters.delivered++;
    this.socket.write(segment.fragment);
  }
}
