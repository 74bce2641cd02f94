/**
 * capture's own small HTTP endpoint: /healthz for container health checks and /metrics for
 * Prometheus. Plain node:http; capture serves nothing else.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FrameBus } from '@camrelay/bus';
import type { Camera } from './camera.js';

export function startHealthServer(port: number, cameras: readonly Camera[], bus: FrameBus): Promise<Server> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const perCamera = (name: string, help: string, read: (camera: Camera) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['camera'],
      registers: [registry],
      collect() {
        for (const camera of cameras) this.set({ camera: camera.id }, read(camera));
      },
    });
  perCamera('camrelay_capture_fps', 'Frames per second captured, measured over the last seconds.', (camera) => camera.info().fps);
  const perCameraTotal = (name: string, help: string, read: (camera: Camera) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['camera'],
      registers: [registry],
      collect() {
        this.reset();
        for (const camera of cameras) this.inc({ camera: camera.id }, read(camera));
      },
    });
  perCameraTotal('camrelay_capture_frames_total', 'Frames captured and encoded since start.', (camera) => camera.framesCaptured);
  perCameraTotal('camrelay_capture_frames_dropped_total', 'Frames not published because the bus was slow or down.', (camera) => camera.droppedFrames);
  new Gauge({ name: 'camrelay_bus_up', help: '1 while the frame bus is connected.', registers: [registry], collect() {
    this.set(bus.isUp ? 1 : 0);
  } });

  const server = createServer(async (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ status: 'ok', bus: bus.isUp ? 'up' : 'down', cameras: cameras.map((camera) => camera.info()) }));
    } else if (req.url === '/metrics') {
      res.writeHead(200, { 'Content-Type': registry.contentType });
      res.end(await registry.metrics());
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'capture serves /healthz and /metrics only' } }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}
