/**
 * capture's own small HTTP endpoint: /healthz for container health checks and /metrics for
 * Prometheus. Plain node:http; capture serves nothing else.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { busUpGauge, createRegistry, scrapedCounter, scrapedGauge } from '@camrelay/metrics';
import type { FrameBus } from '@camrelay/bus';
import type { Camera } from './camera.js';

export function startHealthServer(port: number, host: string, cameras: readonly Camera[], bus: FrameBus): Promise<Server> {
  const registry = createRegistry();
  const perCamera = (read: (camera: Camera) => number) => () => cameras.map((camera) => [{ camera: camera.id }, read(camera)] as const);
  const labelNames = ['camera'];
  scrapedGauge(registry, {
    name: 'camrelay_capture_fps',
    help: 'Frames per second captured, measured over the last seconds.',
    labelNames,
    read: perCamera((camera) => camera.info().fps),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_total',
    help: 'Frames captured and encoded since start.',
    labelNames,
    read: perCamera((camera) => camera.framesCaptured),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_dropped_total',
    help: 'Frames not published because the bus was slow or down.',
    labelNames,
    read: perCamera((camera) => camera.droppedFrames),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_unchanged_total',
    help: 'Frames not published because they were byte for byte the last one (a still scene; it is published again once a second).',
    labelNames,
    read: perCamera((camera) => camera.unchangedFrames),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_oversize_total',
    help: 'Frames dropped for their size: more pixels than MAX_SOURCE_SIZE, or more bytes than MAX_FRAME_BYTES.',
    labelNames,
    read: perCamera((camera) => camera.oversizeFrames),
  });
  scrapedGauge(registry, {
    name: 'camrelay_capture_camera_open',
    help: '1 while the camera is open, 0 while it sleeps because nobody watches it (CAPTURE_IDLE_AFTER).',
    labelNames,
    read: perCamera((camera) => (camera.sleeping ? 0 : 1)),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_opens_total',
    help: 'Times the camera was opened: at start, on each wake, and on each reopen after a failure.',
    labelNames,
    read: perCamera((camera) => camera.opens),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_open_failures_total',
    help: 'Attempts to open the camera that failed; each is tried again after a backoff.',
    labelNames,
    read: perCamera((camera) => camera.openFailures),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_scaled_frames_total',
    help: 'Frames scaled and encoded at a smaller size (?size=), once per frame while any viewer watches that size.',
    labelNames: ['camera', 'size'],
    read: () => cameras.flatMap((camera) => [...camera.scaledFrames].map(([size, count]) => [{ camera: camera.id, size }, count] as const)),
  });
  busUpGauge(registry, bus);

  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ status: 'ok', bus: bus.isUp ? 'up' : 'down', cameras: cameras.map((camera) => camera.info()) }));
    } else if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        },
        (error: unknown) => {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'metrics_failed', message: String(error) } }));
        },
      );
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'capture serves /healthz and /metrics only' } }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
