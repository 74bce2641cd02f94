/**
 * The gateway service (the gateway image's command): stateless, on the Redis bus at REDIS_URL
 * or the Redis Cluster at REDIS_CLUSTER_NODES, which it requires. It never runs capture; capture
 * and a gateway in one process is the all-in-one (services/all-in-one, `npm start`).
 */
import { readConfigOrExit } from '@camrelay/config';
import { readGatewayConfig } from './config.js';
import { runGatewayOnRedis } from './process.js';

await runGatewayOnRedis(readConfigOrExit('gateway', () => readGatewayConfig(process.env, 'redis')));
