/**
 * `npm run bench:gateway-kill`: a gateway dies under its viewers. The local stack (HAProxy and
 * --gateways gateways, the compose topology from local processes) serves --viewers viewers of
 * one camera; a few seconds into the measured window the gateway holding the most of them is
 * killed (SIGKILL), and every viewer whose stream ends opens another at once, as the viewer page
 * does, through HAProxy to the survivors. The same run without the kill comes first, as the
 * baseline on the same machine.
 *
 *   npm run bench:gateway-kill [-- --viewers 1000 --gateways 2 --size 320x240]
 *
 * Reports, from the C load generator (bench/loadgen.c --reconnect): for the viewers cut, the time
 * from their stream's end to the new stream's first frame (and how many had none by the end);
 * for the viewers never cut, their frame rate, latency and longest wait between two frames over
 * the window, against the baseline's. Writes bench/results/gateway-kill.json and .md.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { OPEN_GATEWAY, fetchMetrics, metricValue, startStack } from '@camrelay/clients';
import { freePort, repoRoot, runtimeCommand, spawnProcess, statRows } from '@camrelay/stack';
import { frameSet } from './frames.js';
import { buildCLoadgen } from './loadgen-c.js';
import { writeRows } from './report.js';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '1000' },
    gateways: { type: 'string', default: '2' },
    size: { type: 'string', default: '320x240' },
  },
});
const viewers = Number(values.viewers);
const gateways = Number(values.gateways);
const [width, height] = values.size.split('x').map(Number) as [number, number];
if (!(viewers > 0) || !(gateways >= 2) || !(width > 0 && height > 0)) {
  throw new Error('usage: --viewers N (> 0) --gateways G (≥ 2) --size WxH');
}
/** The window: the kill comes KILL_AFTER_MS into it, the rest is the survivors taking the load. */
const WINDOW_MS = 12_000;
const KILL_AFTER_MS = 3000;

interface Load {
  fps: { median: number | null };
  latencyMs: { p99: number | null };
  cuts: number;
  stillReconnecting: number;
  reconnectMs: { median: number | null; p99: number | null; max: number | null };
  uncut: number;
  uncutLongestWaitMs: { p99: number | null; max: number | null };
  errors: number;
}

/**
 * The gateways backend's connection retries and redispatches, and how often HAProxy took each
 * gateway out of rotation (chkdown: by a failed check, or by a refused connection with
 * `observe layer4`), from its runtime API.
 */
async function loadBalancerCounts(runtimeSocket: string): Promise<{ retried: number; redispatched: number; markedDown: string }> {
  const rows = statRows(await runtimeCommand(runtimeSocket, 'show stat')).filter((row) => row.pxname === 'gateways');
  const backend = rows.find((row) => row.svname === 'BACKEND');
  const markedDown = rows
    .filter((row) => row.svname !== 'BACKEND')
    .map((row) => `${row.chkdown} (${row.chkfail} checks, ${row.hanafail} connections failed)`)
    .join(' / ');
  return { retried: Number(backend?.wretr ?? Number.NaN), redispatched: Number(backend?.wredis ?? Number.NaN), markedDown };
}

/** Connections a listening port's kernel queue holds, handshake done, not yet accepted (`ss`: Recv-Q). */
function acceptQueue(port: number): number {
  const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  return Number(line.split(/\s+/)[1] ?? Number.NaN);
}

const results = join(repoRoot, 'bench', 'results');
const frames = await frameSet(join(results, 'frames'), width, height);
const loadgen = buildCLoadgen();

async function run(kill: boolean): Promise<Record<string, string | number>> {
  const stack = await startStack(gateways, { PORT: String(await freePort()), CAMERAS: `bench=file:${frames.video}`, ...OPEN_GATEWAY });
  try {
    const url = `${stack.url.replace('localhost', '127.0.0.1')}/cameras/bench/stream.mjpg`;
    const load = spawnProcess(loadgen, [
      '--url',
      url,
      '--viewers',
      String(viewers),
      '--warmup-ms',
      '5000',
      '--duration-ms',
      String(WINDOW_MS),
      '--reconnect',
      '1',
    ]);
    await load.waitFor(/^measuring$/, 120_000);
    await sleep(KILL_AFTER_MS);
    const held = await Promise.all(
      stack.gateways.map(async (gateway) => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_open_streams')),
    );
    const busiest = held.indexOf(Math.max(...held));
    if (kill) process.kill(stack.gateways[busiest]!.pid, 'SIGKILL');
    // Read just before the window ends, while the viewers still wait.
    await sleep(WINDOW_MS - KILL_AFTER_MS - 1000);
    const acceptQueues = stack.gateways
      .filter((_, i) => !kill || i !== busiest)
      .map((gateway) => acceptQueue(Number(new URL(gateway.baseUrl).port)));
    await load.exited;
    const runtimeSocket = /runtime API (\S+)/.exec(stack.output.join('\n'))?.[1];
    const lb = runtimeSocket ? await loadBalancerCounts(runtimeSocket) : { retried: Number.NaN, redispatched: Number.NaN, markedDown: '-' };
    const line = load.output.find((l) => l.startsWith('{'));
    if (!line) throw new Error(`the load generator printed no result:\n${load.output.join('\n')}`);
    const result = JSON.parse(line) as Load;
    const f = (n: number | null, digits = 0) => (n === null ? '-' : n.toFixed(digits));
    return {
      run: kill ? 'gateway killed' : 'no kill (baseline)',
      'viewers per gateway at the kill': held.join(' / '),
      'streams cut': result.cuts,
      'cut to first frame again p50 / p99 / max, ms': `${f(result.reconnectMs.median)} / ${f(result.reconnectMs.p99)} / ${f(result.reconnectMs.max)}`,
      'cut, no frame again by the end': result.stillReconnecting,
      'viewers never cut': result.uncut,
      'their longest wait p99 / max, ms': `${f(result.uncutLongestWaitMs.p99)} / ${f(result.uncutLongestWaitMs.max)}`,
      'fps median, all viewers': f(result.fps.median, 1),
      'latency p99, ms': f(result.latencyMs.p99),
      'connection errors': result.errors,
      "HAProxy's retries / redispatches": `${lb.retried} / ${lb.redispatched}`,
      'gateways taken out of rotation, times each': lb.markedDown,
      "running gateways' accept queues 1 s before the end": acceptQueues.join(' / '),
    };
  } finally {
    await stack.stop('SIGINT');
  }
}

const rows = [await run(false), await run(true)];
for (const row of rows) console.log(JSON.stringify(row));
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const table = writeRows(results, 'gateway-kill', rows, { machine, viewers, gateways, size: values.size, fps: 30, windowMs: WINDOW_MS });
console.log(`\n${table}`);
