import type { CameraInfo, FrameBus } from '@camrelay/bus';

/**
 * The bus's camera directory, read at most once per maxAgeMs. Every new stream checks that its
 * camera exists: when a gateway dies and its viewers all reconnect at once, or a busy gateway
 * accepts hundreds of viewers, they share one read instead of one Redis round trip each.
 */
export class CameraDirectory {
  private cached: { at: number; cameras: Promise<CameraInfo[]> } | null = null;

  constructor(
    private readonly bus: FrameBus,
    private readonly maxAgeMs = 1000,
  ) {}

  list(): Promise<CameraInfo[]> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at > this.maxAgeMs) {
      const cameras = this.bus.listCameras();
      this.cached = { at: now, cameras };
      // A failed read is not cached: the next request asks again.
      cameras.catch(() => {
        if (this.cached?.cameras === cameras) this.cached = null;
      });
    }
    return this.cached.cameras;
  }
}
