/**
 * How capture runs FFmpeg's libx264 for the H.264 tier: raw BGR frames in on stdin (OpenCV's
 * own pixels, so nothing is decoded twice and nothing waits for a parser to find a frame's end),
 * fragmented MP4 out on stdout, one fragment per frame.
 *
 * Tuned for live: no lookahead and no B-frames (`-tune zerolatency`), Constrained Baseline (every
 * browser's decoder, Firefox's OpenH264 included), 4:2:0, a keyframe every second (a new viewer
 * waits at most that long for a picture, and a viewer that fell behind skips to the next one).
 * `frag_every_frame` cuts a fragment as soon as the next frame comes (its duration is known
 * then): one frame of delay. Decode times are set by capture from the frames' capture times
 * (encoder.ts), so FFmpeg's own count from 0 does not matter.
 */

/** x264's speed/quality trade: veryfast costs ~2-3 ms a 640x480 frame here. */
export const X264_PRESET = 'veryfast';
/** Constant quality: 23 is x264's default, and what bench:tiers measures (docs/benchmarks.md). */
export const X264_CRF = 23;
/** Ticks per second of the fragments' decode times: MPEG's 90 kHz. */
export const H264_TIMESCALE = 90_000;

export function ffmpegArgs(width: number, height: number, fps: number): string[] {
  const rate = String(Math.round(fps));
  return [
    ['-hide_banner', '-nostdin', '-loglevel', 'error'],
    ['-f', 'rawvideo', '-pix_fmt', 'bgr24', '-video_size', `${width}x${height}`, '-framerate', rate, '-i', 'pipe:0'],
    ['-an', '-c:v', 'libx264', '-preset', X264_PRESET, '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p'],
    ['-crf', String(X264_CRF), '-g', String(2 * Math.round(fps)), '-force_key_frames', 'expr:gte(t,n_forced*1)'],
    ['-threads', '1', '-fps_mode', 'passthrough', '-video_track_timescale', String(H264_TIMESCALE)],
    ['-f', 'mp4', '-movflags', '+empty_moov+frag_every_frame+default_base_moof', '-flush_packets', '1', 'pipe:1'],
  ].flat();
}
