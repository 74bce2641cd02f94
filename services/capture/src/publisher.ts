/**
 * How capture publishes envelopes: at most one in flight per feed, so that when the way out is
 * slow or down (the bus, or a camera worker's pipe to a stalled capture) frames are dropped,
 * not queued: a viewer wants the latest frame, and a queue would grow without bound.
 */

import { isKeyframeEnvelope } from '@camrelay/frame';

/** Where envelopes go: the bus, or the pipe from a camera's worker to capture (worker/camera-worker.ts). */
export interface FrameSink {
  publishFrame(feed: string, envelope: Buffer): Promise<void>;
}

export class FeedPublisher {
  /** Feeds with a publish in flight: at most one each. */
  private readonly publishing = new Set<string>();
  /** Envelopes not published: their feed had one in flight, or the sink failed them. */
  dropped = 0;

  constructor(private readonly sink: FrameSink) {}

  /** A publish of this feed is in flight: the next envelope would be dropped. */
  busy(feed: string): boolean {
    return this.publishing.has(feed);
  }

  publish(feed: string, envelope: Buffer): void {
    if (this.publishing.has(feed)) {
      this.dropped++;
      return;
    }
    this.publishing.add(feed);
    this.sink
      .publishFrame(feed, envelope)
      .catch(() => {
        this.dropped++;
      })
      .finally(() => {
        this.publishing.delete(feed);
      });
  }
}

/** Segments in flight per H.264 feed beyond which the way out counts as stalled. */
const MAX_SEGMENTS_IN_FLIGHT = 8;

/**
 * How capture publishes an H.264 feed's segments. Each depends on those before it back to its
 * keyframe, so none is dropped alone: when the way out is slow or down, the rest of the group
 * of pictures is dropped, and publishing starts again at the next keyframe. A few may be in
 * flight at once (they go out in order, on one connection or one pipe), never more.
 */
export class SegmentPublisher {
  private readonly inFlight = new Map<string, number>();
  /** Feeds whose group of pictures lost a segment: nothing more until their next keyframe. */
  private readonly broken = new Set<string>();
  /** Segments not published. */
  dropped = 0;

  constructor(private readonly send: (feed: string, envelope: Buffer, keyframe: boolean) => Promise<void>) {}

  publish(feed: string, envelope: Buffer): void {
    const keyframe = isKeyframeEnvelope(envelope);
    const inFlight = this.inFlight.get(feed) ?? 0;
    if (inFlight >= MAX_SEGMENTS_IN_FLIGHT || (!keyframe && this.broken.has(feed))) {
      this.interrupt(feed);
      return;
    }
    this.broken.delete(feed);
    this.inFlight.set(feed, inFlight + 1);
    this.send(feed, envelope, keyframe)
      .catch(() => this.interrupt(feed))
      .finally(() => this.inFlight.set(feed, (this.inFlight.get(feed) ?? 1) - 1));
  }

  /** A segment of the feed was not published (this one, or one that never reached here): the rest of its group goes too. */
  interrupt(feed: string): void {
    this.dropped++;
    this.broken.add(feed);
  }
}
