import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { COMMAND_TIMEOUT_MS, RedisFrameBus, reconnectDelay } from './redis-frame-bus.js';
import type { BusConnection, RedisTransport, TransportEvents } from './redis-frame-bus.js';

export interface RedisBusOptions {
  /** redis:// or rediss:// URL, with a password if the server wants one. */
  url: string;
  /** Called once per connection problem; the bus keeps retrying on its own. */
  onError?: (error: Error, connection: BusConnection) => void;
}

/** How often each connection is pinged; a ping may take COMMAND_TIMEOUT_MS. */
const LIVENESS_EVERY_MS = 1000;

/** The frame bus on one Redis. */
export class RedisBus extends RedisFrameBus {
  constructor(options: RedisBusOptions) {
    super((events) => new SingleRedis(options, events));
  }
}

/**
 * One Redis, two connections, because a connection in subscriber mode can do nothing but
 * (un)subscribe and ping. ioredis reconnects by itself; the offline queue is off because a frame
 * replayed after an outage is stale: better dropped than shown late. Resubscription is ours, not
 * ioredis's: its automatic resubscribe has no error path (a failure there is an unhandled
 * rejection), and it would also restore channels unsubscribed while Redis was down.
 */
class SingleRedis implements RedisTransport {
  readonly commands: Redis;
  readonly publishCommand = 'publish';
  private readonly subscriber: Redis;
  private readonly liveness: NodeJS.Timeout;

  constructor(
    private readonly options: RedisBusOptions,
    private readonly events: TransportEvents,
  ) {
    const base: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: reconnectDelay,
      // A command or a connection attempt to a Redis that went silent (no reset: a network
      // partition, a stopped host) must fail, not hang for minutes.
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS,
      // CLIENT SETINFO: Redis 7.0's ACL files cannot grant it (deploy/redis/users.acl), and 7.2+
      // would log every connection's attempt as refused.
      disableClientInfo: true,
    };
    this.commands = new Redis(options.url, { ...base, connectionName: 'camrelay' });
    this.subscriber = new Redis(options.url, { ...base, connectionName: 'camrelay-sub', autoResubscribe: false });
    for (const [name, connection] of [
      ['publisher', this.commands],
      ['subscriber', this.subscriber],
    ] as const) {
      connection.on('ready', () => events.stateChanged());
      connection.on('close', () => events.stateChanged());
      connection.on('end', () => events.stateChanged());
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
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => events.message(channel, message));
  }

  get isUp(): boolean {
    return this.commands.status === 'ready' && this.subscriber.status === 'ready';
  }

  async subscribe(channel: string): Promise<void> {
    // While Redis is down the channel is subscribed on the next 'ready' (resubscribe).
    if (this.subscriber.status !== 'ready') return;
    await this.subscriber.subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  /** After every (re)connect: subscribe every channel that has a listener now. */
  private resubscribe(): void {
    const channels = [...this.events.channels()];
    if (channels.length === 0) return;
    this.subscriber.subscribe(...channels).catch((error: Error) => {
      // Without its subscriptions this connection is useless: drop it and let ioredis reconnect.
      this.options.onError?.(error, 'subscriber');
      this.subscriber.disconnect(true);
    });
  }

  close(): void {
    clearInterval(this.liveness);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }
}
