import type { CameraInfo, FrameBus } from '@camrelay/bus';

interface Read<T> {
  readonly at: number;
  readonly value: Promise<T>;
  answered: boolean;
  failed: boolean;
}

/** Fresh reads of one camera kept for sharing, beyond which the old ones are dropped. */
const FRESH_READS_KEPT = 256;

/**
 * The bus's camera directory. The list is read at most once per maxAgeMs: when a gateway dies
 * and its viewers all reconnect at once, or a busy gateway accepts hundreds of viewers, they
 * share one read instead of one Redis round trip each. One camera's own entry (in its own
 * Redis Cluster slot) is read where the list cannot be, or must be fresh.
 */
export class CameraDirectory {
  private listed: Read<CameraInfo[]> | null = null;
  private readonly freshReads = new Map<string, Read<CameraInfo | null>>();

  constructor(
    private readonly bus: FrameBus,
    private readonly maxAgeMs = 1000,
    private readonly freshShareMs = 250,
    private readonly listWaitMs = 300,
  ) {}

  /** Every camera, as read at most maxAgeMs ago (or by a read under way). A failure too is kept that long. */
  list(): Promise<CameraInfo[]> {
    return this.listRead().value;
  }

  private listRead(): Read<CameraInfo[]> {
    const now = performance.now();
    if (!this.listed || now - this.listed.at > this.maxAgeMs) this.listed = this.read(now, () => this.bus.listCameras());
    return this.listed;
  }

  /**
   * One camera, or null if it is not in the directory. From the list when it can be read; where
   * it cannot (in a Redis Cluster, the shard holding the list is down), from the camera's own
   * entry, so that only /api/cameras notices. `fresh`: from its own entry, shared with a read
   * under way or begun within freshShareMs, rather than a list up to maxAgeMs old; for what
   * changes from one second to the next and matters to the caller: whether a camera is asleep.
   * Shared, so that a client asking again and again (snapshots, HEAD) costs Redis a few reads a
   * second, not one each.
   */
  async find(cameraId: string, fresh = false): Promise<CameraInfo | null> {
    if (!fresh) {
      const listed = this.listRead();
      // A list that takes long is a shard that does not answer (a cluster client waits its
      // command timeout): the camera's own entry is asked for meanwhile.
      const cameras = listed.answered ? await listed.value : listed.failed ? null : await settledWithin(listed.value, this.listWaitMs);
      if (cameras) return cameras.find((camera) => camera.id === cameraId) ?? null;
    }
    return this.readOne(cameraId);
  }

  private readOne(cameraId: string): Promise<CameraInfo | null> {
    const now = performance.now();
    const shared = this.freshReads.get(cameraId);
    if (shared && (!shared.answered || now - shared.at <= this.freshShareMs)) return shared.value;
    if (this.freshReads.size >= FRESH_READS_KEPT) {
      for (const [id, read] of this.freshReads) if (read.answered && now - read.at > this.freshShareMs) this.freshReads.delete(id);
    }
    const read = this.read(now, () => this.bus.cameraInfo(cameraId));
    this.freshReads.set(cameraId, read);
    // A failed read of one camera is not shared: the next request asks again.
    read.value.catch(() => this.freshReads.get(cameraId) === read && this.freshReads.delete(cameraId));
    return read.value;
  }

  private read<T>(now: number, ask: () => Promise<T>): Read<T> {
    const entry: Read<T> = { at: now, value: ask(), answered: false, failed: false };
    entry.value.then(
      () => (entry.answered = true),
      () => (entry.failed = true),
    );
    return entry;
  }
}

/** The value, or null if it fails or takes longer than ms. */
function settledWithin<T>(value: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(resolve, ms, null)));
  return Promise.race([value.catch(() => null), late]).finally(() => clearTimeout(timer));
}
