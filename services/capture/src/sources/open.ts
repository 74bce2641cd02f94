import { hideCredentials } from '@camrelay/config';
import type { OpenCV } from '../opencv.js';
import type { SourceSpec } from '../cameras.js';
import { CAPTURE_DEFAULTS } from '../defaults.js';
import { openFile } from './file.js';
import { openPattern } from './pattern.js';
import type { MjpegOptions } from './passthrough.js';
import type { FrameSource } from './source.js';
import { openVideoCapture } from './video-capture.js';

/** Opens a configured source. Throws SourceError when it cannot be opened now. */
export function openSource(cv: OpenCV, cameraId: string, spec: SourceSpec, mjpeg: MjpegOptions): FrameSource {
  switch (spec.kind) {
    case 'device':
      return openVideoCapture(cv, spec.index, `device ${spec.index}`, mjpeg);
    case 'url':
      // FFmpeg alone: with every back end in turn, a URL FFmpeg cannot open goes on to
      // GStreamer and then to the image-sequence reader, whose error prints the URL, password
      // and all, from native code (~150-650 ms per attempt here, against ~1 ms for FFmpeg alone).
      return openVideoCapture(cv, spec.url, `stream ${hideCredentials(spec.url)}`, mjpeg, cv.CAP_FFMPEG);
    case 'file':
      return openFile(cv, spec.path, mjpeg);
    case 'pattern':
      return openPattern(cv, spec, cameraId);
    case 'auto':
      try {
        return openVideoCapture(cv, 0, 'device 0', mjpeg);
      } catch {
        const pattern = openPattern(cv, CAPTURE_DEFAULTS.pattern, cameraId);
        return { ...pattern, description: `${pattern.description} (auto: no camera at device 0)` };
      }
  }
}
