/** FFmpeg run to completion for the benchmarks: frames in on stdin, bytes out on stdout, its log kept. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface FfmpegResult {
  readonly stdout: Buffer;
  /** Its log: where the ssim and psnr filters print their summaries. */
  readonly stderr: string;
}

/** Runs `ffmpeg ARGS`, writing `input` (raw frames, say) to its stdin with backpressure; rejects on a non-zero exit. */
export async function runFfmpeg(args: readonly string[], input: Iterable<Buffer> | AsyncIterable<Buffer> = []): Promise<FfmpegResult> {
  const child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // FFmpeg that fails early closes its stdin: its exit code says why, not EPIPE.
  child.stdin.on('error', () => undefined);
  const exited = once(child, 'close') as Promise<[number | null]>;
  for await (const chunk of input) {
    if (!child.stdin.write(chunk)) await Promise.race([once(child.stdin, 'drain'), exited]);
  }
  child.stdin.end();
  const [code] = await exited;
  if (code !== 0) throw new Error(`ffmpeg ${args.join(' ')} exited ${code}:\n${stderr.slice(-1500)}`);
  return { stdout: Buffer.concat(out), stderr };
}
