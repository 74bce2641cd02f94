/**
 * Quality of each tier against its source, computed offline on a clip's exact pixels
 * (tier-clips.ts): the clip read with OpenCV as capture's file source reads it, each frame
 * encoded as capture encodes it (OpenCV's imencode at JPEG_QUALITY for motion JPEG; FFmpeg with
 * capture's own ffmpegArgs() for H.264, the frames given as raw BGR as capture gives them), both
 * decoded by FFmpeg and compared frame by frame with its ssim and psnr filters, on luma (Y, full
 * range). Not in RGB: both tiers are 4:2:0, and there the shared chroma loss and how a decoder
 * upsamples chroma decide the figure (the noisy clip: 25.2 dB RGB PSNR for either tier; the
 * pattern's H.264 moved by 2 dB between two upsampling filters).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlvReader, H264_TIMESCALE, X264_CRF, ffmpegArgs, fmp4Fragment, fmp4InitSegment } from '@camrelay/capture';
import type { OpenCV } from '@camrelay/capture';
import { Fmp4Splitter, readFragment, readInit } from '@camrelay/frame';
import { repoRoot } from '@camrelay/stack';
import { runFfmpeg } from './ffmpeg.js';
import type { Clip } from './tier-clips.js';
import { CLIP_FPS, noiseFreeInput } from './tier-clips.js';

export { X264_CRF, X264_PRESET } from '@camrelay/capture';

export interface Quality {
  /** Mean encoded bytes per frame (H.264: fragments, moof + mdat; the init segment left out). */
  readonly bytesPerFrame: number;
  readonly ssim: number;
  readonly psnr: number;
  /**
   * The noise clip only: against its picture before the noise. The source keeps the noise, so
   * a tier that reproduces more of it scores higher against the source, not against the scene.
   */
  readonly noiseFree?: { readonly ssim: number; readonly psnr: number };
}

/** A clip's frames as capture has them: raw BGR from OpenCV's reader. */
export async function readClip(cv: OpenCV, clip: Clip): Promise<Buffer[]> {
  const capture = new cv.VideoCapture(clip.path);
  const frames: Buffer[] = [];
  try {
    for (let mat = await capture.readAsync(); !mat.empty; mat = await capture.readAsync()) frames.push(mat.getData());
  } finally {
    capture.release();
  }
  if (frames.length !== clip.frames) throw new Error(`${clip.path}: ${frames.length} frames read, ${clip.frames} written`);
  return frames;
}

export function encodeJpegs(cv: OpenCV, clip: Clip, frames: readonly Buffer[], quality: number): Buffer[] {
  return frames.map((pixels) =>
    cv.imencode('.jpg', new cv.Mat(pixels, clip.height, clip.width, cv.CV_8UC3), [cv.IMWRITE_JPEG_QUALITY, quality]),
  );
}

/**
 * The clip through capture's FFmpeg arguments, `crf` put in place of X264_CRF, made into
 * fragmented MP4 by capture's own writer, as capture does (decode times on the clip's frame grid).
 */
export async function encodeH264(clip: Clip, frames: readonly Buffer[], crf = X264_CRF): Promise<Buffer> {
  const args = ffmpegArgs(clip.width, clip.height, CLIP_FPS);
  const at = args.indexOf('-crf');
  if (at === -1) throw new Error("capture's FFmpeg arguments have no -crf: update bench/tier-quality.ts");
  args[at + 1] = String(crf);
  const flv = (await runFfmpeg(args, frames)).stdout;
  const parts: Buffer[] = [];
  const duration = H264_TIMESCALE / CLIP_FPS;
  let n = 0;
  new FlvReader(
    (avcC) => parts.push(fmp4InitSegment(avcC, clip.width, clip.height)),
    (keyframe, data) => parts.push(fmp4Fragment({ sequenceNumber: n + 1, decodeTime: n++ * duration, duration, keyframe, data })),
  ).push(flv);
  return Buffer.concat(parts);
}

/** Fragment sizes of a fragmented MP4, in order, and whether each is a keyframe. */
export function fragmentsOf(fmp4: Buffer): Array<{ bytes: Buffer; keyframe: boolean }> {
  const fragments: Array<{ bytes: Buffer; keyframe: boolean }> = [];
  let init: Buffer | null = null;
  new Fmp4Splitter(
    (bytes) => (init = bytes),
    (bytes) => fragments.push({ bytes, keyframe: readFragment(bytes, readInit(init!)).keyframe }),
  ).push(fmp4);
  return fragments;
}

export async function jpegQuality(clip: Clip, jpegs: readonly Buffer[], scratch: string): Promise<Quality> {
  const file = join(scratch, `${clip.kind}-${clip.width}x${clip.height}.mjpeg`);
  writeFileSync(file, Buffer.concat(jpegs));
  const bytesPerFrame = jpegs.reduce((sum, jpeg) => sum + jpeg.length, 0) / jpegs.length;
  return { bytesPerFrame, ...(await compareBoth(clip, ['-f', 'mjpeg', '-framerate', String(CLIP_FPS), '-i', file])) };
}

export async function h264Quality(clip: Clip, fmp4: Buffer, scratch: string, crf = X264_CRF): Promise<Quality> {
  const file = join(scratch, `${clip.kind}-${clip.width}x${clip.height}-crf${crf}.mp4`);
  writeFileSync(file, fmp4);
  const fragments = fragmentsOf(fmp4);
  if (fragments.length !== clip.frames) throw new Error(`${file}: ${fragments.length} fragments for ${clip.frames} frames`);
  const bytesPerFrame = fragments.reduce((sum, fragment) => sum + fragment.bytes.length, 0) / fragments.length;
  return { bytesPerFrame, ...(await compareBoth(clip, ['-i', file])) };
}

/** Against the source clip and, for the noise clip, against its picture before the noise. */
async function compareBoth(clip: Clip, distorted: readonly string[]): Promise<Omit<Quality, 'bytesPerFrame'>> {
  const source = await compare(clip, ['-i', clip.path], distorted);
  return clip.kind === 'noise' ? { ...source, noiseFree: await compare(clip, noiseFreeInput(clip), distorted) } : source;
}

/**
 * Luma SSIM and PSNR (over all frames' squared error) of the decoded input against the clip.
 * Each stream is numbered 0, 1, 2… on one time base, so frame n meets frame n whatever each
 * container's timestamps say; `gray` is full-range luma, so H.264's limited range is expanded
 * to JPEG's before they are compared.
 */
async function compare(clip: Clip, reference: readonly string[], distorted: readonly string[]): Promise<{ ssim: number; psnr: number }> {
  const aligned = 'settb=1/30,setpts=N,format=gray,split';
  const graph = `[0:v]${aligned}[r1][r2];[1:v]${aligned}[d1][d2];[d1][r1]ssim;[d2][r2]psnr`;
  const { stderr } = await runFfmpeg([
    ...['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'],
    ...[...reference, ...distorted, '-filter_complex', graph, '-f', 'null', '-'],
  ]);
  const ssim = /SSIM .*All:([\d.]+)/.exec(stderr)?.[1];
  const psnr = /PSNR .*average:([\d.]+|inf)/.exec(stderr)?.[1];
  const frames = Number([...stderr.matchAll(/frame=\s*(\d+)/g)].pop()?.[1]);
  if (ssim === undefined || psnr === undefined) throw new Error(`no SSIM or PSNR in FFmpeg's log:\n${stderr.slice(-1500)}`);
  if (frames !== clip.frames) throw new Error(`${frames} frames compared of ${clip.frames}`);
  return { ssim: Number(ssim), psnr: Number(psnr) };
}

export function scratchDir(): string {
  const dir = join(repoRoot, 'bench', 'results', 'tmp', 'tiers');
  mkdirSync(dir, { recursive: true });
  return dir;
}
