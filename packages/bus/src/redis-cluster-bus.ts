import { Cluster } from 'ioredis';
import { COMMAND_TIMEOUT_MS, RedisFrameBus, reconnectDelay } from './redis-frame-bus.js';
import type { BusConnection, RedisTransport, TransportEvents } from './redis-frame-bus.js';

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
  onError?: (error: Error, connection: BusConnection) => void;
}

const ERROR_REPORT_EVERY_MS = 1000;

/**
 * How often the client asks the cluster who owns which slots. ioredis also asks after a MOVED
 * reply, a pushed `sunsubscribe` or a lost subscriber connection, which is how a killed master
 * is noticed (90-160 ms after its replica's promotion in the cluster test). A master that goes
 * silent with its connections open (a stopped process, a partition) announces nothing: this
 * poll finds its promoted replica (0.4-1.3 s after the promotion in the test; 4.7 s with a 5 s poll).
 */
const SLOTS_REFRESH_MS = 1000;

/**
 * How long one node may take to say who owns which slots before the next node is asked. A
 * silent master is asked too until its replica is promoted, and ioredis's default (1 s) then
 * delays the poll that would find the promotion by that much; a live node answers in a millisecond.
 */
const SLOTS_REFRESH_TIMEOUT_MS = 500;

/**
 * How long a connection to a node that left the slot map (a silent master, failed over) may
 * take to close before it is cut. Cutting it fails the commands still waiting on it, a camera's
 * one publish in flight among them (capture's publisher.ts): until then that camera's next
 * frames were dropped instead of sent to the new master. ioredis's default is 2 s.
 */
const DISCONNECT_TIMEOUT_MS = 200;

/**
 * The frame bus on a Redis Cluster with sharded pub/sub: a camera's frames are published with
 * SPUBLISH and read with SSUBSCRIBE, so they travel through the one shard that owns the camera's
 * hash slot (its channel and latest-frame key share the `{camera}` hash tag) instead of being
 * broadcast to every node as PUBLISH is.
 */
export class RedisClusterBus extends RedisFrameBus {
  constructor(options: RedisClusterBusOptions) {
    super((events) => new ShardedCluster(options, events));
  }
}

/**
 * ioredis (6, `shardedSubscribers`) keeps one subscriber connection per master, follows slot
 * moves and failovers, and subscribes its channels again on the new owner. What is ours: the
 * channels asked for while the cluster was unreachable are subscribed once it is back.
 */
class ShardedCluster implements RedisTransport {
  readonly commands: Cluster;
  readonly publishCommand = 'spublish';
  /** Channels handed to ioredis, which keeps them subscribed from then on. */
  private readonly subscribed = new Set<string>();
  private readonly lastErrorReport = { publisher: 0, subscriber: 0 };

  constructor(
    private readonly options: RedisClusterBusOptions,
    private readonly events: TransportEvents,
  ) {
    this.commands = new Cluster(
      options.seeds.map(({ host, port }) => ({ host, port })),
      {
        shardedSubscribers: true,
        // A frame replayed after an outage is stale: better dropped than shown late.
        enableOfflineQueue: false,
        slotsRefreshInterval: SLOTS_REFRESH_MS,
        slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
        // As the single-Redis bus does.
        clusterRetryStrategy: reconnectDelay,
        redisOptions: {
          connectionName: 'camrelay',
          // As in the single-Redis bus: no CLIENT SETINFO, which the ACL users are not granted.
          disableClientInfo: true,
          connectTimeout: COMMAND_TIMEOUT_MS,
          commandTimeout: COMMAND_TIMEOUT_MS,
          disconnectTimeout: DISCONNECT_TIMEOUT_MS,
          ...(options.username === undefined ? {} : { username: options.username }),
          ...(options.password === undefined ? {} : { password: options.password }),
          ...(options.tls ? { tls: {} } : {}),
        },
      },
    );
    this.commands.on('ready', () => {
      this.subscribeAsked();
      events.stateChanged();
    });
    for (const event of ['close', 'end', 'reconnecting']) this.commands.on(event, () => events.stateChanged());
    this.commands.on('error', (error: Error) => this.reportError(error, 'publisher'));
    // A shard's subscriber connection failed (its master died, say): ioredis finds the new owner.
    this.commands.on('nodeError', (error: Error) => this.reportError(error, 'subscriber'));
    this.commands.on('smessageBuffer', (channel: Buffer, message: Buffer) => events.message(channel, message));
  }

  get isUp(): boolean {
    return this.commands.status === 'ready';
  }

  async subscribe(channel: string): Promise<void> {
    // While the cluster is unreachable the channel is subscribed on the next 'ready'.
    if (this.commands.status !== 'ready') return;
    await this.commands.ssubscribe(channel);
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.subscribed.delete(channel)) return;
    await this.commands.sunsubscribe(channel).catch(() => undefined);
  }

  /** After a (re)connect: hand ioredis every channel it has not been given yet. */
  private subscribeAsked(): void {
    for (const channel of this.events.channels()) {
      if (this.subscribed.has(channel)) continue;
      this.subscribed.add(channel);
      this.commands.ssubscribe(channel).catch((error: Error) => {
        this.subscribed.delete(channel);
        this.reportError(error, 'subscriber');
      });
    }
  }

  close(): void {
    this.subscribed.clear();
    this.commands.disconnect();
  }

  private reportError(error: Error, connection: BusConnection): void {
    const now = Date.now();
    if (now - this.lastErrorReport[connection] < ERROR_REPORT_EVERY_MS) return;
    this.lastErrorReport[connection] = now;
    this.options.onError?.(error, connection);
  }
}
