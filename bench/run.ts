/**
 * `npm run bench`: camrelay against the floor (raw sockets, bench/floor.ts) and the classic
 * design (Flask + OpenCV, bench/classic/server.py), on the same frames, in the same run.
 * Writes bench/results/results.json, results.md (the table of docs/benchmarks.md) and chart.svg.
 * `camrelay-cluster` is the camrelay pipeline on a Redis Cluster; with --out a partial run
 * writes its own files and leaves the full run's alone.
 *
 *   npm run bench [-- --counts 100,500,1000,2000 --seconds 5]
 *   npm run bench -- --systems camrelay,camrelay-cluster --counts 500,1000 --skip-extras --out cluster
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, spawnProcess } from '@camrelay/stack';
import { frameSet } from './frames.js';
import type { FrameSet } from './frames.js';
import { cpuMs, peakRssBytes } from './proc.js';
import { renderChart, renderTable } from './report.js';
import type { Run, SystemName } from './run-result.js';
import { FPS, startSystem } from './systems.js';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '100,500,1000,2000' },
    seconds: { type: 'string', default: '5' },
    systems: { type: 'string', default: 'floor,camrelay,classic-threaded,classic-gevent' },
    'skip-extras': { type: 'boolean', default: false },
    /** File names under bench/results: a partial run (say, --systems camrelay,camrelay-cluster) keeps the full one. */
    out: { type: 'string', default: 'results' },
  },
});
const counts = values.counts.split(',').map(Number);
const durationMs = Number(values.seconds) * 1000;
const results = join(repoRoot, 'bench', 'results');

async function measure(system: SystemName, frames: FrameSet, viewers: number, slowFraction = 0): Promise<Run> {
  const server = await startSystem(system, frames);
  try {
    const loadgen = spawnProcess(process.execPath, [
      'bench/dist/loadgen.js',
      '--url',
      server.url,
      '--viewers',
      String(viewers),
      '--warmup-ms',
      '3000',
      '--duration-ms',
      String(durationMs),
      '--slow-fraction',
      String(slowFraction),
    ]);
    await loadgen.waitFor(/^measuring$/, 300_000); // an overloaded machine makes the load generator's own timers late
    const sum = (pids: number[]) => pids.reduce((total, pid) => total + cpuMs(pid), 0);
    const captureCpu = () => (server.capture === undefined ? 0 : cpuMs(server.capture));
    const [server0, beside0, capture0, t0] = [sum(server.measured), sum(server.beside), captureCpu(), performance.now()];
    await loadgen.waitFor(/^measured$/, durationMs + 300_000);
    const [server1, beside1, capture1, t1] = [sum(server.measured), sum(server.beside), captureCpu(), performance.now()];
    const peakRss = server.measured.reduce((total, pid) => total + peakRssBytes(pid), 0);
    await loadgen.exited;
    const line = loadgen.output.find((l) => l.startsWith('{'));
    if (!line) throw new Error(`loadgen printed no result:\n${loadgen.output.join('\n')}`);
    const load = JSON.parse(line) as Run['load'];
    const serverMs = server1 - server0;
    return {
      system,
      size: `${frames.width}x${frames.height}`,
      viewers,
      slowFraction,
      load,
      serverCpuUsPerFrame: load.framesDelivered > 0 ? (serverMs * 1000) / load.framesDelivered : null,
      serverCpuPercent: (serverMs / (t1 - t0)) * 100,
      besideCpuPercent: ((beside1 - beside0) / (t1 - t0)) * 100,
      captureCpuUsPerFrame: server.capture === undefined ? null : ((capture1 - capture0) * 1000) / (((t1 - t0) / 1000) * FPS),
      serverPeakRssMB: peakRss / 1048576,
    };
  } finally {
    await server.stop();
  }
}

function collapsed(run: Run): boolean {
  return (run.load.fps.median ?? 0) < FPS / 2;
}

function describeRun(run: Run): string {
  const f = (n: number | null, digits = 1) => (n === null ? '-' : n.toFixed(digits));
  return `${run.system.padEnd(18)} ${run.size} ${String(run.viewers).padStart(5)} viewers${run.slowFraction ? ` (${run.slowFraction * 100} % slow)` : ''}: fps ${f(run.load.fps.median)} (p10 ${f(run.load.fps.p10)}), cpu/frame ${f(run.serverCpuUsPerFrame)} µs, p99 ${f(run.load.latencyMs.p99, 0)} ms, rss ${f(run.serverPeakRssMB, 0)} MB, loadgen ${f(run.load.loadgenCpuMsPerSecond / 10, 0)} % cpu${run.captureCpuUsPerFrame === null ? '' : `, capture ${f(run.captureCpuUsPerFrame, 0)} µs/frame`}`;
}

mkdirSync(results, { recursive: true });
const vga = await frameSet(join(results, 'frames'), 640, 480);
const runs: Run[] = [];
for (const system of values.systems.split(',') as SystemName[]) {
  // The classic design collapses long before 100 viewers: show where it still works.
  const series = system.startsWith('classic') ? [10, 50, ...counts] : counts;
  for (const viewers of series) {
    const run = await measure(system, vga, viewers).catch((error: Error) => {
      console.error(`${system} at ${viewers} viewers failed: ${error.message.split('\n')[0]}`);
      return null;
    });
    if (!run) break;
    runs.push(run);
    console.log(describeRun(run));
    if (collapsed(run)) break; // a collapsed series says all there is to say
  }
}
if (!values['skip-extras']) {
  const hd = await frameSet(join(results, 'frames'), 1280, 720);
  for (const [system, frames, viewers, slow] of [
    ['floor', hd, 500, 0],
    ['camrelay', hd, 500, 0],
    // What capture pays to decode and encode each frame again, beside the passthrough runs.
    ['camrelay-reencode', vga, 500, 0],
    ['camrelay-3gw-haproxy', vga, 1000, 0],
    ['camrelay', vga, 1000, 0.1],
  ] as const) {
    const run = await measure(system, frames, viewers, slow);
    runs.push(run);
    console.log(describeRun(run));
  }
}

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const report = { date: new Date().toISOString(), machine, fps: FPS, frameBytes: { '640x480': average(vga.jpegs) }, runs };
writeFileSync(join(results, `${values.out}.json`), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(results, `${values.out}.md`), renderTable(report));
writeFileSync(join(results, values.out === 'results' ? 'chart.svg' : `${values.out}.svg`), renderChart(report));
console.log(`\n${renderTable(report)}`);

function average(jpegs: Buffer[]): number {
  return Math.round(jpegs.reduce((sum, jpeg) => sum + jpeg.length, 0) / jpegs.length);
}
