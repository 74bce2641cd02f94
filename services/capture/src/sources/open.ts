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
      return openVideoCapture(cv, spec.url, `stream ${hideCredentials(spec.url)}`, mjpeg);
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
