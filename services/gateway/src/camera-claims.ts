import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';

export interface CameraClaimsOptions {
  readonly bus: FrameBus;
  readonly log: Logger;
  /** How long a claim lasts unless renewed: a gateway that dies holds its cameras this long at most. */
  readonly ttlMs: number;
  /** How often live claims are renewed; well within ttlMs, so one lost renewal loses nothing. */
  readonly renewEveryMs: number;
}

/**
 * This gateway's claims on the cameras its viewers watch (streams and snapshots), on the bus,
 * where capture reads them to know which cameras to keep open. A camera is claimed when its
 * first viewer here arrives and withdrawn when its last one leaves; claims are renewed on a
 * timer and again whenever the bus comes back (a restarted Redis has forgotten them).
 */
export class CameraClaims {
  /** Names this gateway's claims; a new one per process. */
  readonly holder = randomUUID();
  private readonly viewers = new Map<string, number>();
  /** When each camera was last claimed for a passing look (performance.now()). */
  private readonly touched = new Map<string, number>();
  private readonly renewal: NodeJS.Timeout;
  private readonly renewAll = () => {
    this.mark([...this.viewers.keys()]);
    const stale = performance.now() - this.options.ttlMs;
    for (const [cameraId, at] of this.touched) if (at < stale) this.touched.delete(cameraId);
  };

  constructor(private readonly options: CameraClaimsOptions) {
    this.renewal = setInterval(this.renewAll, options.renewEveryMs);
    this.renewal.unref();
    options.bus.on('up', this.renewAll);
  }

  /** A viewer of the camera arrived. */
  add(cameraId: string): void {
    const count = this.viewers.get(cameraId) ?? 0;
    this.viewers.set(cameraId, count + 1);
    if (count === 0) this.mark([cameraId]);
  }

  /**
   * A passing look at the camera (a snapshot): claimed for one claim's time, not renewed. A
   * client polling snapshots keeps the camera open, and a smaller size encoded, between polls.
   */
  touch(cameraId: string): void {
    if (this.viewers.has(cameraId)) return;
    // Many pages polling the same camera's snapshots claim it once per renewal period, not once each.
    const now = performance.now();
    if (now - (this.touched.get(cameraId) ?? Number.NEGATIVE_INFINITY) < this.options.renewEveryMs) return;
    this.touched.set(cameraId, now);
    this.mark([cameraId]);
  }

  /**
   * Cameras claimed for viewers here, renewed while they stay. A snapshot's one-off claim
   * (touch) is not counted: it lapses by itself.
   */
  get held(): number {
    return this.viewers.size;
  }

  /** A viewer of the camera left. */
  remove(cameraId: string): void {
    const count = this.viewers.get(cameraId);
    if (count === undefined) return;
    if (count > 1) {
      this.viewers.set(cameraId, count - 1);
      return;
    }
    this.viewers.delete(cameraId);
    this.touched.delete(cameraId); // its claim is withdrawn: the next look claims it again
    this.options.bus.unmarkWatched(this.holder, cameraId).catch((error: Error) => this.failed(error));
  }

  /** Withdraws every claim (shutdown): capture need not wait for them to expire. */
  async close(): Promise<void> {
    clearInterval(this.renewal);
    this.options.bus.off('up', this.renewAll);
    const cameras = [...this.viewers.keys()];
    this.viewers.clear();
    this.touched.clear();
    await Promise.all(cameras.map((cameraId) => this.options.bus.unmarkWatched(this.holder, cameraId).catch(() => undefined)));
  }

  private mark(cameraIds: string[]): void {
    if (cameraIds.length === 0) return;
    this.options.bus.markWatched(this.holder, cameraIds, this.options.ttlMs).catch((error: Error) => this.failed(error));
  }

  /** Renewals repeat and the bus reports its own outages: a failed one is worth a debug line only. */
  private failed(error: Error): void {
    this.options.log.debug({ err: error.message }, 'camera claims not updated');
  }
}
