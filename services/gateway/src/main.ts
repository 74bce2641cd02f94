/**
 * `npm run gateway`: a stateless gateway on the Redis bus at REDIS_URL (or the Redis Cluster at
 * REDIS_CLUSTER_NODES).
 *
 * Without either there is no bus to read, so, as the contract has it, the gateway runs capture
 * in this process (what `npm start` runs as the all-in-one demo). Capture, and so OpenCV, is
 * loaded only then: the gateway image, where Redis is required, has no OpenCV.
 */
import { pino } from 'pino';
import { MemoryBus, redisBusFor } from '@camrelay/bus';
import { readConfigOrExit } from '@camrelay/config';
import { readGatewayConfig } from './config.js';
import { runGatewayProcess } from './process.js';

const config = readConfigOrExit('camrelay', () => readGatewayConfig(process.env));

if (config.redis === undefined) {
  const { captureOptionsOf, readInProcessCaptureConfig, runWithRedactedOutput, startCapture } = await import('@camrelay/capture');
  // It opens cameras: its output passes through capture's filter (credentials in native output).
  await runWithRedactedOutput(async () => {
    const captureConfig = readConfigOrExit('camrelay', () => readInProcessCaptureConfig(process.env));
    const log = pino({ name: 'camrelay', level: config.LOG_LEVEL });
    const bus = new MemoryBus();
    const capture = await startCapture({ ...captureOptionsOf(captureConfig), bus, log });
    await runGatewayProcess({ config, bus, log, embedded: true, stopAlso: () => capture.stop() });
  });
} else {
  const log = pino({ name: 'gateway', level: config.LOG_LEVEL });
  const bus = redisBusFor(config.redis, (error) => log.warn({ err: error.message }, 'redis connection problem'));
  bus.on('up', () => log.info('redis connected'));
  bus.on('down', () => log.warn('redis unreachable; /readyz reports 503 until it is back'));
  await runGatewayProcess({ config, bus, log, embedded: false });
}
