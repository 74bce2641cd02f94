/**
 * A gateway as a process: the HTTP service started from its configuration, and stopped in
 * order on SIGINT or SIGTERM (gateway first, so viewers are told before the frames stop).
 * Shared by the gateway's own entry point and the all-in-one composition.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import { redisBusFor } from '@camrelay/bus';
import type { FrameBus } from '@camrelay/bus';
import { scrapedCounter } from '@camrelay/metrics';
import type { Registry } from '@camrelay/metrics';
import type { GatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

export interface GatewayProcessOptions {
  readonly config: GatewayConfig;
  readonly bus: FrameBus;
  readonly log: Logger;
  /** Stopped after the gateway and before the bus closes (capture running in this process). */
  readonly stopAlso?: () => Promise<void>;
  /** Metrics of the rest of the process, on the gateway's /metrics (GatewayOptions.moreMetrics). */
  readonly moreMetrics?: (registry: Registry) => void;
}

/** The gateway service: a gateway on the Redis bus its configuration names. */
export async function runGatewayOnRedis(config: GatewayConfig): Promise<void> {
  if (config.redis === undefined) throw new Error('runGatewayOnRedis: the configuration names no Redis (read it in mode "redis")');
  const log = pino({ name: 'gateway', level: config.LOG_LEVEL });
  let problems = 0;
  const bus = redisBusFor(config.redis, (error) => {
    problems++;
    log.warn({ err: error.message }, 'redis connection problem');
  });
  bus.on('up', () => log.info('redis connected'));
  bus.on('down', () => log.warn('redis unreachable; /readyz reports 503 until it is back'));
  const moreMetrics = (registry: Registry) =>
    scrapedCounter(registry, {
      name: 'camrelay_bus_connection_errors_total',
      help: "Errors on the gateway's Redis connections (refused, timed out, TLS, authentication): each failed connection attempt, and each error on a connection.",
      read: () => problems,
    });
  await runGatewayProcess({ config, bus, log, moreMetrics });
}

export async function runGatewayProcess({ config, bus, log, stopAlso, moreMetrics }: GatewayProcessOptions): Promise<void> {
  const embedded = config.mode === 'embedded';
  if (config.AUTH === 'off') {
    log.warn(
      embedded
        ? 'access control is off (the embedded demo): anyone who can reach this port sees every camera; set AUTH=on and API_TOKENS to require tokens'
        : 'access control is off (AUTH=off): anyone who can reach this gateway sees every camera',
    );
  }
  const gateway = await startGateway({
    port: config.PORT,
    ...(config.HOST === undefined ? {} : { host: config.HOST }),
    bus,
    log,
    access: {
      enabled: config.AUTH === 'on',
      tokens: config.API_TOKENS,
      signingKey: config.URL_SIGNING_KEY,
      ttlSeconds: config.SIGNED_URL_TTL,
    },
    maxViewers: config.MAX_VIEWERS,
    maxViewersPerAddress: config.MAX_VIEWERS_PER_ADDRESS,
    snapshotsPerAddressPerSecond: config.MAX_SNAPSHOTS_PER_ADDRESS,
    trustProxy: config.TRUST_PROXY,
    frameAncestors: config.FRAME_ANCESTORS,
    maxFrameBytes: config.MAX_FRAME_BYTES,
    noSignalAfterMs: config.NO_SIGNAL_AFTER * 1000,
    stuckViewerMs: config.STUCK_VIEWER_TIMEOUT * 1000,
    headersTimeoutMs: config.HEADERS_TIMEOUT * 1000,
    shutdownDelayMs: config.SHUTDOWN_DELAY * 1000,
    drainMs: config.DRAIN_TIMEOUT * 1000,
    moreMetrics,
  });
  log.info({ url: `http://localhost:${gateway.port}`, mode: config.mode }, `camrelay listening on http://localhost:${gateway.port}`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await gateway.close();
    await stopAlso?.();
    await bus.close();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(signal));
}
