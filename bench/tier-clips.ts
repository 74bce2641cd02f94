/**
 * The source clips of `npm run bench:tiers`: pictures known to the pixel, which capture plays as
 * `file:` cameras and which are encoded offline for the quality figures. Raw BGR in AVI
 * (rawvideo): lossless, and OpenCV reads a 640x480 frame in under 1 ms (FFV1, also lossless,
 * took 21 ms: too slow for a 30 fps camera). Made once, kept beside frames.ts's (not committed).
 *
 * - pattern: capture's own test pattern (openPattern), sampled as a 30 fps camera sees it. Its
 *   grain is drawn once and stands still, which H.264 codes almost for free.
 * - noise: FFmpeg's testsrc2 (moving shapes and gradient, counters) with temporal noise
 *   (noise=alls=20:allf=t+u): a sensor in dim light, new grain in every frame.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadOpenCV, openPattern } from '@camrelay/capture';
import { runFfmpeg } from './ffmpeg.js';

export type ClipKind = 'pattern' | 'noise';

export interface Clip {
  readonly kind: ClipKind;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  /** The AVI, which capture plays in a loop as a `file:` camera. */
  readonly path: string;
  /** `pattern 640x480`, for tables. */
  readonly label: string;
}

export const CLIP_FPS = 30;
/** Three seconds: three groups of pictures at the H.264 tier's keyframe a second. */
export const CLIP_FRAMES = 90;

const QUIET = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
const RAW_AVI = ['-c:v', 'rawvideo', '-pix_fmt', 'bgr24', '-f', 'avi'];

export async function sourceClip(root: string, kind: ClipKind, width: number, height: number): Promise<Clip> {
  const dir = join(root, `${width}x${height}`);
  const path = join(dir, `tiers-${kind}.avi`);
  const clip = { kind, width, height, frames: CLIP_FRAMES, path, label: `${kind} ${width}x${height}` };
  if (existsSync(path)) return clip;
  mkdirSync(dir, { recursive: true });
  // Written aside and renamed: a run stopped half way leaves no clip that looks whole.
  const partial = `${path}.partial`;
  if (kind === 'noise') await writeNoise(partial, width, height);
  else await writePattern(partial, width, height);
  renameSync(partial, path);
  return clip;
}

/** The noise clip's picture before its noise is added, as FFmpeg input arguments: what a camera without a sensor's noise would see. */
export function noiseFreeInput(clip: Clip): string[] {
  return ['-f', 'lavfi', '-i', `${testsrc2(clip.width, clip.height)}:duration=${clip.frames / CLIP_FPS}`];
}

const testsrc2 = (width: number, height: number) => `testsrc2=size=${width}x${height}:rate=${CLIP_FPS}`;

async function writeNoise(path: string, width: number, height: number): Promise<void> {
  const source = `${testsrc2(width, height)},format=gbrp,noise=alls=20:allf=t+u,format=bgr24`;
  await runFfmpeg([...QUIET, '-y', '-f', 'lavfi', '-i', source, '-frames:v', String(CLIP_FRAMES), ...RAW_AVI, path]);
}

async function writePattern(path: string, width: number, height: number): Promise<void> {
  const cv = await loadOpenCV(process.env);
  const pattern = openPattern(cv, { width, height, fps: CLIP_FPS }, 'bench:tiers');
  async function* frames(): AsyncGenerator<Buffer> {
    for (let i = 0; i < CLIP_FRAMES; i++) {
      const frame = await pattern.read();
      if (frame.kind !== 'picture') throw new Error('the test pattern draws pictures');
      yield frame.mat.getData();
      await sleep(1000 / CLIP_FPS); // the pattern moves with the clock: space the frames as a camera would
    }
  }
  const input = ['-f', 'rawvideo', '-pix_fmt', 'bgr24', '-video_size', `${width}x${height}`, '-framerate', String(CLIP_FPS)];
  await runFfmpeg([...QUIET, '-y', ...input, '-i', 'pipe:0', ...RAW_AVI, path], frames());
}
