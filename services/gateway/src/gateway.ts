import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import { createApp } from './app.js';
import { Feeds } from './feeds.js';
import { createMetrics } from './metrics.js';

export interface GatewayOptions {
  readonly port: number;
  readonly bus: FrameBus;
  readonly log: Logger;
  /** Host to listen on. @default all interfaces */
  readonly host?: string;
  /** How long a camera stays subscribed after its last viewer leaves. @default 5000 */
  readonly lingerMs?: number;
  /** On close, how long ended streams may take to flush before their sockets are cut. @default 2000 */
  readonly drainMs?: number;
}

export interface RunningGateway {
  readonly server: Server;
  readonly port: number;
  readonly feeds: Feeds;
  /** Refuses new streams, ends open ones, closes the server. */
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { bus, log } = options;
  const feeds = new Feeds({ bus, log, lingerMs: options.lingerMs });
  let accepting = true;
  const server = createServer({ noDelay: true });
  const app = createApp({ bus, feeds, metrics: createMetrics(feeds, bus, server), log, accepting: () => accepting });
  server.on('request', app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    feeds,
    async close() {
      accepting = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await feeds.close();
      server.closeIdleConnections();
      // A viewer that stopped reading never lets its ended response flush: cut it off.
      const grace = setTimeout(() => server.closeAllConnections(), options.drainMs ?? 2000);
      await closed;
      clearTimeout(grace);
    },
  };
}
