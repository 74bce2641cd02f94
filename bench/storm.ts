/**
 * `npm run bench:storm`: a reconnect storm. N viewers stream from one server; then N/2 more
 * arrive within 100 ms, as a dead gateway's viewers arrive at the survivors, or a rolling
 * update's at each gateway in turn. camrelay's gateway against the floor (raw sockets,
 * floor.ts), on the same frames, in the same run, since absolute times drift between runs.
 *
 *   npm run bench:storm [-- --counts 1000,2000 --systems floor,camrelay --client c|node]
 *
 * For the newcomers: time to first frame. For the viewers already streaming, over the storm's
 * window: frame rate, latency (X-Timestamp to receipt) and the longest wait between two frames.
 * And the server's CPU in the storm's first second, beyond its steady rate, per newcomer.
 * Writes bench/results/storm.json and storm.md (the table of docs/benchmarks.md).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { repoRoot, spawnProcess } from '@camrelay/stack';
import { frameSet } from './frames.js';
import { buildCLoadgen } from './loadgen-c.js';
import type { FrameSet } from './frames.js';
import { cpuMs } from './proc.js';
import type { Run, SystemName } from './run-result.js';
import { startSystem } from './systems.js';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '1000,2000' },
    systems: { type: 'string', default: 'floor,camrelay' },
    /** The load generator: c (bench/loadgen.c) or node (bench/loadgen.ts). */
    client: { type: 'string', default: 'c' },
  },
});

/** How long the newcomers take to arrive, all of them. */
const ARRIVAL_MS = 100;
/** The incumbents' window: from the storm's start, long enough to see it settle. */
const WINDOW_MS = 5000;

interface StormRun {
  system: SystemName;
  incumbents: number;
  newcomers: number;
  incumbentLoad: Run['load'];
  newcomerLoad: Run['load'];
  /** The server's CPU a second while the incumbents stream, ms. */
  steadyCpuMsPerSecond: number;
  /** The server's CPU in the storm's first second beyond its steady rate, per newcomer, ms. */
  cpuMsPerArrival: number;
}

if (values.client !== 'c' && values.client !== 'node') throw new Error(`--client must be c or node, not ${values.client}`);
const loadgenCommand: readonly string[] = values.client === 'node' ? [process.execPath, 'bench/dist/loadgen.js'] : [buildCLoadgen()];

const loadgen = (url: string, viewers: number, warmupMs: number, durationMs: number, arriveWithinMs?: number) =>
  spawnProcess(loadgenCommand[0]!, [
    ...loadgenCommand.slice(1),
    '--url',
    url,
    '--viewers',
    String(viewers),
    '--warmup-ms',
    String(warmupMs),
    '--duration-ms',
    String(durationMs),
    ...(arriveWithinMs === undefined ? [] : ['--arrive-within-ms', String(arriveWithinMs)]),
  ]);

function resultOf(output: readonly string[]): Run['load'] {
  const line = output.find((l) => l.startsWith('{'));
  if (!line) throw new Error(`loadgen printed no result:\n${output.join('\n')}`);
  return JSON.parse(line) as Run['load'];
}

async function storm(system: SystemName, frames: FrameSet, incumbents: number): Promise<StormRun> {
  const server = await startSystem(system, frames);
  try {
    const cpu = () => [server.measured.reduce((total, pid) => total + cpuMs(pid), 0), performance.now()] as const;
    // Warm-up: every incumbent connected and streaming before the storm; the steady rate is read in its last seconds.
    const streaming = loadgen(server.url, incumbents, 5000, WINDOW_MS);
    await streaming.waitFor(/^arriving$/, 60_000);
    await sleep(3000);
    const [steady0, s0] = cpu();
    await sleep(1000);
    const [steady1, s1] = cpu();
    await streaming.waitFor(/^measuring$/, 300_000);
    const newcomers = Math.round(incumbents / 2);
    const arriving = loadgen(server.url, newcomers, 0, WINDOW_MS - 1000, ARRIVAL_MS);
    await arriving.waitFor(/^arriving$/, 60_000);
    const [storm0, t0] = cpu();
    await sleep(1000);
    const [storm1, t1] = cpu();
    await Promise.all([streaming.exited, arriving.exited]);
    const steadyRate = (steady1 - steady0) / (s1 - s0);
    return {
      system,
      incumbents,
      newcomers,
      incumbentLoad: resultOf(streaming.output),
      newcomerLoad: resultOf(arriving.output),
      steadyCpuMsPerSecond: steadyRate * 1000,
      cpuMsPerArrival: (storm1 - storm0 - steadyRate * (t1 - t0)) / newcomers,
    };
  } finally {
    await server.stop();
  }
}

/** Both load generators' CPU a second, over their measured windows. */
const loadgenCpu = (run: StormRun) => run.incumbentLoad.loadgenCpuMsPerSecond + run.newcomerLoad.loadgenCpuMsPerSecond;

const f = (n: number | null | undefined, digits = 0) => (n === null || n === undefined ? '-' : n.toFixed(digits));

function describe(run: StormRun): string {
  const { incumbentLoad: old, newcomerLoad: fresh } = run;
  return (
    `${run.system.padEnd(9)} ${run.incumbents} + ${run.newcomers}: newcomers' first frame p50 ${f(fresh.firstFrameMs.median)} / p99 ${f(fresh.firstFrameMs.p99)} / all ${f(fresh.firstFrameMs.max)} ms` +
    ` (connected p99 ${f(fresh.connectedMs?.p99)}, response head p99 ${f(fresh.responseHeadMs?.p99)} ms)` +
    ` (${fresh.neverGotFrame} none); incumbents ${f(old.fps.median, 1)} fps (p10 ${f(old.fps.p10, 1)}), p99 ${f(old.latencyMs.p99)} ms,` +
    ` longest wait p99 ${f(old.longestWaitMs.p99)} / max ${f(old.longestWaitMs.max)} ms; ${f(run.cpuMsPerArrival, 2)} ms CPU per arrival;` +
    ` load generators ${f(loadgenCpu(run))} ms CPU a second`
  );
}

function table(runs: readonly StormRun[], date: string, machine: string): string {
  const rows = runs.map((run) => {
    const { incumbentLoad: old, newcomerLoad: fresh } = run;
    return `| ${run.system} | ${run.incumbents} + ${run.newcomers} | ${f(fresh.firstFrameMs.median)} / ${f(fresh.firstFrameMs.p99)} / ${f(fresh.firstFrameMs.max)} | ${fresh.neverGotFrame} | ${f(old.fps.median, 1)} (${f(old.fps.p10, 1)}) | ${f(old.latencyMs.p99)} | ${f(old.longestWaitMs.p99)} / ${f(old.longestWaitMs.max)} | ${f(run.cpuMsPerArrival, 2)} | ${f(loadgenCpu(run))} |`;
  });
  const ratios = [...new Set(runs.map((run) => run.incumbents))].flatMap((count) => {
    const floor = runs.find((run) => run.system === 'floor' && run.incumbents === count);
    const ours = runs.find((run) => run.system === 'camrelay' && run.incumbents === count);
    if (!floor || !ours) return [];
    const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? '-' : `${(a / b).toFixed(2)}×`);
    return [
      `| camrelay / floor | ${count} + ${ours.newcomers} | p99 ${ratio(ours.newcomerLoad.firstFrameMs.p99, floor.newcomerLoad.firstFrameMs.p99)} | | ${f((ours.incumbentLoad.fps.median ?? 0) - (floor.incumbentLoad.fps.median ?? 0), 1)} fps | ${ratio(ours.incumbentLoad.latencyMs.p99, floor.incumbentLoad.latencyMs.p99)} | ${ratio(ours.incumbentLoad.longestWaitMs.p99, floor.incumbentLoad.longestWaitMs.p99)} | ${ratio(ours.cpuMsPerArrival, floor.cpuMsPerArrival)} | |`,
    ];
  });
  return [
    `Reconnect storm, ${date.slice(0, 10)}, ${machine}: N viewers streaming 640x480@30, then N/2 more within ${ARRIVAL_MS} ms; the incumbents measured over the ${WINDOW_MS / 1000} s from the storm's start; load generator: ${values.client === 'node' ? 'bench/loadgen.ts' : 'bench/loadgen.c'}, its CPU over the incumbents' window.`,
    '',
    "| system | viewers + arrivals | newcomers' first frame p50 / p99 / all, ms | newcomers without a frame | incumbents' fps median (p10) | incumbents' latency p99, ms | incumbents' longest wait p99 / max, ms | CPU per arrival, ms | load generators' CPU, ms a second |",
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    ...ratios,
    '',
  ].join('\n');
}

const results = join(repoRoot, 'bench', 'results');
mkdirSync(results, { recursive: true });
const vga = await frameSet(join(results, 'frames'), 640, 480);
const runs: StormRun[] = [];
for (const incumbents of values.counts.split(',').map(Number)) {
  for (const system of values.systems.split(',') as SystemName[]) {
    const run = await storm(system, vga, incumbents);
    runs.push(run);
    console.log(describe(run));
  }
}
const date = new Date().toISOString();
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
writeFileSync(
  join(results, 'storm.json'),
  `${JSON.stringify({ date, machine, client: values.client, arrivalMs: ARRIVAL_MS, windowMs: WINDOW_MS, runs }, null, 2)}\n`,
);
writeFileSync(join(results, 'storm.md'), table(runs, date, machine));
console.log(`\n${table(runs, date, machine)}`);
