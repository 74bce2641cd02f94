/** Reading a gateway's /metrics (Prometheus text exposition). */
import { request as httpRequest } from 'node:http';

/** Reads one value from a Prometheus text exposition. */
export function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  if (!line) throw new Error(`metric ${name}${labels ? `{${labels}}` : ''} not found`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

export async function fetchMetrics(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  return response.text();
}

/** The gateway's leak-relevant metrics at one moment. */
export interface GatewayMetrics {
  viewers: number;
  /** Places taken under the viewer limits: must come back to 0 as surely as viewers. */
  viewerSlots: number;
  subscriptions: number;
  httpConnections: number;
  eventListeners: number;
  activeHandles: number;
  openFds: number;
  heapUsed: number;
  rss: number;
  framesDelivered: number;
}

/**
 * One scrape of /metrics on a fresh connection, not fetch's pool: the scrape is then always
 * exactly one of the connections the gateway counts, and leaves no idle one behind.
 */
export function scrapeMetrics(baseUrl: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = httpRequest(`${baseUrl}/metrics`, { agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`/metrics: HTTP ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('/metrics: timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The leak-relevant metrics of one scrape (scrapeMetrics). */
export async function scrapeGateway(baseUrl: string): Promise<GatewayMetrics> {
  const text = await scrapeMetrics(baseUrl);
  return {
    viewers: metricValue(text, 'camrelay_open_streams'),
    viewerSlots: metricValue(text, 'camrelay_viewer_slots'),
    subscriptions: metricValue(text, 'camrelay_subscriptions'),
    httpConnections: metricValue(text, 'camrelay_http_connections'),
    eventListeners: metricValue(text, 'camrelay_event_listeners'),
    activeHandles: metricValue(text, 'nodejs_active_handles_total'),
    openFds: metricValue(text, 'process_open_fds'),
    heapUsed: metricValue(text, 'nodejs_heap_size_used_bytes'),
    rss: metricValue(text, 'process_resident_memory_bytes'),
    framesDelivered: metricValue(text, 'camrelay_frames_delivered_total'),
  };
}
