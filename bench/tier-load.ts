/**
 * One load measurement of `npm run bench:tiers`: N viewers of one stream (bench/loadgen.ts,
 * multipart or fragmented MP4) against one server process, the server's CPU read from /proc
 * over the load generator's window, as `npm run bench` does (run.ts).
 */
import { spawnProcess } from '@camrelay/stack';
import { cpuMs } from './proc.js';

export interface LoadResult {
  readonly viewers: number;
  readonly fpsMedian: number | null;
  readonly fpsP10: number | null;
  readonly framesDelivered: number;
  /** Server CPU per frame delivered to a viewer, µs. */
  readonly cpuUsPerFrame: number | null;
  /** Of one core, over the window. */
  readonly cpuPercent: number;
  readonly latencyMs: { readonly p50: number | null; readonly p99: number | null };
  readonly firstFrameMsMedian: number | null;
  readonly invalid: number;
  readonly errors: number;
  readonly loadgenCpuPercent: number;
}

interface LoadgenOutput {
  framesDelivered: number;
  fps: { median: number | null; p10: number | null };
  latencyMs: { p50: number | null; p99: number | null };
  firstFrameMs: { median: number | null };
  invalid: number;
  errors: number;
  loadgenCpuMsPerSecond: number;
}

export async function measureLoad(
  url: string,
  serverPid: number,
  viewers: number,
  format: 'multipart' | 'fmp4',
  timing: { readonly warmupMs: number; readonly durationMs: number },
): Promise<LoadResult> {
  const loadgen = spawnProcess(process.execPath, [
    'bench/dist/loadgen.js',
    ...['--url', url, '--viewers', String(viewers), '--format', format],
    ...['--warmup-ms', String(timing.warmupMs), '--duration-ms', String(timing.durationMs)],
  ]);
  await loadgen.waitFor(/^measuring$/, 120_000);
  const [cpu0, t0] = [cpuMs(serverPid), performance.now()];
  await loadgen.waitFor(/^measured$/, timing.durationMs + 120_000);
  const [cpu1, t1] = [cpuMs(serverPid), performance.now()];
  await loadgen.exited;
  const line = loadgen.output.find((l) => l.startsWith('{'));
  if (!line) throw new Error(`loadgen printed no result:\n${loadgen.output.join('\n')}`);
  const load = JSON.parse(line) as LoadgenOutput;
  const serverMs = cpu1 - cpu0;
  return {
    viewers,
    fpsMedian: load.fps.median,
    fpsP10: load.fps.p10,
    framesDelivered: load.framesDelivered,
    cpuUsPerFrame: load.framesDelivered > 0 ? (serverMs * 1000) / load.framesDelivered : null,
    cpuPercent: (serverMs / (t1 - t0)) * 100,
    latencyMs: load.latencyMs,
    firstFrameMsMedian: load.firstFrameMs.median,
    invalid: load.invalid,
    errors: load.errors,
    loadgenCpuPercent: load.loadgenCpuMsPerSecond / 10,
  };
}
