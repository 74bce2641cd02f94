export { DIRECTORY_ENTRY_TTL_MS, LATEST_FRAME_TTL_MS, MAX_KEPT_SEGMENTS } from './bus.js';
export type { CameraInfo, EnvelopeListener, FrameBus, WatchedFeeds } from './bus.js';
export { MemoryBus } from './memory-bus.js';
export {
  cameraClaimsKey,
  cameraDirectoryKey,
  cameraInfoKey,
  cameraLeaseKey,
  captureFleetKey,
  framesChannel,
  latestFrameKey,
  sharedSecretKey,
} from './names.js';
export { RedisBus } from './redis-bus.js';
export type { RedisBusOptions } from './redis-bus.js';
export { RedisClusterBus } from './redis-cluster-bus.js';
export type { RedisClusterBusOptions } from './redis-cluster-bus.js';
export { redisBusFor } from './redis-bus-for.js';
export type { BusConnection } from './redis-frame-bus.js';
export type { CameraLease, LeaseReading, LeaseStore, LeaseTerms } from './leases.js';
