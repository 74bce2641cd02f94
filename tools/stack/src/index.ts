export { DOCKER_GATEWAY_SLOTS, dockerHaproxyConf, renderHaproxyConf } from './haproxy.js';
export { isInRotation, runtimeCommand, statRows } from './haproxy-runtime.js';
export type { HaproxyTarget } from './haproxy.js';
export {
  GATEWAY_NODE_FLAGS,
  REDIS_PUBSUB_BUFFER_LIMIT,
  loopbackRedisArgs,
  freePort,
  repoRoot,
  spawnCapture,
  spawnGateway,
  spawnProcess,
  spawnRedis,
  hasFrameOf,
  isOk,
  untilAnswers,
  untilRedisAnswers,
} from './processes.js';
export type { Answer, CaptureService, ProcessOptions, RedisServer, Running, Service } from './processes.js';
export { spawnRedisCluster } from './redis-cluster.js';
export type { RedisCluster, RedisClusterNode, RedisClusterOptions } from './redis-cluster.js';
