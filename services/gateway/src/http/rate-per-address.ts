import { HttpError } from './errors.js';

/**
 * Requests per second per client address, as a token bucket: a burst of `perSecond` (a viewer
 * page opening a wall of snapshot tiles at once), then `perSecond` on average. For requests
 * that cost a gateway work each time and hold no slot (snapshots, HEAD of a stream), so that
 * the viewer limits do not bound them.
 */
export class RatePerAddress {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sweptAt = performance.now();
  /** Requests refused since start, for /metrics. */
  refused = 0;

  constructor(readonly perSecond: number) {}

  /** Counts one request from the address, or throws 429 with Retry-After. */
  take(address: string): void {
    const now = performance.now();
    this.sweep(now);
    const bucket = this.buckets.get(address);
    const tokens = bucket ? Math.min(this.perSecond, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond) : this.perSecond;
    if (tokens < 1) {
      this.refused++;
      throw new HttpError(429, 'too_many_requests', `at most ${this.perSecond} snapshots a second per client address; retry shortly`, {
        'Retry-After': '1',
      });
    }
    if (bucket) {
      bucket.tokens = tokens - 1;
      bucket.at = now;
    } else this.buckets.set(address, { tokens: tokens - 1, at: now });
  }

  /** Addresses being counted now, for /metrics. */
  get addresses(): number {
    return this.buckets.size;
  }

  /** A bucket that has refilled holds nothing worth keeping: once a second, such buckets go. */
  private sweep(now: number): void {
    if (now - this.sweptAt < 1000) return;
    this.sweptAt = now;
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond >= this.perSecond) this.buckets.delete(address);
    }
  }
}
