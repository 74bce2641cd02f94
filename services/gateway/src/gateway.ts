import { STATUS_CODES, createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { AccessControl } from './http/access.js';
import { shareSigningKey } from './shared-state/shared-signing-key.js';
import { createApp } from './http/app.js';
import { errorBody } from './http/errors.js';
import type { HttpErrorCode } from './http/errors.js';
import { Feeds } from './fanout/feeds.js';
import { createMetrics } from './metrics.js';
import { StreamSockets, onConnectionClose, oneRequestAtATime } from './http/stream-sockets.js';
import { RatePerAddress } from './http/rate-per-address.js';
import { ViewerLimits } from './http/viewer-limits.js';
import { withDefaults } from './options.js';
import { readUnsentLimit, unsentLimitAdvice } from './unsent-limit.js';
import type { GatewayOptions } from './options.js';

export interface RunningGateway {
  readonly server: Server;
  readonly port: number;
  readonly feeds: Feeds;
  /**
   * Refuses new streams and reports not ready at once; open streams go on for the shutdown
   * delay, so that a load balancer has taken this gateway out of rotation before their viewers
   * reconnect; then ends them and closes. Bounded: shutdown delay + drain.
   */
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const settings = withDefaults(options);
  const { bus, log } = settings;
  const feeds = new Feeds(settings);
  const access = new AccessControl(settings.access);
  const sharedKey = access.enabled && !access.hasConfiguredKey ? await shareSigningKey(bus, access, log) : undefined;
  const limits = new ViewerLimits(settings.maxViewers, settings.maxViewersPerAddress);
  const snapshotRate = new RatePerAddress(settings.snapshotsPerAddressPerSecond);
  let accepting = true;
  const server = createServer({
    noDelay: true,
    // Slow-loris: headers trickled in byte by byte are cut off, checked every second.
    headersTimeout: settings.headersTimeoutMs,
    requestTimeout: settings.headersTimeoutMs * 3,
    connectionsCheckingInterval: 1000,
  });
  // Connections that never become viewers (idle keep-alive, slow clients) are bounded too.
  server.maxConnections = limits.maxViewers + 1024;
  // Behind a proxy every connection comes from the proxy: there the per-address limit is its job.
  if (!settings.trustProxy) capConnectionsPerAddress(server, limits);
  server.on('clientError', answerClientError);
  const streams = new StreamSockets();
  if (!streams.handsOver) {
    log.warn(
      'this Node has no parser release (_http_common.freeParser): streams stay attached to the HTTP server, about 7 KB more heap each (camrelay_streams_attached_total)',
    );
  }
  const unsentAdvice = unsentLimitAdvice(readUnsentLimit());
  if (unsentAdvice) log.warn(unsentAdvice);
  const metrics = createMetrics(feeds, bus, server, limits, streams, access);
  settings.moreMetrics(metrics);
  const app = createApp({
    bus,
    feeds,
    metrics,
    log,
    access,
    limits,
    snapshotRate,
    trustProxy: settings.trustProxy,
    frameAncestors: settings.frameAncestors,
    snapshotWakeMs: settings.snapshotWakeMs,
    streams,
    accepting: () => accepting,
  });
  const handleRequest = app.callback();
  server.on(
    'request',
    oneRequestAtATime((req, res) => void handleRequest(req, res)),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: settings.port, host: settings.host, backlog: LISTEN_BACKLOG }, () => {
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
      sharedKey?.stop();
      // Ending the streams at once sent their reconnections straight back here: a load balancer
      // balancing by open connections prefers the gateway that has just lost all of its own.
      await delay(settings.shutdownDelayMs);
      feeds.endAllStreams();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await feeds.close();
      server.closeIdleConnections();
      // A viewer that stopped reading never lets its ended stream flush: cut it off.
      const grace = setTimeout(() => {
        server.closeAllConnections();
        streams.destroyAll();
      }, settings.drainMs);
      await closed;
      clearTimeout(grace);
    },
  };
}

/** Connections per address beyond its streams: API calls, snapshots, idle keep-alive. */
const EXTRA_CONNECTIONS_PER_ADDRESS = 64;

/**
 * Connections the kernel holds for the gateway until it accepts them. Node's default, 511, is
 * too few for a reconnect storm: a dead gateway's viewers reach a survivor within milliseconds,
 * and past a full queue the kernel drops their SYNs (or their handshakes' last ACKs), so they
 * wait for them to be sent again, 1 s and then 3 s later. bench:storm at 2000 + 1000 viewers:
 * 5732 overflows and newcomers connected after 1033 ms at p99 with 511; none and 7 ms with
 * this. The kernel caps it at net.core.somaxconn (4096 on current kernels).
 */
const LISTEN_BACKLOG = 4096;

/**
 * Counts connections per client address as they are accepted, before any request: one address
 * opening connections that never send a whole request (slow-loris) is refused at once, rather
 * than holding the gateway's connection slots until HEADERS_TIMEOUT.
 */
function capConnectionsPerAddress(server: Server, limits: ViewerLimits): void {
  const max = limits.maxPerAddress + EXTRA_CONNECTIONS_PER_ADDRESS;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      limits.refused++;
      socket.pause(); // nothing it sends is read: it gets this answer only
      socket.end(rawJsonResponse(503, 'too_many_connections', `at most ${max} connections per client address`, 'Retry-After: 5\r\n'));
      return;
    }
    open.set(address, count);
    onConnectionClose(socket, () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

/** Malformed requests, oversized headers and timed-out ones get a JSON answer, as every other error. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A response already under way on this connection (a stream, its head sent, whose client
  // then sent bytes that are no request) would get the error inside its body: cut it instead,
  // as Node's own handler does.
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, message]: [number, HttpErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request did not arrive in time']
        : [400, 'bad_request', 'malformed HTTP request'];
  socket.end(rawJsonResponse(status, code, message));
}

/** A whole HTTP response written straight to a socket that has no request object to answer through. */
function rawJsonResponse(status: number, code: HttpErrorCode, message: string, extraHeaders = ''): string {
  const body = JSON.stringify(errorBody(code, message));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n${extraHeaders}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
