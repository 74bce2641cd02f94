import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import type { CameraSpec } from './cameras.js';
import { Camera } from './camera.js';
import { CAPTURE_DEFAULTS } from './defaults.js';
import { followDemand } from './demand.js';
import { loadOpenCV } from './opencv.js';

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

export interface RunningCapture {
  readonly cameras: readonly Camera[];
  stop(): Promise<void>;
}

/**
 * Starts every camera, opens and closes them as gateways claim them, and keeps the camera
 * directory on the bus current.
 */
export async function startCapture(options: CaptureOptions): Promise<RunningCapture> {
  const cv = await loadOpenCV();
  const { bus, log } = options;
  const announce = () =>
    bus.announceCameras(cameras.map((camera) => camera.info())).catch((error: Error) => {
      log.debug({ err: error.message }, 'camera directory not updated');
    });
  // A camera's size is known at its first frame: announce it then rather than at the next tick.
  const onFirstFrame = async (camera: Camera, jpegBytes: number) => {
    await announce();
    const { width, height } = camera.info();
    log.info({ camera: camera.id, width, height, jpegBytes }, 'camera streaming');
  };
  const cameras = options.cameras.map(
    (spec) =>
      new Camera(spec, {
        cv,
        bus,
        jpegQuality: options.jpegQuality,
        mjpegPassthrough: options.mjpegPassthrough ?? CAPTURE_DEFAULTS.mjpegPassthrough,
        ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
        ...(options.maxSourceSize === undefined ? {} : { maxSourceSize: options.maxSourceSize }),
        log,
        onFirstFrame: (camera, bytes) => void onFirstFrame(camera, bytes),
        onSleep: (camera) => {
          log.info({ camera: camera.id }, 'camera asleep until a viewer asks for it');
          void announce();
        },
      }),
  );
  for (const camera of cameras) camera.start();
  const demand = followDemand(cameras, bus, {
    idleAfterMs: options.idleAfterMs ?? CAPTURE_DEFAULTS.idleAfterMs,
    lookEveryMs: CAPTURE_DEFAULTS.demandLookEveryMs,
    log,
  });
  await announce();
  const timer = setInterval(() => void announce(), options.announceIntervalMs ?? CAPTURE_DEFAULTS.announceIntervalMs);
  timer.unref();
  // A Redis that was down, empty after a restart, or a cluster that was not made yet: tell it
  // now, so that gateways know the cameras as soon as they can read them.
  const announceWhenUp = () => void announce();
  bus.on('up', announceWhenUp);

  return {
    cameras,
    async stop() {
      clearInterval(timer);
      demand.stop();
      bus.off('up', announceWhenUp);
      await Promise.all(cameras.map((camera) => camera.stop()));
    },
  };
}
