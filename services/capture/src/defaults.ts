import { DEFAULT_MAX_FRAME_BYTES } from '@camrelay/frame';

/**
 * Every default of capture, in one place: the configuration schema and the in-process options
 * of startCapture and Camera both read them here.
 */
export const CAPTURE_DEFAULTS = {
  /** One camera: the first video device, or the labelled test pattern when there is none. */
  cameras: 'default=auto',
  pattern: { kind: 'pattern', width: 640, height: 480, fps: 30 },
  jpegQuality: 80,
  /** An MJPEG source's own JPEGs are published as delivered (MJPEG_PASSTHROUGH=off encodes them again). */
  mjpegPassthrough: true,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** The most pixels a source's frame may have (4K); a larger one is dropped before it is encoded. */
  maxSourceSize: { width: 3840, height: 2160 },
  healthPort: 8081,
  /** /healthz and /metrics name the cameras and need no token: this machine only, unless asked. */
  healthHost: '127.0.0.1',
  /** How often the camera directory (size, measured fps, last frame) is refreshed. */
  announceIntervalMs: 1000,
  /** A still scene's frame is published again this often (the latest-frame copy, NO SIGNAL watches, proxies). */
  unchangedRepublishMs: 1000,
  /** A camera nobody has watched for this long is closed (CAPTURE_IDLE_AFTER, in seconds there). */
  idleAfterMs: 30_000,
  /** How often capture reads which cameras the gateways watch: a sleeping camera's first viewer waits up to this long more. */
  demandLookEveryMs: 200,
  /** First reopen delay of a failed source; doubles per failure up to maxRetryMs. */
  minRetryMs: 500,
  maxRetryMs: 15_000,
  /**
   * A camera's lease lasts this long unless its holder renews it: a holder that dies or hangs
   * costs its cameras this, plus a look of another instance and the open (docs/scaling.md, Cameras: capture as a fleet: Failover).
   */
  leaseTtlMs: 1500,
  /** How long capture waits for Redis at start before it goes on without (and takes its cameras once Redis is there). */
  firstLookWaitMs: 5000,
  /** How often each instance renews its leases and looks at the others'. */
  leaseRenewEveryMs: 300,
  /** A camera being taken over that gives no frame in this time stays with its holder. */
  handoverTimeoutMs: 10_000,
  /** Hand-overs one instance runs at once (each opens a camera). */
  maxHandovers: 4,
  /** How long a stopping instance waits for the others to take its cameras over (docker's grace is 10 s). */
  handoverOnStopMs: 8000,
  /**
   * Camera workers kept started (OpenCV loaded; ~50 MB each), so that cameras taken over from a
   * dead instance open at once: this many at once, the others after a worker's start (~0.6 s
   * on an idle host, seconds on a busy one). Never more than CAMERAS has.
   */
  spareWorkers: 4,
  /** How often a camera's worker reports; it is its heartbeat too. */
  workerStatusEveryMs: 500,
  /** A worker silent this long is hung: an open or a read stuck in native code. Killed and started again. */
  workerHungAfterMs: 10_000,
  /** A new worker loads OpenCV before its first report: dozens starting at once on two cores take seconds. */
  workerStartingForMs: 60_000,
} as const;
