/** What a still scene looks like to capture: an MJPEG file whose every frame is the same JPEG. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOpenCV } from '@camrelay/capture';
import { writeMjpegAvi } from '@camrelay/clients';

/** Writes one picture `fps` times (a second of video, looped by capture) into a new directory; returns the file's path. */
export async function writeStillVideo(width: number, height: number, fps: number): Promise<string> {
  const cv = await loadOpenCV(process.env);
  const picture = new cv.Mat(height, width, cv.CV_8UC3, [40, 120, 200]);
  picture.drawCircle(new cv.Point2(width / 2, height / 2), height / 4, new cv.Vec3(255, 255, 255), -1);
  const jpeg = cv.imencode('.jpg', picture, [cv.IMWRITE_JPEG_QUALITY, 80]);
  const path = join(mkdtempSync(join(tmpdir(), 'camrelay-still-')), 'still.avi');
  writeMjpegAvi(
    path,
    Array.from({ length: fps }, () => jpeg),
    { width, height, fps },
  );
  return path;
}
