/**
 * capture's own small HTTP endpoint: /healthz for container health checks and /metrics for
 * Prometheus. Plain node:http; capture serves nothing else.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { busUpGauge, createRegistry, scrapedCounter, scrapedGauge } from '@camrelay/metrics';
import type { Registry } from '@camrelay/metrics';
import type { FrameBus } from '@camrelay/bus';
import type { RunningCapture } from './capture.js';
import type { HeldCamera } from './fleet/held-camera.js';

export function startHealthServer(port: number, host: string, capture: RunningCapture, bus: FrameBus): Promise<Server> {
  const registry = createRegistry();
  registerCaptureMetrics(registry, capture);
  busUpGauge(registry, bus);
  const { fleet } = capture;
  const cameras = () => capture.cameras();

  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(
        JSON.stringify({
          status: 'ok',
          bus: bus.isUp ? 'up' : 'down',
          pid: process.pid,
          fleet: { member: fleet.member, members: fleet.members.length },
          cameras: cameras().map((camera) => ({ ...camera.info(), epoch: camera.leaseEpoch, workerPid: camera.workerPid })),
        }),
      );
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

/**
 * capture's metrics (cameras, frames, the fleet): on its own /metrics, and on the gateway's in
 * the all-in-one, whose capture serves no port of its own. The bus gauge is the caller's.
 */
export function registerCaptureMetrics(registry: Registry, capture: RunningCapture): void {
  const { fleet } = capture;
  const cameras = () => capture.cameras();
  // Counters of cameras held now: a camera handed over takes its totals along (Prometheus's rate() sees a reset).
  const perCamera = (read: (camera: HeldCamera) => number) => () =>
    cameras().map((camera) => [{ camera: camera.id }, read(camera)] as const);
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
    read: perCamera((camera) => camera.counters().framesCaptured),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_dropped_total',
    help: 'Frames not published because the bus was slow or down.',
    labelNames,
    read: perCamera((camera) => camera.counters().droppedFrames),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_unchanged_total',
    help: 'Frames not published because they were byte for byte the last one (a still scene; it is published again once a second).',
    labelNames,
    read: perCamera((camera) => camera.counters().unchangedFrames),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_frames_oversize_total',
    help: 'Frames dropped for their size: more pixels than MAX_SOURCE_SIZE, or more bytes than MAX_FRAME_BYTES.',
    labelNames,
    read: perCamera((camera) => camera.counters().oversizeFrames),
  });
  scrapedGauge(registry, {
    name: 'camrelay_capture_camera_open',
    help: '1 while the camera is open, 0 while it sleeps because nobody watches it (CAPTURE_IDLE_AFTER).',
    labelNames,
    read: perCamera((camera) => (camera.sleeping ? 0 : 1)),
  });
  scrapedGauge(registry, {
    name: 'camrelay_capture_passthrough',
    help: "1 while the camera's frames are its source's own JPEGs, published as delivered (MJPEG passthrough: no decode, no encode); 0 while they are encoded here (another codec, MJPEG_PASSTHROUGH=off, frames that are not complete baseline JPEGs, or the camera asleep).",
    labelNames,
    read: perCamera((camera) => (camera.passthrough ? 1 : 0)),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_opens_total',
    help: 'Times the camera was opened: at start, on each wake, and on each reopen after a failure.',
    labelNames,
    read: perCamera((camera) => camera.counters().opens),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_open_failures_total',
    help: 'Attempts to open the camera that failed; each is tried again after a backoff.',
    labelNames,
    read: perCamera((camera) => camera.counters().openFailures),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_scaled_frames_total',
    help: 'Frames scaled and encoded at a smaller size (?size=), once per frame while any viewer watches that size.',
    labelNames: ['camera', 'size'],
    read: () =>
      cameras().flatMap((camera) =>
        Object.entries(camera.counters().scaledFrames).map(([size, count]) => [{ camera: camera.id, size }, count] as const),
      ),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_h264_frames_total',
    help: 'Frames encoded in H.264 (every size together), once per frame while any viewer watches the camera in H.264 (stream.mp4).',
    labelNames,
    read: perCamera((camera) => camera.counters().h264Frames),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_h264_frames_behind_total',
    help: 'Frames not given to an H.264 encoder because it was still busy with earlier ones (the host is short of CPU).',
    labelNames,
    read: perCamera((camera) => camera.counters().h264Behind),
  });
  scrapedGauge(registry, {
    name: 'camrelay_capture_camera_held',
    help: '1 for each camera this instance holds the lease of (the fleet shares CAMERAS among its instances).',
    labelNames,
    read: perCamera((camera) => (camera.leaseEpoch === null ? 0 : 1)),
  });
  scrapedGauge(registry, {
    name: 'camrelay_capture_camera_epoch',
    help: "The fencing epoch of this instance's lease on the camera: the high bits of its frames' X-Sequence.",
    labelNames,
    read: perCamera((camera) => camera.leaseEpoch ?? 0),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_worker_ends_total',
    help: "Camera worker processes that ended unasked, by why: exited (a crash, OpenCV's included) or hung (silent; killed). Each is started again.",
    labelNames: ['camera', 'reason'],
    read: () =>
      cameras().flatMap((camera) =>
        Object.entries(camera.workerEnds()).map(([reason, count]) => [{ camera: camera.id, reason }, count] as const),
      ),
  });
  scrapedGauge(registry, {
    name: 'camrelay_capture_fleet_members',
    help: 'Live capture instances in this fleet (same CAMERAS, same Redis), this one included, at the last look.',
    read: () => fleet.members.length,
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_leases_taken_total',
    help: 'Camera leases this instance took: free ones (never held, or their holder died) and hand-overs.',
    labelNames: ['how'],
    read: () => Object.entries(fleet.taken).map(([how, count]) => [{ how }, count] as const),
  });
  scrapedCounter(registry, {
    name: 'camrelay_capture_leases_lost_total',
    help: 'Camera leases this instance lost to another instance (a hand-over, or a renewal too late).',
    read: () => fleet.leasesLost,
  });
}
