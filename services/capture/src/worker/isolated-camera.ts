/**
 * Runs one camera in its own process (camera-worker.ts) and keeps it running: a worker that
 * exits or crashes is started again after a backoff, and one that falls silent (its event loop
 * stuck in native code: an open or a read that never returns) is killed and started again.
 * Whatever its camera does, capture's own event loop only reads envelopes from a pipe.
 *
 * Why processes and not worker threads: a crash inside OpenCV or FFmpeg (a segfault on a
 * corrupt stream) ends the whole process, threads and all; and OpenCV's blocking calls need an
 * event loop of their own either way. A worker costs 50-80 MB (PSS) and ~0.6 s of CPU to start,
 * most of it loading OpenCV (docs/scaling.md, Cameras: capture as a fleet).
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { CameraInfo } from '@camrelay/bus';
import { FRAME_PIPE_FD, FramePipeReader, NO_COUNTERS, addCounters, directoryEntryOf } from './protocol.js';
import type { FromWorker, ToWorker, WorkerCounters, WorkerSettings } from './protocol.js';
import type { WorkerPool } from './pool.js';

export interface IsolatedCameraOptions {
  readonly settings: Omit<WorkerSettings, 'sizes'>;
  readonly workers: WorkerPool;
  readonly log: Logger;
  /**
   * An envelope from the worker, with its frame's number: rising across the workers this
   * camera has had (each worker counts from 0), the same for every size of one frame.
   */
  readonly onEnvelope: (feed: string, envelope: Buffer, frame: number) => void;
  /** The number the next worker's first frame gets; shared with whoever numbers the camera's frames across sleeps. */
  readonly frameNumbers: { next: number };
  /** The worker's camera delivered its first frame since it was (re)started. */
  readonly onFirstFrame: (info: CameraInfo, jpegBytes: number) => void;
  /** A worker silent this long is taken for hung, killed and started again. */
  readonly hungAfterMs: number;
  /**
   * A new worker's first report may take this long: it loads OpenCV first, and a capture that
   * starts many cameras at once on a small host starts many workers at once.
   */
  readonly startingForMs: number;
  readonly minRestartMs: number;
  readonly maxRestartMs: number;
}

export type WorkerEnd = 'exited' | 'hung';

export class IsolatedCamera {
  private worker: ChildProcess | null = null;
  private stopped = false;
  private sizes: readonly string[] = [];
  private lastHeardAt = 0;
  /** The current worker has reported since it started: from then on, silence means a hang. */
  private reported = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly watchdog: NodeJS.Timeout;
  /** The latest report of the running worker, and the totals of those before it. */
  private current: WorkerCounters = NO_COUNTERS;
  private retired: WorkerCounters = NO_COUNTERS;
  latestInfo: CameraInfo | null = null;
  /** The running worker's latest frame was its source's own JPEG, published as delivered (WorkerCameraInfo.passthrough). */
  passthrough = false;
  /** Workers that ended without being asked to, by why. */
  readonly ends: Record<WorkerEnd, number> = { exited: 0, hung: 0 };

  constructor(private readonly options: IsolatedCameraOptions) {
    this.watchdog = setInterval(() => this.checkAlive(), Math.min(1000, options.hungAfterMs / 4));
    this.watchdog.unref();
    this.startWorker();
  }

  get pid(): number | null {
    return this.worker?.pid ?? null;
  }

  /** Counters summed over every worker this camera has had. */
  get counters(): WorkerCounters {
    return addCounters(this.retired, this.current);
  }

  watchSizes(sizes: readonly string[]): void {
    if (sizes.length === this.sizes.length && sizes.every((size, i) => size === this.sizes[i])) return;
    this.sizes = sizes;
    this.send({ type: 'sizes', sizes });
  }

  /** Ends the worker: SIGTERM, then SIGKILL if it has not gone within graceMs. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.kill('SIGTERM');
    const kill = setTimeout(() => worker.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(kill);
  }

  private startWorker(): void {
    const { settings, log } = this.options;
    const worker = this.options.workers.take();
    this.worker = worker;
    this.lastHeardAt = performance.now();
    this.reported = false;
    this.current = NO_COUNTERS;
    const numbers = this.options.frameNumbers;
    const base = numbers.next;
    const reader = new FramePipeReader((feed, envelope) => {
      // A replaced worker's last envelopes are dropped: its frame numbers are no longer ours.
      if (this.worker !== worker) return;
      const frame = base + envelope.readUInt32BE(8);
      if (frame >= numbers.next) numbers.next = frame + 1;
      this.options.onEnvelope(feed, envelope, frame);
    });
    (worker.stdio[FRAME_PIPE_FD] as Readable).on('data', (chunk: Buffer) => reader.push(chunk));
    worker.on('message', (message: FromWorker) => this.hear(message));
    worker.on('error', (error) => log.warn({ camera: settings.spec.id, err: error.message }, 'camera worker failed to start'));
    worker.removeAllListeners('exit');
    worker.once('exit', (code, signal) => {
      if (this.worker === worker) this.worker = null;
      this.retire();
      if (this.stopped) return;
      this.ends.exited++;
      this.scheduleRestart({ code, signal }, 'camera worker ended; starting it again');
    });
    this.send({ type: 'start', settings: { ...settings, sizes: this.sizes } });
  }

  private hear(message: FromWorker): void {
    if (message.type === 'ready') return;
    this.lastHeardAt = performance.now();
    this.reported = true;
    this.latestInfo = directoryEntryOf(message.info);
    this.passthrough = message.info.passthrough;
    this.current = message.counters;
    if (message.type === 'status') {
      // Frames flow again: a later crash starts over from the shortest backoff.
      if (message.info.lastFrameAt !== null) this.restarts = 0;
    } else this.options.onFirstFrame(this.latestInfo, message.jpegBytes);
  }

  private retire(): void {
    this.retired = this.counters;
    this.current = NO_COUNTERS;
    this.passthrough = false;
  }

  private checkAlive(): void {
    const worker = this.worker;
    const allowedMs = this.reported ? this.options.hungAfterMs : this.options.startingForMs;
    const silentMs = performance.now() - this.lastHeardAt;
    if (this.stopped || !worker || silentMs < allowedMs) return;
    this.ends.hung++;
    this.worker = null;
    this.retire();
    worker.removeAllListeners('exit');
    worker.kill('SIGKILL');
    this.scheduleRestart({ silentMs: Math.round(silentMs) }, 'camera worker hung (no report); killed, starting it again');
  }

  private scheduleRestart(details: Record<string, unknown>, message: string): void {
    const { minRestartMs, maxRestartMs, log, settings } = this.options;
    const inMs = Math.min(maxRestartMs, minRestartMs * 2 ** this.restarts++);
    log.warn({ camera: settings.spec.id, ...details, restartInMs: inMs }, message);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopped) this.startWorker();
    }, inMs);
  }

  private send(message: ToWorker): void {
    const worker = this.worker;
    if (worker?.connected) worker.send(message, () => undefined);
  }
}
