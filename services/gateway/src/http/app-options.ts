import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FrameBus } from '@camrelay/bus';
import type { Feeds } from '../fanout/feeds.js';
import type { CameraDirectory } from '../shared-state/camera-directory.js';
import type { AccessControl } from './access.js';
import type { RatePerAddress } from './rate-per-address.js';
import type { StreamSockets } from './stream-sockets.js';
import type { ViewerLimits } from './viewer-limits.js';

/** What the gateway's Koa app is given: its parts, made and settled by startGateway. */
export interface AppOptions {
  readonly bus: FrameBus;
  readonly feeds: Feeds;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly access: AccessControl;
  readonly limits: ViewerLimits;
  /** Snapshots and HEAD requests per client address and second. */
  readonly snapshotRate: RatePerAddress;
  /** Take client addresses from X-Forwarded-For (its last entry: the one our proxy added). */
  readonly trustProxy: boolean;
  /** Origins that may show the viewer page in a frame (FRAME_ANCESTORS); none when empty. */
  readonly frameAncestors: readonly string[];
  /** How long a snapshot of a sleeping camera waits for a frame. */
  readonly snapshotWakeMs: number;
  /** Where streams' sockets go once their response head is written. */
  readonly streams: StreamSockets;
  /** False while shutting down: /readyz turns 503 and new streams are refused. */
  readonly accepting: () => boolean;
}

/** What a route module is given: the app's options, and the camera directory its routes share. */
export interface RouteOptions extends AppOptions {
  readonly directory: CameraDirectory;
}
