/**
 * How capture publishes envelopes: at most one in flight per feed, so that when the way out is
 * slow or down (the bus, or a camera worker's pipe to a stalled capture) frames are dropped,
 * not queued: a viewer wants the latest frame, and a queue would grow without bound.
 */

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
