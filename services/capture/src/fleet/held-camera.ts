/**
 * A camera this capture instance holds the lease of: its worker process while it is awake
 * (none while it sleeps for lack of viewers), and the publishing of its envelopes under the
 * lease's fencing epoch. Before the lease is taken (a hand-over under way) the worker already
 * runs, in standby: its frames are read and dropped, so the camera is open by the time it is
 * ours and its viewers see no gap.
 */
import type { Logger } from 'pino';
import type { CameraInfo, FrameBus } from '@camrelay/bus';
import type { CameraSpec } from '../cameras.js';
import { isSegmentEnvelope } from '@camrelay/frame';
import { FeedPublisher, SegmentPublisher } from '../publisher.js';
import { IsolatedCamera } from '../worker/isolated-camera.js';
import type { WorkerEnd } from '../worker/isolated-camera.js';
import { NO_COUNTERS, addCounters } from '../worker/protocol.js';
import type { WorkerCounters, WorkerSettings } from '../worker/protocol.js';
import type { WorkerPool } from '../worker/pool.js';

export interface HeldCameraOptions {
  readonly bus: FrameBus;
  readonly log: Logger;
  readonly worker: Omit<WorkerSettings, 'spec' | 'sizes'>;
  readonly workers: WorkerPool;
  readonly hungAfterMs: number;
  readonly startingForMs: number;
  readonly minRestartMs: number;
  readonly maxRestartMs: number;
  /** The camera's source delivered a frame, its first since its worker (re)started. */
  readonly onFirstFrame: (camera: HeldCamera, jpegBytes: number) => void;
  readonly onSleep: (camera: HeldCamera) => void;
}

export class HeldCamera {
  readonly id: string;
  /** The lease's epoch; null in standby (not ours yet). */
  private epoch: number | null = null;
  private isolated: IsolatedCamera | null = null;
  private sizes: readonly string[] = [];
  /** At most one publish in flight per feed, so a slow bus drops frames rather than queue them. */
  private readonly publisher: FeedPublisher;
  /** H.264 segments: when one cannot go out, the rest of its group of pictures goes with it. */
  private readonly segments: SegmentPublisher;
  /** What the camera's last worker reported, kept while it sleeps. */
  private lastInfo: CameraInfo;
  /** Totals of the workers this camera had before its current one (it sleeps and wakes). */
  private retired: WorkerCounters = NO_COUNTERS;
  private readonly retiredEnds: Record<WorkerEnd, number> = { exited: 0, hung: 0 };
  /** Frame numbers rise across the camera's workers (each counts from 0): within an epoch, sequences never repeat. */
  private readonly frameNumbers = { next: 0 };
  /** When the current worker was started, and whether its camera has delivered a frame since. */
  private wokeAt = performance.now();
  private streaming = false;
  /** Envelopes not published because the camera was in standby, or its feed's last publish had not finished. */
  private unpublished = 0;
  private firstFrameSeen!: () => void;
  /** Settles at the worker's first frame: a hand-over takes the lease only then. */
  readonly firstFrame = new Promise<void>((resolve) => (this.firstFrameSeen = resolve));

  constructor(
    private readonly spec: CameraSpec,
    private readonly options: HeldCameraOptions,
    /** What the directory said of the camera, until its own worker reports. */
    known: CameraInfo | null,
    awake: boolean,
  ) {
    this.id = spec.id;
    this.publisher = new FeedPublisher(options.bus);
    this.segments = new SegmentPublisher((feed, envelope, keyframe) => options.bus.publishSegment(feed, envelope, keyframe));
    this.lastInfo = { id: spec.id, width: 0, height: 0, fps: 0, lastFrameAt: null, sizes: [], ...known, sleeping: !awake };
    if (awake) this.isolated = this.startWorker();
  }

  get alwaysOn(): boolean {
    return this.spec.alwaysOn;
  }

  get sleeping(): boolean {
    return this.isolated === null;
  }

  /**
   * Awake, no frame yet, for less than `graceMs`: a worker is starting (loading OpenCV takes
   * seconds on a busy host) or its source is opening. Its idle time starts at its first frame.
   */
  isOpening(graceMs: number): boolean {
    return this.isolated !== null && !this.streaming && performance.now() - this.wokeAt < graceMs;
  }

  /** The process running the camera now; null while it sleeps (or between a crash and its restart). */
  get workerPid(): number | null {
    return this.isolated?.pid ?? null;
  }

  get leaseEpoch(): number | null {
    return this.epoch;
  }

  /** From now on the camera's frames go to the bus, under this epoch. */
  publishUnder(epoch: number): void {
    this.epoch = epoch;
  }

  info(): CameraInfo {
    const reported = this.isolated?.latestInfo;
    if (reported) this.lastInfo = reported;
    return this.isolated ? this.lastInfo : { ...this.lastInfo, fps: 0, sleeping: true };
  }

  /** Its frames are its source's own JPEGs, published as delivered (MJPEG passthrough); false while it sleeps. */
  get passthrough(): boolean {
    return this.isolated?.passthrough ?? false;
  }

  counters(): WorkerCounters {
    const total = addCounters(this.retired, this.isolated?.counters ?? NO_COUNTERS);
    return { ...total, droppedFrames: total.droppedFrames + this.droppedFrames };
  }

  /** Envelopes not published: the bus was slow, or the camera was in standby. */
  get droppedFrames(): number {
    return this.unpublished + this.publisher.dropped + this.segments.dropped;
  }

  /** Workers that ended without being asked to (a crash, a hang), by why. */
  workerEnds(): Record<WorkerEnd, number> {
    const current = this.isolated?.ends ?? { exited: 0, hung: 0 };
    return { exited: this.retiredEnds.exited + current.exited, hung: this.retiredEnds.hung + current.hung };
  }

  /** The smaller sizes (`WxH`) someone watches now; others are not encoded. */
  watchSizes(sizes: ReadonlySet<string>): void {
    this.sizes = [...sizes].sort();
    this.isolated?.watchSizes(this.sizes);
  }

  wake(): void {
    this.isolated ??= this.startWorker();
  }

  sleep(): void {
    void this.stopWorker().then(() => this.options.onSleep(this));
  }

  async stop(): Promise<void> {
    this.epoch = null;
    await this.stopWorker();
  }

  private async stopWorker(): Promise<void> {
    const isolated = this.isolated;
    if (!isolated) return;
    this.isolated = null;
    this.lastInfo = isolated.latestInfo ?? this.lastInfo;
    await isolated.stop();
    this.retired = addCounters(this.retired, isolated.counters);
    this.retiredEnds.exited += isolated.ends.exited;
    this.retiredEnds.hung += isolated.ends.hung;
  }

  private startWorker(): IsolatedCamera {
    this.wokeAt = performance.now();
    this.streaming = false;
    const { worker, workers, log, hungAfterMs, startingForMs, minRestartMs, maxRestartMs } = this.options;
    const isolated = new IsolatedCamera({
      settings: { ...worker, spec: this.spec },
      workers,
      frameNumbers: this.frameNumbers,
      log,
      hungAfterMs,
      startingForMs,
      minRestartMs,
      maxRestartMs,
      onEnvelope: (feed, envelope, frame) => this.publish(feed, envelope, frame),
      onFirstFrame: (info, jpegBytes) => {
        this.lastInfo = info;
        this.streaming = true;
        this.firstFrameSeen();
        this.options.onFirstFrame(this, jpegBytes);
      },
    });
    isolated.watchSizes(this.sizes);
    return isolated;
  }

  private publish(feed: string, envelope: Buffer, frame: number): void {
    const epoch = this.epoch;
    const segment = isSegmentEnvelope(envelope);
    if (epoch === null) {
      if (segment) this.segments.interrupt(feed);
      else this.unpublished++;
      return;
    }
    if (!segment && this.publisher.busy(feed)) {
      this.unpublished++;
      return;
    }
    // The sequence: the epoch in its high 32 bits, the frame's number below (@camrelay/frame's epoch).
    envelope.writeUInt32BE(epoch, 4);
    envelope.writeUInt32BE(frame >>> 0, 8);
    if (segment) this.segments.publish(feed, envelope);
    else this.publisher.publish(feed, envelope);
  }
}
