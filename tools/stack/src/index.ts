export { dockerNginxConf, renderNginxConf } from './nginx.js';
export type { NginxTarget } from './nginx.js';
export { freePort, repoRoot, startCapture, startGateway, startProcess, startRedis } from './processes.js';
export type { ProcessOptions, RedisServer, Running, Service } from './processes.js';
