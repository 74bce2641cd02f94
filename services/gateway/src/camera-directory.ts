import type { CameraInfo, FrameBus } from '@camrelay/bus';

/**
 * The bus's camera directory, read at most once per maxAgeMs. Every new stream checks that its
 * camera exists: when a gateway dies and its viewers all reconnect at once, or a busy gateway
 * accepts hundreds of viewers, they share one read instead of one Redis round trip each.
 */
export class CameraDirectory {
  private cached: { at: number; cameras: Promise<CameraInfo[]>; answered: boolean } | null = null;

  constructor(
    private readonly bus: FrameBus,
    private readonly maxAgeMs = 1000,
  ) {}

  /**
   * `fresh`: an answer read after this call came, or shared with a read still under way, rather
   * than one up to maxAgeMs old. For what changes from one second to the next and matters to
   * the caller: whether a camera is asleep.
   */
  list(fresh = false): Promise<CameraInfo[]> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at > this.maxAgeMs || (fresh && this.cached.answered)) {
      const cameras = this.bus.listCameras();
      const entry = { at: now, cameras, answered: false };
      this.cached = entry;
      // A failed read is not cached: the next request asks again.
      cameras.then(
        () => (entry.answered = true),
        () => {
          if (this.cached === entry) this.cached = null;
        },
      );
    }
    return this.cached.cameras;
  }
}
