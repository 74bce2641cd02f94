import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import type { Tier } from '@camrelay/frame';
import type { CameraSpec } from './cameras.js';
import { CAPTURE_DEFAULTS } from './defaults.js';
import { canEncodeH264 } from './h264/available.js';
import { followDemand } from './fleet/demand.js';
import { Fleet } from './fleet/fleet.js';
import { HeldCamera } from './fleet/held-camera.js';
import { WorkerPool } from './worker/pool.js';

export interface CaptureOptions {
  readonly cameras: readonly CameraSpec[];
  readonly jpegQuality: number;
  /** @default CAPTURE_DEFAULTS.mjpegPassthrough */
  readonly mjpegPassthrough?: boolean;
  /** @default CAPTURE_DEFAULTS.maxFrameBytes */
  readonly maxFrameBytes?: number;
  /** @default CAPTURE_DEFAULTS.maxSourceSize */
  readonly maxSourceSize?: { readonly width: number; readonly height: number };
  readonly bus: FrameBus;
  readonly log: Logger;
  /** How often the camera directory (size, measured fps, last frame) is refreshed. @default CAPTURE_DEFAULTS.announceIntervalMs */
  readonly announceIntervalMs?: number;
  /** A camera nobody has watched for this long is closed (unless `always`). @default CAPTURE_DEFAULTS.idleAfterMs */
  readonly idleAfterMs?: number;
}

/** The options with every default filled in: once, as capture starts. */
function withDefaults(options: CaptureOptions) {
  const D = CAPTURE_DEFAULTS;
  return {
    ...options,
    mjpegPassthrough: options.mjpegPassthrough ?? D.mjpegPassthrough,
    maxFrameBytes: options.maxFrameBytes ?? D.maxFrameBytes,
    maxSourceSize: options.maxSourceSize ?? D.maxSourceSize,
    announceIntervalMs: options.announceIntervalMs ?? D.announceIntervalMs,
    idleAfterMs: options.idleAfterMs ?? D.idleAfterMs,
  };
}

export interface RunningCapture {
  /** The cameras this instance holds now (the fleet shares CAMERAS among its instances). */
  cameras(): readonly HeldCamera[];
  readonly fleet: Fleet;
  /** Hands the cameras over to the rest of the fleet (within handoverMs at most), then stops. */
  stop(handoverMs?: number): Promise<void>;
}

/**
 * Joins the fleet of capture instances with these cameras, runs the cameras it holds (each in
 * a process of its own), opens and closes them as gateways claim them, and keeps the camera
 * directory on the bus current.
 */
export async function startCapture(given: CaptureOptions): Promise<RunningCapture> {
  const options = withDefaults(given);
  const { bus, log } = options;
  const D = CAPTURE_DEFAULTS;
  const tiers: Tier[] = canEncodeH264() ? ['mjpeg', 'h264'] : ['mjpeg'];
  if (!tiers.includes('h264'))
    log.warn('no ffmpeg with libx264 on this host: the H.264 tier (stream.mp4) is off for its cameras; apt-get install ffmpeg turns it on');
  const announce = () =>
    bus.announceCameras(fleet.cameras().map((camera) => ({ ...camera.info(), tiers }))).catch((error: Error) => {
      log.debug({ err: error.message }, 'camera directory not updated');
    });
  const workers = new WorkerPool(Math.min(D.spareWorkers, options.cameras.length));
  const fleet: Fleet = new Fleet({
    bus,
    cameras: options.cameras,
    log,
    leaseTtlMs: D.leaseTtlMs,
    renewEveryMs: D.leaseRenewEveryMs,
    handoverTimeoutMs: D.handoverTimeoutMs,
    maxHandovers: D.maxHandovers,
    hold: (spec, awake, known) =>
      new HeldCamera(
        spec,
        {
          bus,
          log,
          workers,
          worker: {
            jpegQuality: options.jpegQuality,
            mjpegPassthrough: options.mjpegPassthrough,
            maxFrameBytes: options.maxFrameBytes,
            maxSourceSize: options.maxSourceSize,
            logLevel: log.level,
            statusEveryMs: D.workerStatusEveryMs,
          },
          hungAfterMs: D.workerHungAfterMs,
          startingForMs: D.workerStartingForMs,
          minRestartMs: D.minRetryMs,
          maxRestartMs: D.maxRetryMs,
          // A camera's size is known at its first frame: announce it then rather than at the next tick.
          onFirstFrame: (camera, jpegBytes) => {
            void announce();
            const { width, height } = camera.info();
            log.info({ camera: camera.id, width, height, jpegBytes }, 'camera streaming');
          },
          onSleep: (camera) => {
            log.info({ camera: camera.id }, 'camera asleep until a viewer asks for it');
            void announce();
          },
        },
        known,
        awake,
      ),
  });
  // Started with Redis, capture holds and lists its cameras before it says it has started; without, it starts all the same and takes them once Redis is there.
  if (!bus.isUp) await Promise.race([once(bus, 'up'), sleep(D.firstLookWaitMs)]);
  await fleet.look();
  const demand = followDemand(() => fleet.cameras(), bus, {
    idleAfterMs: options.idleAfterMs,
    lookEveryMs: D.demandLookEveryMs,
    log,
  });
  await announce();
  const timer = setInterval(() => void announce(), options.announceIntervalMs);
  timer.unref();
  // A Redis that was down, empty after a restart, or a cluster that was not made yet: tell it
  // now, so that gateways know the cameras as soon as they can read them.
  const announceWhenUp = () => void fleet.look().then(announce);
  bus.on('up', announceWhenUp);
  log.info(
    { fleet: fleet.fleet, member: fleet.member, members: fleet.members.length, held: fleet.cameras().length },
    'capture joined its fleet',
  );

  return {
    cameras: () => fleet.cameras(),
    fleet,
    async stop(handoverMs = D.handoverOnStopMs) {
      demand.stop();
      await fleet.leave(handoverMs);
      workers.close();
      clearInterval(timer);
      bus.off('up', announceWhenUp);
    },
  };
}
