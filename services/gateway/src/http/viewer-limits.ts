import { HttpError } from './errors.js';

/**
 * How many streams this gateway serves, in all and per client address. A new viewer beyond
 * either limit is refused with 503 and Retry-After (a load balancer tries another gateway);
 * the viewers already streaming never notice.
 */
export class ViewerLimits {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** Viewers refused since start, for /metrics. */
  refused = 0;

  constructor(
    readonly maxViewers: number,
    readonly maxPerAddress: number,
  ) {}

  /** Counts a viewer in, or throws; the returned function counts it out (once, however often it is called). */
  admit(address: string): () => void {
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.total >= this.maxViewers) {
      this.refused++;
      throw new HttpError(503, 'too_many_viewers', `this gateway serves at most ${this.maxViewers} streams; retry shortly`, {
        'Retry-After': '5',
      });
    }
    if (fromAddress >= this.maxPerAddress) {
      this.refused++;
      throw new HttpError(
        503,
        'too_many_viewers_from_address',
        `at most ${this.maxPerAddress} streams per client address; close one and retry`,
        { 'Retry-After': '5' },
      );
    }
    this.total++;
    this.perAddress.set(address, fromAddress + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    };
  }

  get viewers(): number {
    return this.total;
  }

  /** Client addresses with a stream open or opening: back to 0 once every viewer has left. */
  get addresses(): number {
    return this.perAddress.size;
  }

  /** At the limit for everyone: a load balancer should send new viewers elsewhere (/readyz). */
  get full(): boolean {
    return this.total >= this.maxViewers;
  }
}
