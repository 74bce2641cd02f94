/**
 * Whether this host can make the H.264 tier: an `ffmpeg` on the PATH that encodes with libx264
 * (Debian's does; a build without GPL parts does not). Asked once, when capture starts: one
 * frame of a 64x48 test picture, ~0.1 s.
 */
import { spawnSync } from 'node:child_process';

export function canEncodeH264(ffmpegPath = 'ffmpeg'): boolean {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=5'];
  const run = spawnSync(ffmpegPath, [...args, '-frames:v', '1', '-c:v', 'libx264', '-f', 'null', '-'], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return run.status === 0;
}
