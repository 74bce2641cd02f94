import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import type { Registry } from '@camrelay/metrics';
import type { AccessOptions } from './http/access.js';
import { GATEWAY_DEFAULTS as D } from './defaults.js';

/** What startGateway is given; every option left out takes its default in withDefaults. */
export interface GatewayOptions {
  readonly port: number;
  readonly bus: FrameBus;
  readonly log: Logger;
  /** Host to listen on. @default all interfaces */
  readonly host?: string;
  /** How long a feed stays subscribed after its last viewer leaves. @default GATEWAY_DEFAULTS.lingerMs */
  readonly lingerMs?: number;
  /** Who may view what. @default access control off, URLs signed for GATEWAY_DEFAULTS.signedUrlTtlSeconds */
  readonly access?: AccessOptions;
  /** Open streams this gateway serves at most. @default GATEWAY_DEFAULTS.maxViewers */
  readonly maxViewers?: number;
  /** Open streams per client address at most. @default GATEWAY_DEFAULTS.maxViewersPerAddress */
  readonly maxViewersPerAddress?: number;
  /** Snapshots (and HEAD requests) per client address and second. @default GATEWAY_DEFAULTS.snapshotsPerAddressPerSecond */
  readonly snapshotsPerAddressPerSecond?: number;
  /** Client addresses from X-Forwarded-For. @default false */
  readonly trustProxy?: boolean;
  /** Origins that may show the viewer page in a frame. @default none */
  readonly frameAncestors?: readonly string[];
  /** Envelopes carrying a larger JPEG are dropped unread. @default GATEWAY_DEFAULTS.maxFrameBytes */
  readonly maxFrameBytes?: number;
  /** Without frames for this long a feed's viewers get the NO SIGNAL picture. @default GATEWAY_DEFAULTS.noSignalAfterMs */
  readonly noSignalAfterMs?: number;
  /** A viewer whose socket has not drained for this long is cut. @default GATEWAY_DEFAULTS.stuckViewerMs */
  readonly stuckViewerMs?: number;
  /** A request's headers must arrive within this time. @default GATEWAY_DEFAULTS.headersTimeoutMs */
  readonly headersTimeoutMs?: number;
  /** On close, how long /readyz reports 503 while open streams go on, before they end and the listener closes. @default GATEWAY_DEFAULTS.shutdownDelayMs */
  readonly shutdownDelayMs?: number;
  /** On close, how long ended streams may take to flush before their sockets are cut. @default GATEWAY_DEFAULTS.drainMs */
  readonly drainMs?: number;
  /**
   * Adds metrics of the process around the gateway to its /metrics (capture's in the all-in-one,
   * the Redis connection's in the gateway service). @default none
   */
  readonly moreMetrics?: (registry: Registry) => void;
}

/**
 * A gateway's settings: its options with every default applied, and the timings that are not
 * options (GATEWAY_DEFAULTS' own). The gateway's parts are given these and apply no default
 * of their own.
 */
export interface GatewaySettings extends Required<Omit<GatewayOptions, 'host'>> {
  readonly host: string | undefined;
  /** A feed woken for its first viewer shows STARTING this long at most, then NO SIGNAL. */
  readonly startingForMs: number;
  /** How long this gateway's claim on a feed lasts unless renewed. */
  readonly claimTtlMs: number;
  /** How long a snapshot of a sleeping camera waits for a frame. */
  readonly snapshotWakeMs: number;
}

/** The one place the gateway's defaults are applied, once, at start. */
export function withDefaults(options: GatewayOptions): GatewaySettings {
  return {
    port: options.port,
    bus: options.bus,
    log: options.log,
    host: options.host,
    lingerMs: options.lingerMs ?? D.lingerMs,
    access: options.access ?? { enabled: false, tokens: [], ttlSeconds: D.signedUrlTtlSeconds },
    maxViewers: options.maxViewers ?? D.maxViewers,
    maxViewersPerAddress: options.maxViewersPerAddress ?? D.maxViewersPerAddress,
    snapshotsPerAddressPerSecond: options.snapshotsPerAddressPerSecond ?? D.snapshotsPerAddressPerSecond,
    trustProxy: options.trustProxy ?? false,
    frameAncestors: options.frameAncestors ?? [],
    maxFrameBytes: options.maxFrameBytes ?? D.maxFrameBytes,
    noSignalAfterMs: options.noSignalAfterMs ?? D.noSignalAfterMs,
    stuckViewerMs: options.stuckViewerMs ?? D.stuckViewerMs,
    headersTimeoutMs: options.headersTimeoutMs ?? D.headersTimeoutMs,
    shutdownDelayMs: options.shutdownDelayMs ?? D.shutdownDelayMs,
    drainMs: options.drainMs ?? D.drainMs,
    moreMetrics: options.moreMetrics ?? (() => undefined),
    startingForMs: D.startingForMs,
    claimTtlMs: D.claimTtlMs,
    snapshotWakeMs: D.snapshotWakeMs,
  };
}
