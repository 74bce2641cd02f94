/**
 * `npm run bench:lb`: what HTTPS and HTTP/2 cost at the load balancer. The local stack (HAProxy
 * and one gateway, the compose topology from local processes, HTTPS with the certificate it
 * made) serves one camera to N viewers three ways, one after another in one run: plain HTTP/1.1,
 * HTTP/1.1 over TLS, and HTTP/2 over TLS with ten viewers (a page's tiles) to a connection. The
 * gateway sees HTTP/1.1 from HAProxy every time.
 *
 *   npm run bench:lb [-- --counts 100,500 --size 320x240 --seconds 8]
 *
 * Reports, for each: the viewers' frame rate (median and slowest) and latency, the CPU HAProxy
 * and the gateway spent per delivered frame, HAProxy's resident memory, and the load
 * generator's own CPU (bench/loadgen.ts: it shares the two cores). Writes bench/results/lb.json
 * and .md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OPEN_GATEWAY, fetchMetrics, metricValue, startStack } from '@camrelay/clients';
import { freePort, repoRoot, spawnProcess } from '@camrelay/stack';
import { frameSet } from './frames.js';
import { cpuMs, treeMemoryBytes } from './proc.js';
import { writeRows } from './report.js';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '100,500' },
    size: { type: 'string', default: '320x240' },
    seconds: { type: 'string', default: '8' },
  },
});
const counts = values.counts.split(',').map(Number);
const [width, height] = values.size.split('x').map(Number) as [number, number];
const windowMs = Number(values.seconds) * 1000;
if (!counts.every((count) => Number.isInteger(count) && count > 0) || !(width > 0 && height > 0) || !(windowMs > 0)) {
  throw new Error('usage: --counts N,N (viewers) --size WxH --seconds S');
}
/** Viewers to an HTTP/2 connection: the tiles of a wall. */
const TILES_PER_PAGE = 10;

interface Load {
  framesDelivered: number;
  fps: { median: number | null; min: number | null };
  latencyMs: { p99: number | null };
  neverGotFrame: number;
  errors: number;
  loadgenCpuMsPerSecond: number;
}

const results = join(repoRoot, 'bench', 'results');
const frames = await frameSet(join(results, 'frames'), width, height);
const stack = await startStack(1, { PORT: String(await freePort()), CAMERAS: `bench=file:${frames.video}`, ...OPEN_GATEWAY });
const rows: Array<Record<string, string | number>> = [];
try {
  const haproxyPid = Number(/haproxy\s+pid (\d+)/.exec(stack.output.join('\n'))?.[1]);
  const gateway = stack.gateways[0]!;
  mkdirSync(join(results, 'tmp'), { recursive: true });
  const caFile = join(results, 'tmp', 'lb-ca.pem');
  writeFileSync(caFile, stack.certificate);
  const path = '/cameras/bench/stream.mjpg';
  const ways = [
    { name: 'HTTP/1.1', url: `${stack.url}${path}`, args: [] },
    { name: 'HTTP/1.1 over TLS', url: `${stack.httpsUrl.replace('localhost', '127.0.0.1')}${path}`, args: ['--ca', caFile] },
    {
      name: `HTTP/2 over TLS, ${TILES_PER_PAGE} a connection`,
      url: `${stack.httpsUrl.replace('localhost', '127.0.0.1')}${path}`,
      args: ['--ca', caFile, '--h2', String(TILES_PER_PAGE)],
    },
  ];
  for (const viewers of counts) {
    for (const way of ways) {
      const load = spawnProcess(process.execPath, [
        'bench/dist/loadgen.js',
        '--url',
        way.url,
        '--viewers',
        String(viewers),
        '--warmup-ms',
        '3000',
        '--duration-ms',
        String(windowMs),
        ...way.args,
      ]);
      await load.waitFor(/^measuring$/, 120_000);
      const before = { haproxy: cpuMs(haproxyPid), gateway: cpuMs(gateway.pid) };
      await load.waitFor(/^measured$/, windowMs + 60_000);
      const used = { haproxy: cpuMs(haproxyPid) - before.haproxy, gateway: cpuMs(gateway.pid) - before.gateway };
      const haproxyRss = treeMemoryBytes(haproxyPid).rss;
      await load.exited;
      const line = load.output.find((l) => l.startsWith('{'));
      if (!line) throw new Error(`the load generator printed no result:\n${load.output.join('\n')}`);
      const result = JSON.parse(line) as Load;
      const perFrame = (ms: number) => ((ms * 1000) / Math.max(1, result.framesDelivered)).toFixed(1);
      const f = (n: number | null, digits = 0) => (n === null ? '-' : n.toFixed(digits));
      const row = {
        viewers,
        way: way.name,
        'fps median / slowest': `${f(result.fps.median, 1)} / ${f(result.fps.min, 1)}`,
        'latency p99, ms': f(result.latencyMs.p99),
        'HAProxy CPU per frame, µs': perFrame(used.haproxy),
        'gateway CPU per frame, µs': perFrame(used.gateway),
        'HAProxy RSS, MB': (haproxyRss / 2 ** 20).toFixed(0),
        'load generator CPU, % of a core': ((result.loadgenCpuMsPerSecond / 1000) * 100).toFixed(0),
        'no frame / errors': `${result.neverGotFrame} / ${result.errors}`,
      };
      console.log(JSON.stringify(row));
      rows.push(row);
      // The next way starts from a gateway with no viewers.
      for (let i = 0; i < 100; i++) {
        if (metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_open_streams') === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
} finally {
  await stack.stop('SIGINT');
}
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
console.log(`\n${writeRows(results, 'lb', rows, { machine, size: values.size, fps: 30, windowMs, tilesPerPage: TILES_PER_PAGE })}`);
