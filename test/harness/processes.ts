/** The cross-service tests start camrelay's parts the way `npm run stack` does. */
export { freePort, repoRoot, startCapture, startGateway, startProcess, startRedis } from '@camrelay/stack';
export type { RedisServer, Running, Service } from '@camrelay/stack';
