/**
 * The gateway process, and the embedded default.
 *
 * With REDIS_URL set it is a stateless gateway on the Redis bus. Without it (`npm start`) it
 * runs capture in the same process on an in-memory bus: one command, no Redis. Capture (and
 * so OpenCV) is loaded only in that case, so a gateway-only image needs no native module.
 */
import { z } from 'zod';
import { pino } from 'pino';
import { MemoryBus, RedisBus } from '@camrelay/bus';
import type { FrameBus } from '@camrelay/bus';
import { ConfigError, readConfig } from '@camrelay/config';
import { readGatewayConfig, startGateway } from '@camrelay/gateway';

/** Reads a configuration, or stops start-up with a message naming the bad variables. */
function configOrExit<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`camrelay: ${error.message}`);
    process.exit(2);
  }
}

const config = configOrExit(() => readGatewayConfig(process.env));
const embedded = config.REDIS_URL === undefined;
const log = pino({ name: embedded ? 'camrelay' : 'gateway', level: config.LOG_LEVEL });

let bus: FrameBus;
let stopCapture: () => Promise<void> = async () => undefined;
if (config.REDIS_URL !== undefined) {
  const redis = new RedisBus({ url: config.REDIS_URL, onError: (error) => log.warn({ err: error.message }, 'redis connection problem') });
  redis.on('up', () => log.info('redis connected'));
  redis.on('down', () => log.warn('redis unreachable; /readyz reports 503 until it is back'));
  bus = redis;
} else {
  const { captureVariables, startCapture } = await import('@camrelay/capture');
  const capture = configOrExit(() => readConfig(z.object(captureVariables), process.env));
  bus = new MemoryBus();
  const running = await startCapture({ cameras: capture.CAMERAS, jpegQuality: capture.JPEG_QUALITY, bus, log });
  stopCapture = () => running.stop();
}

if (config.AUTH === 'off') {
  log.warn(
    embedded
      ? 'access control is off (the embedded demo): anyone who can reach this port sees every camera; set AUTH=on and API_TOKENS to require tokens'
      : 'access control is off (AUTH=off): anyone who can reach this gateway sees every camera',
  );
}
const gateway = await startGateway({
  port: config.PORT,
  bus,
  log,
  access: { enabled: config.AUTH === 'on', tokens: config.API_TOKENS, signingKey: config.URL_SIGNING_KEY, ttlSeconds: config.SIGNED_URL_TTL },
  maxViewers: config.MAX_VIEWERS,
  maxViewersPerAddress: config.MAX_VIEWERS_PER_ADDRESS,
  trustProxy: config.TRUST_PROXY,
  noSignalAfterMs: config.NO_SIGNAL_AFTER * 1000,
  stuckViewerMs: config.STUCK_VIEWER_TIMEOUT * 1000,
  headersTimeoutMs: config.HEADERS_TIMEOUT * 1000,
  shutdownDelayMs: config.SHUTDOWN_DELAY * 1000,
  drainMs: config.DRAIN_TIMEOUT * 1000,
});
log.info({ url: `http://localhost:${gateway.port}`, mode: embedded ? 'embedded' : 'redis' }, `camrelay listening on http://localhost:${gateway.port}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await gateway.close();
    await stopCapture();
    await bus.close();
    process.exit(0);
  });
}
