import { EventEmitter } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import type { CameraInfo, EnvelopeListener, FrameBus, WatchedFeeds } from './bus.js';
import type { LeaseReading, LeaseTerms } from './leases.js';
import { framesChannel, latestFrameKey } from './names.js';
import {
  announceCameras,
  cameraInfo,
  listCameras,
  markWatched,
  publishFrame,
  publishSegment,
  replaceSharedSecret,
  sharedSecret,
  unmarkWatched,
  watchedFeeds,
} from './redis-commands.js';
import { fleetMembers, joinFleet, leaveFleet, readLeases, releaseLease, renewLease, reserveHandover, takeLease } from './redis-leases.js';

/** Which of a bus's connections had a problem: the one for commands, or the one for subscriptions. */
export type BusConnection = 'publisher' | 'subscriber';

/** How long a command or a connection attempt may take before it fails (a silent Redis must not hang a caller for minutes). */
export const COMMAND_TIMEOUT_MS = 2000;

/** Reconnect quickly at first, then every second: a restarted Redis is back in seconds. */
export const reconnectDelay = (attempt: number): number => Math.min(50 * 2 ** attempt, 1000);

/** What a transport tells the bus that runs over it. */
export interface TransportEvents {
  /** A message on a subscribed channel, both Buffers. */
  message(channel: Buffer, message: Buffer): void;
  /** A connection came up or went down: the bus reads `isUp` again. */
  stateChanged(): void;
  /** The channels that have a listener now: what a reconnect subscribes again. */
  channels(): IterableIterator<string>;
}

/**
 * What differs between one Redis and a Redis Cluster, and nothing else: the connections, how a
 * channel is subscribed and subscribed again after a reconnect, how a dead connection is
 * noticed, how problems are reported. Commands are redis-commands.ts and redis-leases.ts,
 * the same on both.
 */
export interface RedisTransport {
  /** Where commands go. */
  readonly commands: Redis | Cluster;
  /** `publish` on one Redis; `spublish` in a cluster, where `publish` is broadcast to every node. */
  readonly publishCommand: 'publish' | 'spublish';
  /** Commands and subscriptions both work. */
  readonly isUp: boolean;
  /** Subscribes now; while Redis is unreachable, resolves at once and subscribes on reconnect. */
  subscribe(channel: string): Promise<void>;
  /** Never fails: a channel left subscribed on a dead connection goes with it. */
  unsubscribe(channel: string): Promise<void>;
  /** Disconnects for good. */
  close(): void;
}

/**
 * A frame bus on Redis pub/sub: one channel per feed, plus a key holding its latest frame for
 * late joiners. Runs over a transport (one Redis, or a Redis Cluster with sharded pub/sub) that
 * holds the connection policy; this holds the listeners, the up/down state and the commands.
 */
export class RedisFrameBus extends EventEmitter implements FrameBus {
  private readonly transport: RedisTransport;
  private readonly commands: Redis | Cluster;
  private readonly envelopeListeners = new Map<string, EnvelopeListener>();
  private up = false;

  constructor(connect: (events: TransportEvents) => RedisTransport) {
    super();
    this.transport = connect({
      message: (channel, message) => this.envelopeListeners.get(channel.toString('latin1'))?.(message),
      stateChanged: () => this.updateState(),
      channels: () => this.envelopeListeners.keys(),
    });
    this.commands = this.transport.commands;
  }

  get isUp(): boolean {
    return this.up;
  }

  publishFrame(feedId: string, envelope: Buffer): Promise<void> {
    return publishFrame(this.commands, this.transport.publishCommand, feedId, envelope);
  }

  async latestFrame(feedId: string): Promise<Buffer | null> {
    return this.commands.getBuffer(latestFrameKey(feedId));
  }

  publishSegment(feedId: string, envelope: Buffer, keyframe: boolean): Promise<void> {
    return publishSegment(this.commands, this.transport.publishCommand, feedId, envelope, keyframe);
  }

  latestSegments(feedId: string): Promise<Buffer[]> {
    return this.commands.lrangeBuffer(latestFrameKey(feedId), 0, -1);
  }

  async subscribe(feedId: string, listener: EnvelopeListener): Promise<void> {
    const channel = framesChannel(feedId);
    if (this.envelopeListeners.has(channel)) throw new Error(`already subscribed to feed ${feedId}`);
    this.envelopeListeners.set(channel, listener);
    try {
      await this.transport.subscribe(channel);
    } catch (error) {
      this.envelopeListeners.delete(channel);
      throw error;
    }
  }

  async unsubscribe(feedId: string): Promise<void> {
    const channel = framesChannel(feedId);
    if (!this.envelopeListeners.delete(channel)) return;
    await this.transport.unsubscribe(channel);
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

  markWatched(holder: string, feedIds: readonly string[], ttlMs: number): Promise<void> {
    return markWatched(this.commands, holder, feedIds, ttlMs);
  }

  unmarkWatched(holder: string, feedId: string): Promise<void> {
    return unmarkWatched(this.commands, holder, feedId);
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
    this.envelopeListeners.clear();
    this.transport.close();
    this.updateState();
    return Promise.resolve();
  }

  private updateState(): void {
    const up = this.transport.isUp;
    if (up === this.up) return;
    this.up = up;
    this.emit(up ? 'up' : 'down');
  }
}
