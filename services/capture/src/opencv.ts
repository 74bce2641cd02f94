/**
 * Loads the OpenCV binding on first use.
 *
 * Without OPENCV4NODEJS_DISABLE_AUTOBUILD the ESM entry looks for its own auto-built OpenCV
 * and throws "No build found"; the binding here is built against Debian's libopencv-dev.
 * Loaded lazily so that a gateway-only process never needs the native module.
 */
import { hideCredentials } from '@camrelay/config';
import type cvModule from '@u4/opencv4nodejs';

export type OpenCV = typeof cvModule;
export type Mat = InstanceType<OpenCV['Mat']>;
export type VideoCapture = InstanceType<OpenCV['VideoCapture']>;

let loading: Promise<OpenCV> | undefined;

export function loadOpenCV(): Promise<OpenCV> {
  loading ??= (async () => {
    process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD ??= '1';
    // Bound FFmpeg's network reads (microseconds): a stalled stream then fails and is reopened.
    process.env.OPENCV_FFMPEG_CAPTURE_OPTIONS ??= 'rw_timeout;3000000';
    // OpenCV's own warnings (e.g. every backend that fails to open /dev/video0) go to stderr
    // unstructured; capture logs the outcome itself.
    process.env.OPENCV_LOG_LEVEL ??= 'ERROR';
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
