/** Frames per second over a sliding window of recent frame times. */
export class FrameRateMeter {
  private readonly times: number[] = [];

  constructor(private readonly windowMs = 3000) {}

  tick(at: number): void {
    this.times.push(at);
    this.trim(at);
  }

  rate(now: number = Date.now()): number {
    this.trim(now);
    if (this.times.length < 2) return 0;
    const span = (this.times[this.times.length - 1]! - this.times[0]!) / 1000;
    return span > 0 ? Math.round(((this.times.length - 1) / span) * 10) / 10 : 0;
  }

  private trim(now: number): void {
    while (this.times.length > 0 && now - this.times[0]! > this.windowMs) this.times.shift();
  }
}
