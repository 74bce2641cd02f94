import type { RedisTarget } from '@camrelay/config';
import type { FrameBus } from './bus.js';
import { RedisBus } from './redis-bus.js';
import { RedisClusterBus } from './redis-cluster-bus.js';
import type { BusConnection } from './redis-frame-bus.js';

/** The bus on the Redis that REDIS_URL or REDIS_CLUSTER_NODES names. */
export function redisBusFor(target: RedisTarget, onError: (error: Error, connection: BusConnection) => void): FrameBus {
  return target.kind === 'single' ? new RedisBus({ url: target.url, onError }) : new RedisClusterBus({ ...target, onError });
}
