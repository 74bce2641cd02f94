/**
 * `npm run gateway`: the gateway service on the Redis bus at REDIS_URL or REDIS_CLUSTER_NODES.
 * With neither set there is no bus to read, so, as the contract has it, capture runs in this
 * process: the all-in-one, exactly what `npm start` runs. (The gateway image runs the gateway
 * service itself, which requires Redis and has no OpenCV.)
 */
import { runWithRedactedOutput } from '@camrelay/capture';
import { readConfigOrExit } from '@camrelay/config';
import { readGatewayConfig, runGatewayOnRedis } from '@camrelay/gateway';

const namesRedis = Boolean(process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES);
if (namesRedis) await runGatewayOnRedis(readConfigOrExit('gateway', () => readGatewayConfig(process.env, 'redis')));
else await runWithRedactedOutput(process.env, () => import('./embedded.js'));
