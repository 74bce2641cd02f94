import type { Mat, OpenCV, VideoCapture } from '../opencv.js';
import { describe } from '../opencv.js';
import { enablePassthrough, passthroughReader } from './passthrough.js';
import type { MjpegOptions } from './passthrough.js';
import type { FrameSource, SourceFrame } from './source.js';
import { SourceError, usableFps } from './source.js';

/**
 * A device or network stream read through cv.VideoCapture.
 *
 * Reads use readAsync: the synchronous read blocks the event loop, and a stalled network
 * source blocked it for ~30 s in our measurements.
 */
export function openVideoCapture(
  cv: OpenCV,
  target: string | number,
  description: string,
  mjpeg: MjpegOptions,
  apiPreference?: number,
): FrameSource {
  const capture = construct(cv, target, description, apiPreference);
  const fps = usableFps(capture.get(cv.CAP_PROP_FPS), 30);
  const frames = framesOf(cv, capture, typeof target === 'number', description, mjpeg);
  return {
    description,
    fps,
    live: true,
    passthrough: frames.passthrough,
    async read(): Promise<SourceFrame> {
      let mat: Mat;
      try {
        mat = await capture.readAsync();
      } catch (error) {
        throw new SourceError('read_failed', `${description}: read failed: ${describe(error)}`, { cause: error });
      }
      if (mat.empty) throw new SourceError('no_frame', `${description}: delivered no frame`);
      return frames.frameOf(mat);
    },
    close: () => capture.release(),
  };
}

/** `apiPreference` (a `cv.CAP_*` back end): that back end only; without it, each in turn. */
export function construct(cv: OpenCV, target: string | number, description: string, apiPreference?: number): VideoCapture {
  try {
    return apiPreference === undefined ? new cv.VideoCapture(target) : new cv.VideoCapture(target, apiPreference);
  } catch (error) {
    // The binding throws a bare string ("VideoCapture::New - failed to open capture").
    throw new SourceError('cannot_open', `${description}: cannot open: ${describe(error)}`, { cause: error });
  }
}

/**
 * What a read Mat becomes: the picture itself, or, where the source's codec is MJPEG, its own
 * JPEG (passthrough).
 */
export function framesOf(
  cv: OpenCV,
  capture: VideoCapture,
  device: boolean,
  description: string,
  mjpeg: MjpegOptions,
): { readonly passthrough: boolean; frameOf(mat: Mat): Promise<SourceFrame> } {
  if (!mjpeg.passthrough || !enablePassthrough(cv, capture, device))
    return { passthrough: false, frameOf: (mat) => Promise.resolve({ kind: 'picture', mat }) };
  const read = passthroughReader(cv, mjpeg.onFallback);
  return {
    passthrough: true,
    async frameOf(mat) {
      try {
        return await read(mat);
      } catch (error) {
        // Not even decodable: a damaged frame, as a failed read.
        throw new SourceError('read_failed', `${description}: cannot decode its frame: ${describe(error)}`, { cause: error });
      }
    },
  };
}
