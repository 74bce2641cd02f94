import type { Mat, OpenCV } from '../opencv.js';
import type { FrameSource, SourceFrame } from './source.js';

export interface PatternSpec {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
}

/**
 * A test pattern drawn with OpenCV: colour bars with grain (so its JPEGs are the size of a
 * real camera's, tens of KB at 640x480, not a few KB of flat colour), a moving disc, a
 * sweeping hand, the frame counter and the wall clock, and a TEST PATTERN label so nobody
 * mistakes it for a camera.
 */
export function openPattern(cv: OpenCV, spec: PatternSpec, label: string): FrameSource {
  const { width, height, fps } = spec;
  const background = drawBackground(cv, width, height);
  // One frame buffer reused for every frame: the encode finishes before the next draw.
  const frame = background.copy();
  const scale = Math.max(0.4, height / 480);
  const started = performance.now();
  let counter = 0;

  return {
    description: `test pattern ${width}x${height}@${fps}`,
    fps,
    live: false,
    passthrough: false,
    // Drawn synchronously; a promise only because live sources make read() wait.
    read(): Promise<SourceFrame> {
      const t = (performance.now() - started) / 1000;
      background.copyTo(frame);
      const cx = width / 2 + width * 0.32 * Math.sin(t * 0.9);
      const cy = height / 2 + height * 0.28 * Math.sin(t * 1.3);
      frame.drawCircle(new cv.Point2(cx, cy), Math.round(40 * scale), new cv.Vec3(40, 200, 255), -1, cv.LINE_AA);
      const angle = t * 2 * Math.PI * 0.25;
      const radius = Math.min(width, height) * 0.3;
      const center = new cv.Point2(width / 2, height / 2);
      frame.drawLine(
        center,
        new cv.Point2(width / 2 + radius * Math.cos(angle), height / 2 + radius * Math.sin(angle)),
        new cv.Vec3(255, 255, 255),
        Math.max(2, Math.round(4 * scale)),
        cv.LINE_AA,
      );

      const black = new cv.Vec3(0, 0, 0);
      const white = new cv.Vec3(255, 255, 255);
      frame.drawRectangle(new cv.Point2(0, 0), new cv.Point2(width, Math.round(44 * scale)), black, -1);
      frame.putText(
        `TEST PATTERN  ${label}`,
        new cv.Point2(10 * scale, 32 * scale),
        cv.FONT_HERSHEY_SIMPLEX,
        0.9 * scale,
        white,
        Math.max(1, Math.round(2 * scale)),
        cv.LINE_AA,
      );
      frame.drawRectangle(new cv.Point2(0, height - Math.round(44 * scale)), new cv.Point2(width, height), black, -1);
      const clock = new Date().toISOString().replace('T', ' ').slice(0, 23);
      frame.putText(
        `#${String(counter++).padStart(7, '0')}  ${clock}`,
        new cv.Point2(10 * scale, height - 14 * scale),
        cv.FONT_HERSHEY_SIMPLEX,
        0.8 * scale,
        white,
        Math.max(1, Math.round(2 * scale)),
        cv.LINE_AA,
      );
      return Promise.resolve({ kind: 'picture', mat: frame });
    },
    close: () => undefined,
  };
}

function drawBackground(cv: OpenCV, width: number, height: number): Mat {
  const bars: Array<[number, number, number]> = [
    [235, 235, 235],
    [16, 235, 235],
    [235, 235, 16],
    [16, 235, 16],
    [235, 16, 235],
    [16, 16, 235],
    [235, 16, 16],
    [16, 16, 16],
  ]; // BGR: white, yellow, cyan, green, magenta, red, blue, black
  const pixels = Buffer.allocUnsafe(width * height * 3);
  let seed = 0x2545f491;
  for (let y = 0; y < height; y++) {
    const shade = 0.55 + 0.45 * (y / height);
    for (let x = 0; x < width; x++) {
      const bar = bars[Math.min(bars.length - 1, Math.floor((x * bars.length) / width))]!;
      // xorshift grain: texture a JPEG encoder cannot flatten away, as a sensor's noise.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const grain = ((seed >>> 0) % 25) - 12;
      const offset = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) pixels[offset + c] = clampByte(bar[c]! * shade + grain);
    }
  }
  return new cv.Mat(pixels, height, width, cv.CV_8UC3);
}

function clampByte(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : Math.round(value);
}
