import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { H264_SUFFIX, encodeEnvelope } from '@camrelay/frame';
import type { CameraSpec } from '../cameras.js';
import type { OpenCV } from '../opencv.js';
import { describe } from '../opencv.js';
import { openSource } from '../sources/open.js';
import type { FrameSource } from '../sources/source.js';
import { CAPTURE_DEFAULTS } from '../defaults.js';
import { VideoEncoders } from '../h264/video-encoders.js';
import { FeedPublisher, SegmentPublisher } from '../publisher.js';
import type { FrameSink } from '../publisher.js';
import type { WorkerCameraInfo } from '../worker/protocol.js';
import { FrameRateMeter } from './frame-rate.js';
import { Scaler } from './scaling.js';

export interface CameraOptions {
  readonly cv: OpenCV;
  readonly sink: FrameSink;
  readonly jpegQuality: number;
  /** Publish an MJPEG source's own JPEGs as delivered. */
  readonly mjpegPassthrough: boolean;
  readonly log: Logger;
  /** First reopen delay; doubles per failure up to maxRetryMs. @default CAPTURE_DEFAULTS.minRetryMs */
  readonly minRetryMs?: number;
  /** @default CAPTURE_DEFAULTS.maxRetryMs */
  readonly maxRetryMs?: number;
  /** Frames of more pixels than this are dropped before they are encoded. @default CAPTURE_DEFAULTS.maxSourceSize */
  readonly maxSourceSize?: { readonly width: number; readonly height: number };
  /** Encoded frames larger than this are dropped. @default CAPTURE_DEFAULTS.maxFrameBytes */
  readonly maxFrameBytes?: number;
  /** An unchanged frame is published again after this long. @default CAPTURE_DEFAULTS.unchangedRepublishMs */
  readonly unchangedRepublishMs?: number;
  /** Called when a newly opened source delivers its first frame (its size is known then). */
  readonly onFirstFrame?: (camera: Camera, jpegBytes: number) => void;
  /** Called when the camera's source has been closed because nobody watches it. */
  readonly onSleep?: (camera: Camera) => void;
}

/** A camera's options with every default filled in: once, when it is made, not per frame. */
function withDefaults(options: CameraOptions) {
  const D = CAPTURE_DEFAULTS;
  return {
    ...options,
    minRetryMs: options.minRetryMs ?? D.minRetryMs,
    maxRetryMs: options.maxRetryMs ?? D.maxRetryMs,
    maxSourceSize: options.maxSourceSize ?? D.maxSourceSize,
    maxFrameBytes: options.maxFrameBytes ?? D.maxFrameBytes,
    unchangedRepublishMs: options.unchangedRepublishMs ?? D.unchangedRepublishMs,
  };
}

/**
 * One camera: opened once, read at its frame rate, encoded once per frame, published.
 * A failure to open or read is logged and retried with backoff; it never throws out.
 */
export class Camera {
  readonly id: string;
  private readonly spec: CameraSpec;
  private readonly options: ReturnType<typeof withDefaults>;
  private readonly log: Logger;
  private readonly meter = new FrameRateMeter();
  private readonly encodeParams: number[];
  /** The camera's frames at the smaller sizes someone watches. */
  private readonly scaler: Scaler;
  /** The camera in H.264, at the sizes someone watches so. */
  private readonly video: VideoEncoders;
  /** H.264 segments: never dropped one at a time (see SegmentPublisher). */
  private readonly segments: SegmentPublisher;
  private stopped = false;
  private readonly stopping = new AbortController();
  /** False while nobody watches: the source is closed until wake(). */
  private wanted = true;
  /** Ends the wait of a sleeping camera (wake or stop). */
  private wakeUp: (() => void) | null = null;
  private running: Promise<void> | undefined;
  private sequence = 0;
  private width = 0;
  private height = 0;
  private lastFrameAt: number | null = null;
  /** The latest frame was the source's own JPEG, published as delivered (MJPEG passthrough); false while the source is closed. */
  private passingThrough = false;
  /** At most one envelope in flight per feed: when the sink is slow or down, frames are dropped, not queued. */
  private readonly publisher: FeedPublisher;
  /** The JPEG last published, and when: an identical one is not published again for a while. */
  private lastPublished: { readonly jpeg: Buffer; readonly at: number } | null = null;
  /** Frames not published because they were byte for byte the last one published (a still scene). */
  unchangedFrames = 0;
  framesCaptured = 0;
  /** Frames dropped for their size (MAX_SOURCE_SIZE, MAX_FRAME_BYTES); logged once per camera. */
  oversizeFrames = 0;
  /** Times the source was opened: once at start, then once per wake (and per reopen after a failure). */
  opens = 0;
  /** Attempts to open the source that failed; each is tried again after the backoff. */
  openFailures = 0;

  constructor(spec: CameraSpec, options: CameraOptions) {
    this.id = spec.id;
    this.spec = spec;
    this.options = withDefaults(options);
    this.log = options.log.child({ camera: spec.id });
    this.encodeParams = [options.cv.IMWRITE_JPEG_QUALITY, options.jpegQuality];
    this.publisher = new FeedPublisher(options.sink);
    this.scaler = new Scaler({
      cv: options.cv,
      cameraId: spec.id,
      configured: spec.sizes,
      encodeParams: this.encodeParams,
      log: this.log,
      publish: (feed, envelope) => this.publisher.publish(feed, envelope),
    });
    this.segments = new SegmentPublisher((feed, envelope) => options.sink.publishFrame(feed, envelope));
    this.video = new VideoEncoders({
      cv: options.cv,
      cameraId: spec.id,
      log: this.log,
      publish: (feed, envelope) => this.segments.publish(feed, envelope),
    });
  }

  /** Frames (and H.264 segments) not published because the way out was slow or down. */
  get droppedFrames(): number {
    return this.publisher.dropped + this.segments.dropped;
  }

  /** Frames encoded in H.264, and frames an encoder was too busy to take. */
  get videoCounts(): { readonly encoded: number; readonly behind: number } {
    return this.video.counts;
  }

  /** Frames encoded at each smaller size. */
  get scaledFrames(): ReadonlyMap<string, number> {
    return this.scaler.scaledFrames;
  }

  /** Frames that could not be scaled (a source JPEG that does not decode); logged once. */
  get scaleFailures(): number {
    return this.scaler.failures;
  }

  info(): WorkerCameraInfo {
    return {
      id: this.id,
      width: this.width,
      height: this.height,
      fps: this.meter.rate(),
      lastFrameAt: this.lastFrameAt,
      sleeping: !this.wanted,
      sizes: this.width === 0 ? [] : [`${this.width}x${this.height}`, ...this.scaler.offeredNames()],
      passthrough: this.passingThrough,
    };
  }

  /**
   * What someone watches now besides the camera's own JPEGs (@camrelay/frame's feedVariant):
   * smaller sizes (`WxH`) and H.264 feeds (`+h264`, `WxH+h264`). Others are not encoded.
   */
  watchSizes(variants: ReadonlySet<string>): void {
    const jpeg = new Set<string>();
    const video = new Set<string>();
    for (const variant of variants) {
      if (variant.endsWith(H264_SUFFIX)) video.add(variant.slice(0, -H264_SUFFIX.length));
      else jpeg.add(variant);
    }
    this.scaler.watch(jpeg);
    this.video.watch(video);
  }

  /** Kept open whether watched or not (option `always`). */
  get alwaysOn(): boolean {
    return this.spec.alwaysOn;
  }

  get sleeping(): boolean {
    return !this.wanted;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Opens the source again if it was put to sleep. */
  wake(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.wakeUp?.();
  }

  /** Closes the source after its current frame; wake() opens it again. */
  sleep(): void {
    this.wanted = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wakeUp?.();
    await this.running;
    this.video.close();
  }

  private async run(): Promise<void> {
    const { minRetryMs, maxRetryMs } = this.options;
    let failures = 0;
    while (!this.stopped) {
      if (!this.wanted) {
        await this.waitForViewers();
        continue;
      }
      let source: FrameSource | undefined;
      let retryInMs = 0;
      try {
        source = openSource(this.options.cv, this.id, this.spec.source, {
          passthrough: this.options.mjpegPassthrough,
          onFallback: (problem) =>
            this.log.warn({ problem }, 'MJPEG source: its frames are not complete baseline JPEGs; decoding and encoding them again'),
        });
        this.opens++;
        this.log.info({ source: source.description, fps: source.fps, passthrough: source.passthrough }, 'camera opened');
        // Backoff resets only once frames flow: a source that opens and then fails at once
        // (a dead stream) must not be reopened every half second.
        await this.stream(source, () => (failures = 0));
      } catch (error) {
        retryInMs = Math.min(maxRetryMs, minRetryMs * 2 ** failures++);
        if (!source) this.openFailures++;
        this.log.warn({ err: describe(error), retryInMs }, source ? 'camera lost' : 'camera did not open');
      } finally {
        source?.close();
        this.passingThrough = false;
      }
      if (retryInMs > 0) await this.pause(retryInMs);
    }
  }

  /** Waits, its source closed, until a viewer wants the camera again (or it is stopped). */
  private async waitForViewers(): Promise<void> {
    this.options.onSleep?.(this);
    await new Promise<void>((resolve) => (this.wakeUp = resolve));
    this.wakeUp = null;
  }

  private async stream(source: FrameSource, onFrames: () => void): Promise<void> {
    const { cv } = this.options;
    const interval = 1000 / source.fps;
    let due = performance.now();
    let first = true;
    while (!this.stopped && this.wanted) {
      const frame = await source.read();
      const capturedAt = Date.now();
      const [width, height] = frame.kind === 'jpeg' ? [frame.width, frame.height] : [frame.mat.cols, frame.mat.rows];
      // A source's own JPEG is published as delivered; a picture is encoded, once.
      const jpeg = !this.fitsSource(width, height)
        ? null
        : frame.kind === 'jpeg'
          ? frame.jpeg
          : await cv.imencodeAsync('.jpg', frame.mat, this.encodeParams);
      if (jpeg && this.fitsBus(jpeg.length, width, height)) {
        if (width !== this.width || height !== this.height) this.scaler.resize(width, height);
        this.width = width;
        this.height = height;
        this.lastFrameAt = capturedAt;
        this.passingThrough = frame.kind === 'jpeg';
        this.meter.tick(capturedAt);
        this.framesCaptured++;
        const sequence = this.sequence++;
        if (this.isUnchanged(jpeg, capturedAt)) this.unchangedFrames++;
        else {
          this.lastPublished = { jpeg, at: capturedAt };
          this.publisher.publish(this.id, encodeEnvelope({ sequence, capturedAt, width, height, jpeg }));
          await this.scaler.publish(frame, jpeg, sequence, capturedAt);
        }
        // Every frame, unchanged or not: a still scene costs H.264 almost nothing, and its
        // keyframes must keep coming for viewers who join.
        await this.video.encode(frame, { width, height, fps: source.fps }, this.scaler.offeredSizes, sequence, capturedAt);
        if (first) {
          first = false;
          this.options.onFirstFrame?.(this, jpeg.length);
        }
      }
      // Frames flow, published or not: the source is not failing, so its backoff starts over.
      onFrames();

      if (source.live) continue;
      due += interval;
      const wait = due - performance.now();
      if (wait > 0) await this.pause(wait);
      else if (wait < -interval) due = performance.now(); // fell behind: do not burst to catch up
    }
  }

  /**
   * A still scene costs nothing: a JPEG byte for byte the last one published is not published
   * again, but once a second it is, so the latest-frame copy, the gateways' NO SIGNAL watch and
   * proxies between viewers and gateways all see a camera that is alive.
   */
  private isUnchanged(jpeg: Buffer, capturedAt: number): boolean {
    const last = this.lastPublished;
    if (this.spec.publishUnchanged || !last) return false;
    return capturedAt - last.at < this.options.unchangedRepublishMs && jpeg.equals(last.jpeg);
  }

  /** A frame too large for the source bound (an 8K camera, a huge declared size) is not even encoded. */
  private fitsSource(width: number, height: number): boolean {
    const max = this.options.maxSourceSize;
    if (width * height <= max.width * max.height) return true;
    this.refuseOversize({ width, height }, `frames larger than MAX_SOURCE_SIZE=${max.width}x${max.height} are dropped`);
    return false;
  }

  private fitsBus(bytes: number, width: number, height: number): boolean {
    const max = this.options.maxFrameBytes;
    if (bytes <= max) return true;
    this.refuseOversize({ width, height, bytes }, `encoded frames larger than MAX_FRAME_BYTES=${max} are dropped`);
    return false;
  }

  /** Counted each time, logged once per camera: a source that stays too large would flood the log. */
  private refuseOversize(frame: Record<string, number>, rule: string): void {
    if (this.oversizeFrames++ === 0)
      this.log.warn({ ...frame }, `frame too large: ${rule} (logged once; counted in camrelay_capture_frames_oversize_total)`);
  }

  /** Waits, or returns early when the camera is stopped. */
  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }
}
