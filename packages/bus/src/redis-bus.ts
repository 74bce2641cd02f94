import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { framesChannel, latestFrameKey } from '@camrelay/frame';
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
import type { CameraInfo, EnvelopeListener, FrameBus, WatchedFeeds } from './bus.js';

export interface RedisBusOptions {
  /** redis:// or rediss:// URL, with a password if the server wants one. */
  url: string;
  /** Called once per connection problem; the bus keeps retrying on its own. */
  onError?: (error: Error, connection: 'publisher' | 'subscriber') => void;
}

/** How often each connection is pinged, and how long a ping or a connection attempt may take. */
const LIVENESS_EVERY_MS = 1000;
const LIVENESS_TIMEOUT_MS = 2000;

/**
 * Redis pub/sub: one channel per camera, plus a key holding the latest frame for late joiners.
 *
 * Two connections, because a connection in subscriber mode can do nothing but (un)subscribe and ping.
 * ioredis reconnects by itself; the offline queue is off because a frame replayed after an
 * outage is stale: better dropped than shown late. Resubscription is ours, not ioredis's: its
 * automatic resubscribe has no error path (a failure there is an unhandled rejection), and it
 * would also restore channels unsubscribed while Redis was down.
 */
export class RedisBus extends EventEmitter implements FrameBus {
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly envelopeListeners = new Map<string, EnvelopeListener>();
  private up = false;
  private readonly onError: RedisBusOptions['onError'];
  private readonly liveness: NodeJS.Timeout;

  constructor(options: RedisBusOptions) {
    super();
    const base: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect quickly at first, then every second: a restarted Redis is back in seconds.
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
      // A command or a connection attempt to a Redis that went silent (no reset: a network
      // partition, a stopped host) must fail, not hang for minutes.
      commandTimeout: LIVENESS_TIMEOUT_MS,
      connectTimeout: LIVENESS_TIMEOUT_MS,
      // CLIENT SETINFO: Redis 7.0's ACL files cannot grant it (deploy/redis/users.acl), and 7.2+
      // would log every connection's attempt as refused.
      disableClientInfo: true,
    };
    this.commands = new Redis(options.url, { ...base, connectionName: 'camrelay' });
    this.subscriber = new Redis(options.url, { ...base, connectionName: 'camrelay-sub', autoResubscribe: false });
    this.onError = options.onError;
    for (const [name, connection] of [
      ['publisher', this.commands],
      ['subscriber', this.subscriber],
    ] as const) {
      connection.on('ready', () => this.updateState());
      connection.on('close', () => this.updateState());
      connection.on('end', () => this.updateState());
      connection.on('error', (error: Error) => options.onError?.(error, name));
    }
    this.subscriber.on('ready', () => this.resubscribe());
    // A silent Redis closes no socket: only a ping notices. A connection whose ping times out
    // is dropped, which reports the bus down (/readyz 503) and starts reconnecting.
    this.liveness = setInterval(() => {
      for (const connection of [this.commands, this.subscriber]) {
        if (connection.status !== 'ready') continue;
        connection.ping().catch(() => {
          if (connection.status === 'ready') connection.disconnect(true);
        });
      }
    }, LIVENESS_EVERY_MS);
    this.liveness.unref();
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      this.envelopeListeners.get(channel.toString('latin1'))?.(message);
    });
  }

  get isUp(): boolean {
    return this.up;
  }

  publishFrame(cameraId: string, envelope: Buffer): Promise<void> {
    return publishFrame(this.commands, 'publish', cameraId, envelope);
  }

  async latestFrame(cameraId: string): Promise<Buffer | null> {
    return this.commands.getBuffer(latestFrameKey(cameraId));
  }

  async subscribe(cameraId: string, listener: EnvelopeListener): Promise<void> {
    const channel = framesChannel(cameraId);
    if (this.envelopeListeners.has(channel)) throw new Error(`already subscribed to camera ${cameraId}`);
    this.envelopeListeners.set(channel, listener);
    // While Redis is down the channel is subscribed on the next 'ready' (resubscribe).
    if (this.subscriber.status !== 'ready') return;
    try {
      await this.subscriber.subscribe(channel);
    } catch (error) {
      this.envelopeListeners.delete(channel);
      throw error;
    }
  }

  async unsubscribe(cameraId: string): Promise<void> {
    const channel = framesChannel(cameraId);
    if (!this.envelopeListeners.delete(channel)) return;
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  /** After every (re)connect: subscribe every channel that has a listener now. */
  private resubscribe(): void {
    const channels = [...this.envelopeListeners.keys()];
    if (channels.length === 0) return;
    this.subscriber.subscribe(...channels).catch((error: Error) => {
      // Without its subscriptions this connection is useless: drop it and let ioredis reconnect.
      this.onError?.(error, 'subscriber');
      this.subscriber.disconnect(true);
    });
  }

  announceCameras(cameras: readonly CameraInfo[], ttlMs?: number): Promise<void> {
    return announceCameras(this.commands, cameras, ttlMs);
  }

  listCameras(): Promise<CameraInfo[]> {
    return listCameras(this.commands);
  }

  cameraInfo(cameraId: string): Promise<CameraInfo | null> {
    return cameraInfo(this.commands, cameraId);
  }

  markWatched(holder: string, cameraIds: readonly string[], ttlMs: number): Promise<void> {
    return markWatched(this.commands, holder, cameraIds, ttlMs);
  }

  unmarkWatched(holder: string, cameraId: string): Promise<void> {
    return unmarkWatched(this.commands, holder, cameraId);
  }

  watchedFeeds(cameraIds: readonly string[]): Promise<WatchedFeeds> {
    return watchedFeeds(this.commands, cameraIds);
  }

  readLeases(cameraIds: readonly string[]): Promise<LeaseReading> {
    return readLeases(this.commands, cameraIds);
  }

  takeLease(cameraId: string, terms: LeaseTerms, from: number | null, floor: number): Promise<number | null> {
    return takeLease(this.commands, cameraId, terms, from, floor);
  }

  renewLease(cameraId: string, epoch: number, terms: LeaseTerms): Promise<boolean> {
    return renewLease(this.commands, cameraId, epoch, terms);
  }

  releaseLease(cameraId: string, holder: string, epoch: number): Promise<void> {
    return releaseLease(this.commands, cameraId, holder, epoch);
  }

  reserveHandover(cameraId: string, holder: string, ttlMs: number): Promise<boolean> {
    return reserveHandover(this.commands, cameraId, holder, ttlMs);
  }

  joinFleet(fleet: string, member: string, ttlMs: number): Promise<string[]> {
    return joinFleet(this.commands, fleet, member, ttlMs);
  }

  fleetMembers(fleet: string): Promise<string[]> {
    return fleetMembers(this.commands, fleet);
  }

  leaveFleet(fleet: string, member: string): Promise<void> {
    return leaveFleet(this.commands, fleet, member);
  }

  sharedSecret(name: string, candidate: string): Promise<string> {
    return sharedSecret(this.commands, name, candidate);
  }

  replaceSharedSecret(name: string, secret: string): Promise<void> {
    return replaceSharedSecret(this.commands, name, secret);
  }

  close(): Promise<void> {
    clearInterval(this.liveness);
    this.envelopeListeners.clear();
    this.commands.disconnect();
    this.subscriber.disconnect();
    this.updateState();
    return Promise.resolve();
  }

  private updateState(): void {
    const up = this.commands.status === 'ready' && this.subscriber.status === 'ready';
    if (up === this.up) return;
    this.up = up;
    this.emit(up ? 'up' : 'down');
  }
}
