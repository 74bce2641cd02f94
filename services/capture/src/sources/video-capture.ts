import type { Mat, OpenCV, VideoCapture } from '../opencv.js';
import { describe } from '../opencv.js';
import type { FrameSource } from './source.js';
import { SourceError, usableFps } from './source.js';

/**
 * A device or network stream read through cv.VideoCapture.
 *
 * Reads use readAsync: the synchronous read blocks the event loop, and a stalled network
 * source blocked it for ~30 s in our measurements.
 */
export function openVideoCapture(cv: OpenCV, target: string | number, description: string): FrameSource {
  const capture = construct(cv, target, description);
  const fps = usableFps(capture.get(cv.CAP_PROP_FPS), 30);
  return {
    description,
    fps,
    live: true,
    async read(): Promise<Mat> {
      let mat: Mat;
      try {
        mat = await capture.readAsync();
      } catch (error) {
        throw new SourceError('read_failed', `${description}: read failed: ${describe(error)}`, { cause: error });
      }
      if (mat.empty) throw new SourceError('no_frame', `${description}: delivered no frame`);
      return mat;
    },
    close: () => capture.release(),
  };
}

export function construct(cv: OpenCV, target: string | number, description: string): VideoCapture {
  try {
    return new cv.VideoCapture(target);
  } catch (error) {
    // The binding throws a bare string ("VideoCapture::New - failed to open capture").
    throw new SourceError('cannot_open', `${description}: cannot open: ${describe(error)}`, { cause: error });
  }
}
