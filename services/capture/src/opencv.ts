/**
 * Loads the OpenCV binding on first use.
 *
 * Loaded lazily so that a gateway-only process never needs the native module.
 */
import { hideCredentials } from '@camrelay/config';
import type cvModule from '@u4/opencv4nodejs';

export type OpenCV = typeof cvModule;
export type Mat = InstanceType<OpenCV['Mat']>;
export type VideoCapture = InstanceType<OpenCV['VideoCapture']>;

/**
 * Settings that the binding and OpenCV take from the environment only, and the values capture
 * runs them with where the environment has none. They cannot be passed as arguments: the
 * binding's ESM entry reads its variable as it loads, and OpenCV (native code) reads the others
 * with getenv. So they go into the process's environment before the binding loads.
 */
const OPENCV_ENVIRONMENT = {
  // Without it the ESM entry looks for its own auto-built OpenCV and throws "No build found";
  // the binding here is built against Debian's libopencv-dev.
  OPENCV4NODEJS_DISABLE_AUTOBUILD: '1',
  // Bound FFmpeg's network reads (microseconds): a stalled stream then fails and is reopened.
  OPENCV_FFMPEG_CAPTURE_OPTIONS: 'rw_timeout;3000000',
  // OpenCV's own warnings (e.g. every backend that fails to open /dev/video0) go to stderr
  // unstructured; capture logs the outcome itself.
  OPENCV_LOG_LEVEL: 'ERROR',
} as const;

let loading: Promise<OpenCV> | undefined;

/**
 * The binding, loaded once. `env` is this process's environment, passed down by the entry point:
 * OPENCV_ENVIRONMENT's values are set there first where it has none. It must be the process's
 * environment object itself, not a copy: the binding and OpenCV read the real environment.
 */
export function loadOpenCV(env: NodeJS.ProcessEnv): Promise<OpenCV> {
  loading ??= (async () => {
    for (const [name, value] of Object.entries(OPENCV_ENVIRONMENT)) env[name] ??= value;
    try {
      const { Log } = await import('@u4/opencv-build');
      Log.silence = true;
      const module = await import('@u4/opencv4nodejs');
      return module.default;
    } catch (error) {
      throw new Error(
        `cannot load the OpenCV binding (@u4/opencv4nodejs): ${describe(error)}. ` +
          'Run `npm ci` with OPENCV4NODEJS_DISABLE_AUTOBUILD=1 after `apt-get install libopencv-dev build-essential pkg-config` (npm start does both).',
        { cause: error },
      );
    }
  })();
  return loading;
}

/**
 * An error's text for a message or a log line. OpenCV's binding throws plain strings, and its
 * FFmpeg backend may name the URL it opened, credentials included: those are hidden here.
 */
export function describe(error: unknown): string {
  return hideCredentials(error instanceof Error ? error.message : String(error));
}
