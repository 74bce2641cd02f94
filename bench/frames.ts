/**
 * The benchmark's frames: a fixed set of realistic JPEGs made once with OpenCV (the test
 * pattern: colour bars with sensor-like grain, moving shapes, text), so every system in a run
 * serves the same pictures. Also written as an MJPG .avi, which camrelay's capture plays as a
 * `file:` camera and re-encodes at the same quality.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadOpenCV, openPattern } from '@camrelay/capture';
import { writeMjpegAvi } from '@camrelay/clients';

export interface FrameSet {
  readonly width: number;
  readonly height: number;
  readonly dir: string;
  readonly video: string;
  readonly jpegs: Buffer[];
}

const COUNT = 60; // two seconds at 30 fps, looped

export async function frameSet(root: string, width: number, height: number, quality = 80): Promise<FrameSet> {
  const dir = join(root, `${width}x${height}`);
  // The floor and the classic server send the JPEG files; capture plays the AVI, whose frames
  // are those same bytes (capture passes an MJPEG file's frames through unchanged).
  const video = join(dir, 'frames-mjpeg.avi');
  if (!existsSync(video)) {
    const cv = await loadOpenCV(process.env);
    mkdirSync(dir, { recursive: true });
    const pattern = openPattern(cv, { width, height, fps: 30 }, 'bench');
    const encoded: Buffer[] = [];
    for (let i = 0; i < COUNT; i++) {
      const frame = await pattern.read();
      if (frame.kind !== 'picture') throw new Error('the test pattern draws pictures');
      const jpeg = cv.imencode('.jpg', frame.mat, [cv.IMWRITE_JPEG_QUALITY, quality]);
      writeFileSync(join(dir, `${String(i).padStart(3, '0')}.jpg`), jpeg);
      encoded.push(jpeg);
      await sleep(33); // the pattern moves with time: space the frames as a 30 fps camera would
    }
    writeMjpegAvi(video, encoded, { width, height, fps: 30 });
  }
  const jpegs = readdirSync(dir)
    .filter((name) => name.endsWith('.jpg'))
    .sort()
    .map((name) => readFileSync(join(dir, name)));
  return { width, height, dir, video, jpegs };
}
