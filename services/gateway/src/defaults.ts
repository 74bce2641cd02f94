import { DEFAULT_MAX_FRAME_BYTES } from '@camrelay/frame';

/**
 * Every default of the gateway, in one place: the configuration schema (in seconds where a
 * variable is in seconds) and the in-process options of startGateway both read them here.
 */
export const GATEWAY_DEFAULTS = {
  port: 8080,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  signedUrlTtlSeconds: 3600,
  maxViewers: 2000,
  maxViewersPerAddress: 100,
  noSignalAfterMs: 3000,
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
