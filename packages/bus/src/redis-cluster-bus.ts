import { EventEmitter } from 'node:events';
import { Cluster } from 'ioredis';
import { framesChannel, latestFrameKey } from '@camrelay/frame';
import type { CameraInfo, EnvelopeListener, FrameBus, WatchedFeeds } from './bus.js';
import {
  announceCameras,
  cameraInfo,
  listCameras,
  markWatched,
  publishFrame,
  replaceSharedSecret,
  sharedSecret,
  unmarkWatched,
  watchedFeeds,
} from './redis-commands.js';
import type { LeaseReading, LeaseTerms } from './leases.js';
import { fleetMembers, joinFleet, leaveFleet, readLeases, releaseLease, renewLease, reserveHandover, takeLease } from './redis-leases.js';

export interface RedisClusterBusOptions {
  /** Seed nodes; the client learns the rest of the cluster from them. */
  seeds: ReadonlyArray<{ host: string; port: number }>;
  username?: string;
  password?: string;
  tls?: boolean;
  /**
   * Called on a connection problem, at most once a second per kind of connection: while a
   * master is down, ioredis retries its shard many times a second. The bus keeps retrying.
   */
  onError?: (error: Error, connection: 'publisher' | 'subscriber') => void;
}

const ERROR_REPORT_EVERY_MS = 1000;

/** How long a command or a connection attempt may take before it fails. */
const COMMAND_TIMEOUT_MS = 2000;
/**
 * How often the client asks the cluster who owns which slots. ioredis also asks after a MOVED
 * reply, a pushed `sunsubscribe` or a lost subscriber connection, which is how a killed master
 * is noticed (90-160 ms after its replica's promotion in the cluster test). A master that goes
 * silent with its connections open (a stopped process, a partition) announces nothing: this
 * poll finds its promoted replica (1.6 s after the promotion in the test; 4.7 s with a 5 s poll).
 */
const SLOTS_REFRESH_MS = 1000;

/**
 * A Redis Cluster with sharded pub/sub: a camera's frames are published with SPUBLISH and read
 * with SSUBSCRIBE, so they travel through the one shard that owns the camera's hash slot (its
 * channel and latest-frame key share the `{camera}` hash tag) instead of being broadcast to
 * every node as PUBLISH is.
 *
 * ioredis (6, `shardedSubscribers`) keeps one subscriber connection per master, follows slot
 * moves and failovers, and subscribes its channels again on the new owner. What is ours: the
 * channels asked for while the cluster was unreachable are subscribed once it is back.
 */
export class RedisClusterBus extends EventEmitter implements FrameBus {
  private readonly cluster: Cluster;
  private readonly envelopeListeners = new Map<string, EnvelopeListener>();
  /** Channels handed to ioredis, which keeps them subscribed from then on. */
  private readonly subscribed = new Set<string>();
  private up = false;
  private readonly onError: RedisClusterBusOptions['onError'];
  private readonly lastErrorReport = { publisher: 0, subscriber: 0 };

  constructor(options: RedisClusterBusOptions) {
    super();
    this.onError = options.onError;
    this.cluster = new Cluster(
      options.seeds.map(({ host, port }) => ({ host, port })),
      {
        shardedSubscribers: true,
        // A frame replayed after an outage is stale: better dropped than shown late.
        enableOfflineQueue: false,
        slotsRefreshInterval: SLOTS_REFRESH_MS,
        // Reconnect quickly at first, then every second, as the single-Redis bus does.
        clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
        redisOptions: {
          connectionName: 'camrelay',
          // As in the single-Redis bus: no CLIENT SETINFO, which the ACL users are not granted.
          disableClientInfo: true,
          connectTimeout: COMMAND_TIMEOUT_MS,
          commandTimeout: COMMAND_TIMEOUT_MS,
          ...(options.username === undefined ? {} : { username: options.username }),
          ...(options.password === undefined ? {} : { password: options.password }),
          ...(options.tls ? { tls: {} } : {}),
        },
      },
    );
    this.cluster.on('ready', () => {
      this.subscribeAsked();
      this.updateState();
    });
    for (const event of ['close', 'end', 'reconnecting']) this.cluster.on(event, () => this.updateState());
    this.cluster.on('error', (error: Error) => this.reportError(error, 'publisher'));
    // A shard's subscriber connection failed (its master died, say): ioredis finds the new owner.
    this.cluster.on('nodeError', (error: Error) => this.reportError(error, 'subscriber'));
    this.cluster.on('smessageBuffer', (channel: Buffer, message: Buffer) => {
      this.envelopeListeners.get(channel.toString('latin1'))?.(message);
    });
  }

  get isUp(): boolean {
    return this.up;
  }

  publishFrame(cameraId: string, envelope: Buffer): Promise<void> {
    return publishFrame(this.cluster, 'spublish', cameraId, envelope);
  }

  latestFrame(cameraId: string): Promise<Buffer | null> {
    return this.cluster.getBuffer(latestFrameKey(cameraId));
  }

  async subscribe(cameraId: string, listener: EnvelopeListener): Promise<void> {
    const channel = framesChannel(cameraId);
    if (this.envelopeListeners.has(channel)) throw new Error(`already subscribed to camera ${cameraId}`);
    this.envelopeListeners.set(channel, listener);
    // While the cluster is unreachable the channel is subscribed on the next 'ready'.
    if (this.cluster.status !== 'ready') return;
    try {
      await this.cluster.ssubscribe(channel);
      this.subscribed.add(channel);
    } catch (error) {
      this.envelopeListeners.delete(channel);
      throw error;
    }
  }

  async unsubscribe(cameraId: string): Promise<void> {
    const channel = framesChannel(cameraId);
    if (!this.envelopeListeners.delete(channel)) return;
    if (!this.subscribed.delete(channel)) return;
    await this.cluster.sunsubscribe(channel).catch(() => undefined);
  }

  /** After a (re)connect: hand ioredis every channel it has not been given yet. */
  private subscribeAsked(): void {
    for (const channel of this.envelopeListeners.keys()) {
      if (this.subscribed.has(channel)) continue;
      this.subscribed.add(channel);
      this.cluster.ssubscribe(channel).catch((error: Error) => {
        this.subscribed.delete(channel);
        this.reportError(error, 'subscriber');
      });
    }
  }

  announceCameras(cameras: readonly CameraInfo[], ttlMs?: number): Promise<void> {
    return announceCameras(this.cluster, cameras, ttlMs);
  }

  listCameras(): Promise<CameraInfo[]> {
    return listCameras(this.cluster);
  }

  cameraInfo(cameraId: string): Promise<CameraInfo | null> {
    return cameraInfo(this.cluster, cameraId);
  }

  markWatched(holder: string, cameraIds: readonly string[], ttlMs: number): Promise<void> {
    return markWatched(this.cluster, holder, cameraIds, ttlMs);
  }

  unmarkWatched(holder: string, cameraId: string): Promise<void> {
    return unmarkWatched(this.cluster, holder, cameraId);
  }

  watchedFeeds(cameraIds: readonly string[]): Promise<WatchedFeeds> {
    return watchedFeeds(this.cluster, cameraIds);
  }

  readLeases(cameraIds: readonly string[]): Promise<LeaseReading> {
    return readLeases(this.cluster, cameraIds);
  }

  takeLease(cameraId: string, terms: LeaseTerms, from: number | null, floor: number): Promise<number | null> {
    return takeLease(this.cluster, cameraId, terms, from, floor);
  }

  renewLease(cameraId: string, epoch: number, terms: LeaseTerms): Promise<boolean> {
    return renewLease(this.cluster, cameraId, epoch, terms);
  }

  releaseLease(cameraId: string, holder: string, epoch: number): Promise<void> {
    return releaseLease(this.cluster, cameraId, holder, epoch);
  }

  reserveHandover(cameraId: string, holder: string, ttlMs: number): Promise<boolean> {
    return reserveHandover(this.cluster, cameraId, holder, ttlMs);
  }

  joinFleet(fleet: string, member: string, ttlMs: number): Promise<string[]> {
    return joinFleet(this.cluster, fleet, member, ttlMs);
  }

  fleetMembers(fleet: string): Promise<string[]> {
    return fleetMembers(this.cluster, fleet);
  }

  leaveFleet(fleet: string, member: string): Promise<void> {
    return leaveFleet(this.cluster, fleet, member);
  }

  sharedSecret(name: string, candidate: string): Promise<string> {
    return sharedSecret(this.cluster, name, candidate);
  }

  replaceSharedSecret(name: string, secret: string): Promise<void> {
    return replaceSharedSecret(this.cluster, name, secret);
  }

  close(): Promise<void> {
    this.envelopeListeners.clear();
    this.subscribed.clear();
    this.cluster.disconnect();
    this.updateState();
    return Promise.resolve();
  }

  private reportError(error: Error, connection: 'publisher' | 'subscriber'): void {
    const now = Date.now();
    if (now - this.lastErrorReport[connection] < ERROR_REPORT_EVERY_MS) return;
    this.lastErrorReport[connection] = now;
    this.onError?.(error, connection);
  }

  private updateState(): void {
    const up = this.cluster.status === 'ready';
    if (up === this.up) return;
    this.up = up;
    this.emit(up ? 'up' : 'down');
  }
}
