import { DEFAULT_MAX_FRAME_BYTES } from '@camrelay/frame';

/**
 * Every default of the gateway, in one place: the configuration schema (in seconds where a
 * variable is in seconds) and withDefaults (options.ts), which settles startGateway's options
 * once, both read them here.
 */
export const GATEWAY_DEFAULTS = {
  port: 8080,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  signedUrlTtlSeconds: 3600,
  maxViewers: 2000,
  maxViewersPerAddress: 100,
  /** A wall of snapshot tiles refreshes each one once a second: 50 tiles from one browser fit. */
  snapshotsPerAddressPerSecond: 50,
  noSignalAfterMs: 3000,
  /** A camera opened for its first viewer (it was asleep) shows "starting" this long at most, then NO SIGNAL. */
  startingForMs: 10_000,
  /** A snapshot of a sleeping camera waits this long for it to open and send a frame. */
  snapshotWakeMs: 5000,
  /** How long a claim on a camera lasts unless renewed (every third of it): a gateway that dies holds a camera open this long at most. */
  claimTtlMs: 6000,
  stuckViewerMs: 30_000,
  headersTimeoutMs: 10_000,
  drainMs: 3000,
  /** How long a camera stays subscribed after its last viewer leaves: a page reload does not churn it. */
  lingerMs: 5000,
  /** In process, or embedded: nobody to tell, so stop at once. */
  shutdownDelayMs: 0,
  /** With REDIS_URL, behind a load balancer that checks /readyz every second. */
  distributedShutdownDelayMs: 2000,
} as const;
