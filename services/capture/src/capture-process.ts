/** The capture service itself, run by main.ts as the worker whose output is redacted. */
import { pino } from 'pino';
import { redisBusFor } from '@camrelay/bus';
import { readConfigOrExit } from '@camrelay/config';
import { startCapture } from './capture.js';
import { captureOptionsOf, readCaptureConfig } from './config.js';
import { startHealthServer } from './health.js';

const config = readConfigOrExit('capture', () => readCaptureConfig(process.env));

const log = pino({ name: 'capture', level: config.LOG_LEVEL });
const bus = redisBusFor(config.redis, (error) => log.warn({ err: error.message }, 'redis connection problem'));
bus.on('up', () => log.info('redis connected'));
bus.on('down', () => log.warn('redis unreachable; frames are dropped until it is back'));

const capture = await startCapture({ ...captureOptionsOf(config), bus, log });
const health = await startHealthServer(config.HEALTH_PORT, config.HEALTH_HOST, capture, bus).catch((error: Error) => {
  log.fatal({ err: error.message }, `cannot serve /healthz on HEALTH_PORT=${config.HEALTH_PORT}`);
  process.exit(1);
});
log.info(
  { cameras: config.CAMERAS.map((camera) => camera.id), healthPort: config.HEALTH_PORT, healthHost: config.HEALTH_HOST },
  'capture started',
);

let stopping = false;
const stop = async (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  health.close();
  await capture.stop();
  await bus.close();
  process.exit(0);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(signal));
