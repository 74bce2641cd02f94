import { accessSync, constants } from 'node:fs';
import type { Mat, OpenCV } from '../opencv.js';
import { describe } from '../opencv.js';
import type { FrameSource, SourceFrame } from './source.js';
import { SourceError, usableFps } from './source.js';
import type { MjpegOptions } from './passthrough.js';
import { construct, framesOf } from './video-capture.js';

/** A video file played in a loop at its own frame rate. */
export function openFile(cv: OpenCV, path: string, mjpeg: MjpegOptions): FrameSource {
  const description = `file ${path}`;
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new SourceError('cannot_open', `${description}: ${describe(error)}`, { cause: error });
  }
  const capture = construct(cv, path, description);
  const fps = usableFps(capture.get(cv.CAP_PROP_FPS), 25);
  const frames = framesOf(cv, capture, false, description, mjpeg);

  async function readOnce(): Promise<Mat | null> {
    try {
      const mat = await capture.readAsync();
      return mat.empty ? null : mat;
    } catch (error) {
      throw new SourceError('read_failed', `${description}: read failed: ${describe(error)}`, { cause: error });
    }
  }

  return {
    description,
    fps,
    live: false,
    passthrough: frames.passthrough,
    async read(): Promise<SourceFrame> {
      const mat = await readOnce();
      if (mat) return frames.frameOf(mat);
      // End of file: rewind and go on, so the file plays as a looped camera.
      capture.set(cv.CAP_PROP_POS_FRAMES, 0);
      const first = await readOnce();
      if (!first) throw new SourceError('no_frame', `${description}: no frames after rewinding`);
      return frames.frameOf(first);
    },
    close: () => capture.release(),
  };
}
