/**
 * How capture runs FFmpeg's libx264 for the H.264 tier: raw BGR frames in on stdin (OpenCV's
 * own pixels, so nothing is decoded twice and nothing waits for a parser to find a frame's end),
 * each encoded frame out on stdout as soon as it is made, in FLV (flv-reader.ts), which capture
 * turns into fragmented MP4 (fmp4-writer.ts).
 *
 * Tuned for live: no lookahead and no B-frames (`-tune zerolatency`), Constrained Baseline (every
 * browser's decoder, Firefox's OpenH264 included), 4:2:0, a keyframe every second (a new viewer
 * waits at most that long for a picture, and a viewer that fell behind skips to the next one).
 * Not FFmpeg's own MP4 muxer: it cuts a frame's fragment only when the next frame comes (to
 * know its duration), a frame interval of delay (33 ms at 30 fps, a second for a camera that
 * sends one frame a second). Decode times and durations are capture's (encoder.ts), from the
 * frames' capture times.
 */

/** x264's speed/quality trade: veryfast costs ~2-3 ms a 640x480 frame here. */
export const X264_PRESET = 'veryfast';
/** Constant quality: 23 is x264's default, and what bench:tiers measures (docs/benchmarks.md). */
export const X264_CRF = 23;
export function ffmpegArgs(width: number, height: number, fps: number): string[] {
  const rate = String(Math.round(fps));
  return [
    ['-hide_banner', '-nostdin', '-loglevel', 'error'],
    ['-f', 'rawvideo', '-pix_fmt', 'bgr24', '-video_size', `${width}x${height}`, '-framerate', rate, '-i', 'pipe:0'],
    ['-an', '-c:v', 'libx264', '-preset', X264_PRESET, '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p'],
    ['-crf', String(X264_CRF), '-g', String(2 * Math.round(fps)), '-force_key_frames', 'expr:gte(t,n_forced*1)'],
    ['-threads', '1', '-fps_mode', 'passthrough'],
    ['-f', 'flv', '-flvflags', 'no_metadata+no_duration_filesize+no_sequence_end', '-flush_packets', '1', 'pipe:1'],
  ].flat();
}
