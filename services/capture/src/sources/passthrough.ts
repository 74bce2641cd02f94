/**
 * MJPEG passthrough: a source whose codec is MJPEG (an MJPEG USB webcam, an IP camera's MJPEG
 * stream, an MJPG file) already delivers JPEG. OpenCV can hand over those bytes instead of a
 * decoded picture, and capture publishes them unchanged: no decode, no encode (in the
 * benchmark, capture spends 2.2-3.2 ms of CPU per 640x480 frame passed through, 8.0 ms when it
 * decodes and encodes each again).
 *
 * The V4L2 path (a USB webcam delivering MJPEG) has not run on a real device here: these
 * machines have none. Files and HTTP streams are tested.
 */
import type { Mat, OpenCV, VideoCapture } from '../opencv.js';
import { inspectJpeg, withStandardHuffmanTables } from './jpeg-info.js';
import type { SourceFrame } from './source.js';

/**
 * How OpenCV names MJPEG: by the container's codec tag ("MJPG" in an AVI, from a V4L2 device),
 * or, where the container has none (an HTTP multipart stream), by the first four letters of
 * FFmpeg's codec name, "mjpeg".
 */
const MJPEG_CODECS = new Set(['mjpg', 'mjpe']);

/** What capture wants from an MJPEG source. */
export interface MjpegOptions {
  /** Publish its own JPEGs as delivered (MJPEG_PASSTHROUGH); false: decode them, for capture to encode. */
  readonly passthrough: boolean;
  /** Hears, once per opening, why its frames are decoded and encoded again after all. */
  readonly onFallback: (problem: string) => void;
}

/** The four characters of the codec OpenCV reports, e.g. "MJPG". */
export function fourccOf(cv: OpenCV, capture: VideoCapture): string {
  const code = capture.get(cv.CAP_PROP_FOURCC) >>> 0;
  return String.fromCharCode(code & 0xff, (code >>> 8) & 0xff, (code >>> 16) & 0xff, (code >>> 24) & 0xff);
}

/**
 * Asks an opened capture for its source's own JPEG when the source's codec is MJPEG: the
 * FFmpeg back end (files, network streams) returns each packet with CAP_PROP_FORMAT -1, the
 * V4L2 back end (devices) its buffer without RGB conversion. Whether it did.
 */
export function enablePassthrough(cv: OpenCV, capture: VideoCapture, device: boolean): boolean {
  if (!MJPEG_CODECS.has(fourccOf(cv, capture).toLowerCase())) return false;
  if (device) return capture.set(cv.CAP_PROP_CONVERT_RGB, 0) && capture.get(cv.CAP_PROP_CONVERT_RGB) === 0;
  return capture.set(cv.CAP_PROP_FORMAT, -1) && capture.get(cv.CAP_PROP_FORMAT) === -1;
}

/**
 * Turns what a capture in passthrough mode read into a frame: the JPEG as delivered when it is
 * a complete baseline JPEG (the standard Huffman tables added where MJPEG left them out),
 * otherwise the picture decoded from it, for capture to encode again.
 * `onFallback` hears why, the first time.
 */
export function passthroughReader(cv: OpenCV, onFallback: (problem: string) => void): (raw: Mat) => Promise<SourceFrame> {
  let fellBack = false;
  return async (raw) => {
    const bytes = raw.getData();
    const info = inspectJpeg(bytes);
    if (!('problem' in info)) {
      // Still passed through: the webcam's bytes, with the tables it means but did not send.
      const jpeg = info.huffmanTables ? bytes : withStandardHuffmanTables(bytes, info);
      return { kind: 'jpeg', jpeg, width: info.width, height: info.height };
    }
    if (!fellBack) {
      fellBack = true;
      onFallback(info.problem);
    }
    return { kind: 'picture', mat: await cv.imdecodeAsync(bytes) };
  };
}
