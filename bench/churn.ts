/**
 * `npm run bench:churn`: viewer churn against one gateway for minutes (10 by default): a
 * population of clients that keep arriving, watching for a moment and leaving in every way a
 * browser can (tools/clients/src/churn.ts), while the gateway's /metrics is sampled and its
 * retained memory is read after a full GC. Reports connections served, the leak-relevant
 * metrics at start, middle and end, memory slopes, and whether everything went back to the
 * baseline afterwards. Writes bench/results/churn.json and churn.md.
 *
 *   npm run bench:churn [-- --seconds 600 --viewers 200 --max-frames 20 --seed N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchMetrics, gcProbeEnv, metricValue, probeMemory, retained, runChurn, scrapeGateway } from '@camrelay/clients';
import type { ChurnResult, GatewayMetrics, GatewaySample, MemoryProbe } from '@camrelay/clients';
import { repoRoot, spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import { cpuMs } from './proc.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    viewers: { type: 'string', default: '200' },
    'max-frames': { type: 'string', default: '20' },
    'sample-every': { type: 'string', default: '5' },
    'probe-every': { type: 'string', default: '15' },
    seed: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.viewers);
const CAMERAS = 'a=pattern:320x240@15;b=pattern:320x240@15;c=pattern:160x120@10';
const MiB = 1024 * 1024;
/** Retained memory may grow this much per connection served after warm-up (a leak of a KB shows as ~1000). */
const MAX_BYTES_PER_CONNECTION = 64;
/** ... and end this much above the baseline once everything is released (warm-up: JIT code, caches). */
const MAX_RETAINED_ABOVE_BASELINE = 16 * MiB;

const mib = (bytes: number, digits = 1) => `${(bytes / MiB).toFixed(digits)}`;

const redis = await spawnRedis();
const capture = await spawnCapture({ REDIS_URL: redis.url, CAMERAS }, ['a', 'b', 'c']);
const gateway = await spawnGateway({
  REDIS_URL: redis.url,
  AUTH: 'off',
  MAX_VIEWERS: '10000',
  MAX_VIEWERS_PER_ADDRESS: '10000',
  ...gcProbeEnv(),
});
// Counted as they stream by: the harness keeps only the last lines of output.
let errorTraces = 0;
const count = (pattern: RegExp, add: () => void) => {
  let partial = '';
  return (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (pattern.test(line)) add();
  };
};
gateway.process.stderr!.on(
  'data',
  count(/^\s*\w*Error: /, () => errorTraces++),
);

try {
  const baseline = await scrapeGateway(gateway.baseUrl);
  const baselineMemory = await probeMemory(gateway);
  console.log(`churn: ${seconds} s, ${concurrency} clients at a time, gateway ${gateway.baseUrl} (pid ${gateway.process.pid})`);
  const cpu0 = cpuMs(gateway.process.pid!);
  let nextReport = 0;
  const result = await runChurn({
    baseUrl: gateway.baseUrl,
    cameras: ['a', 'b'],
    firstCamera: 'a',
    burstCamera: 'c',
    concurrency,
    durationMs: seconds * 1000,
    maxFrames: Number(values['max-frames']),
    sampleEveryMs: Number(values['sample-every']) * 1000,
    probe: () => probeMemory(gateway),
    probeEveryMs: Number(values['probe-every']) * 1000,
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    onSample: (s) => {
      if (s.t < nextReport) return;
      nextReport = (Math.floor(s.t / 30_000) + 1) * 30_000;
      console.log(`${describe(s)}, ${s.connections} connections so far`);
    },
  });
  const gatewayCpuPercent = ((cpuMs(gateway.process.pid!) - cpu0) / result.durationMs) * 100;

  // Back to the baseline? Subscriptions end 5 s after the last viewer, idle keep-alive
  // connections within 5 s.
  const stoppedAt = performance.now();
  let after: GatewayMetrics = await scrapeGateway(gateway.baseUrl);
  while (!isSettled(after, baseline) && performance.now() - stoppedAt < 30_000) {
    await sleep(250);
    after = await scrapeGateway(gateway.baseUrl);
  }
  const settled = isSettled(after, baseline);
  const settledAfterMs = performance.now() - stoppedAt;
  const afterMemory = await probeMemory(gateway);
  const burstCameraUnsubscribes = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_subscriptions_ended_total', 'camera="c"');

  const report = summarise(result, {
    baseline,
    baselineMemory,
    after,
    afterMemory,
    settled,
    settledAfterMs,
    gatewayCpuPercent,
    burstCameraUnsubscribes,
  });
  const results = join(repoRoot, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'churn.json'), `${JSON.stringify({ ...report, samples: result.samples, probes: result.probes }, null, 2)}\n`);
  const markdown = renderMarkdown(report);
  writeFileSync(join(results, 'churn.md'), markdown);
  console.log(`\n${markdown}`);
  process.exitCode = report.verdict.pass ? 0 : 1;
} finally {
  await gateway.stop();
  await capture.stop();
  await redis.stop();
}

/** Least-squares slope of value over t (ms), per minute. */
function slopePerMinute(points: ReadonlyArray<{ t: number; value: number }>): number {
  if (points.length < 2) return Number.NaN;
  const n = points.length;
  const meanT = points.reduce((sum, p) => sum + p.t, 0) / n;
  const meanV = points.reduce((sum, p) => sum + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - meanT) * (p.value - meanV);
    den += (p.t - meanT) ** 2;
  }
  return den === 0 ? Number.NaN : (num / den) * 60_000;
}

function isSettled(now: GatewayMetrics, base: GatewayMetrics): boolean {
  return (
    now.viewers === 0 &&
    now.subscriptions === 0 &&
    now.httpConnections <= base.httpConnections &&
    now.eventListeners <= base.eventListeners + 2 &&
    now.activeHandles <= base.activeHandles + 2 &&
    now.openFds <= base.openFds + 2
  );
}

function describe(s: GatewayMetrics & { t?: number; active?: number }): string {
  const at = s.t === undefined ? '' : `${(s.t / 1000).toFixed(0).padStart(4)} s: ${String(s.active).padStart(4)} clients, `;
  return `${at}viewers ${s.viewers}, subscriptions ${s.subscriptions}, connections ${s.httpConnections}, listeners ${s.eventListeners}, handles ${s.activeHandles}, fds ${s.openFds}, heap ${mib(s.heapUsed)} MiB, RSS ${mib(s.rss)} MiB`;
}

interface Context {
  baseline: GatewayMetrics;
  baselineMemory: MemoryProbe;
  after: GatewayMetrics;
  afterMemory: MemoryProbe;
  settled: boolean;
  settledAfterMs: number;
  gatewayCpuPercent: number;
  /** camrelay_subscriptions_ended_total of the burst camera: its subscription cycling. */
  burstCameraUnsubscribes: number;
}

function nearest(samples: readonly GatewaySample[], t: number): GatewaySample | null {
  return samples.reduce<GatewaySample | null>((best, s) => (best === null || Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), null);
}

function summarise(result: ChurnResult, context: Context) {
  const { samples, probes } = result;
  const minutes = result.durationMs / 60_000;
  // Warm-up (JIT, lazily built caches) is over after a minute or so; the trend is taken after it.
  const warmupMs = Math.max(20_000, Math.min(120_000, result.durationMs * 0.2));
  const steady = probes.filter((p) => p.t >= warmupMs);
  const steadySamples = samples.filter((s) => s.t >= warmupMs);
  const retainedSlope = slopePerMinute(steady.map((p) => ({ t: p.t, value: retained(p) })));
  const connectionsPerMinute = slopePerMinute(steadySamples.map((s) => ({ t: s.t, value: s.connections })));
  const bytesPerConnection = retainedSlope / connectionsPerMinute;
  const memory = {
    warmupSeconds: warmupMs / 1000,
    retainedSlopeMiBPerMinute: retainedSlope / MiB,
    probeRssSlopeMiBPerMinute: slopePerMinute(steady.map((p) => ({ t: p.t, value: p.rss }))) / MiB,
    heapUsedSlopeMiBPerMinute: slopePerMinute(steadySamples.map((s) => ({ t: s.t, value: s.heapUsed }))) / MiB,
    rssSlopeMiBPerMinute: slopePerMinute(steadySamples.map((s) => ({ t: s.t, value: s.rss }))) / MiB,
    retainedBytesPerConnection: bytesPerConnection,
    retainedBaselineMiB: retained(context.baselineMemory) / MiB,
    retainedAfterWarmupMiB: steady[0] ? retained(steady[0]) / MiB : null,
    retainedEndOfChurnMiB: probes.length ? retained(probes[probes.length - 1]!) / MiB : null,
    retainedAfterMiB: retained(context.afterMemory) / MiB,
    rssBaselineMiB: context.baselineMemory.rss / MiB,
    rssAfterMiB: context.afterMemory.rss / MiB,
    peakRssMiB: Math.max(...samples.map((s) => s.rss)) / MiB,
  };
  const reasons: string[] = [];
  if (result.failures > 0) reasons.push(`${result.failures} client failures, e.g. ${result.failureExamples[0]}`);
  if (!context.settled)
    reasons.push(`not back at the baseline ${(context.settledAfterMs / 1000).toFixed(0)} s after the churn: ${describe(context.after)}`);
  if (steady.length < 3) reasons.push('too few memory probes after warm-up for a trend (run longer)');
  else if (bytesPerConnection > MAX_BYTES_PER_CONNECTION)
    reasons.push(
      `retained memory grows ${bytesPerConnection.toFixed(0)} bytes per connection (${memory.retainedSlopeMiBPerMinute.toFixed(2)} MiB/min)`,
    );
  if (retained(context.afterMemory) > retained(context.baselineMemory) + MAX_RETAINED_ABOVE_BASELINE)
    reasons.push(
      `retained ${mib(retained(context.afterMemory))} MiB after the churn, baseline ${mib(retained(context.baselineMemory))} MiB`,
    );
  const series = {
    baseline: context.baseline,
    start: nearest(samples, Math.min(10_000, result.durationMs / 10)),
    middle: nearest(samples, result.durationMs / 2),
    end: samples[samples.length - 1] ?? null,
    after: context.after,
  };
  return {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    cameras: CAMERAS,
    seconds: result.durationMs / 1000,
    concurrency,
    seed: result.seed,
    connections: result.connections,
    connectionsPerSecond: result.connections / (result.durationMs / 1000),
    requests: result.requests,
    completedStreams: result.completedStreams,
    frames: result.frames,
    framesPerSecond: result.frames / (result.durationMs / 1000),
    frameMiB: result.frameBytes / MiB,
    midPartCuts: result.midPartCuts,
    okRequests: result.okRequests,
    visits: result.visits,
    failures: result.failures,
    failureExamples: result.failureExamples,
    burstCameraUnsubscribes: context.burstCameraUnsubscribes,
    gatewayErrorTraces: errorTraces,
    gatewayCpuPercent: context.gatewayCpuPercent,
    settled: context.settled,
    settledAfterSeconds: context.settledAfterMs / 1000,
    series,
    memory,
    minutes,
    verdict: { pass: reasons.length === 0, reasons },
  };
}

function renderMarkdown(report: ReturnType<typeof summarise>): string {
  const f = (n: number | null | undefined, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
  const m = report.memory;
  const row = (name: string, s: (GatewayMetrics & { t?: number }) | null) =>
    s
      ? `| ${name} | ${s.t === undefined ? '' : f(s.t / 1000, 0)} | ${s.viewers} | ${s.subscriptions} | ${s.httpConnections} | ${s.eventListeners} | ${s.activeHandles} | ${s.openFds} | ${mib(s.heapUsed)} | ${mib(s.rss)} |`
      : `| ${name} | – | | | | | | | | |`;
  const lines = [
    '# Viewer churn',
    '',
    `Measured ${report.date.slice(0, 16).replace('T', ' ')} UTC on ${report.machine}: one gateway, capture and Redis on the same machine; cameras ${report.cameras}; ${report.concurrency} clients at a time for ${f(report.seconds, 0)} s (seed ${report.seed}).`,
    '',
    '| connections served | connections/s | requests | complete streams | frames (per s) | mid-part cuts | client failures | gateway CPU |',
    '|---|---|---|---|---|---|---|---|',
    `| ${report.connections} | ${f(report.connectionsPerSecond)} | ${report.requests} | ${report.completedStreams} | ${report.frames} (${f(report.framesPerSecond, 0)}) | ${report.midPartCuts} | ${report.failures} | ${f(report.gatewayCpuPercent, 0)} % |`,
    '',
    '| gateway metrics | t s | viewers | subscriptions | HTTP connections | event listeners | active handles | open fds | heap used MiB | RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|',
    row('baseline', report.series.baseline),
    row('start', report.series.start),
    row('middle', report.series.middle),
    row('end', report.series.end),
    row(`after (+${f(report.settledAfterSeconds, 0)} s)`, report.series.after),
    '',
    `Memory after warm-up (${f(m.warmupSeconds, 0)} s): retained after a full GC ${f(m.retainedSlopeMiBPerMinute, 2)} MiB/min (${f(m.retainedBytesPerConnection, 0)} bytes per connection); heap used ${f(m.heapUsedSlopeMiBPerMinute, 2)} MiB/min; RSS ${f(m.rssSlopeMiBPerMinute, 2)} MiB/min (after GC ${f(m.probeRssSlopeMiBPerMinute, 2)}). ` +
      `Retained: baseline ${f(m.retainedBaselineMiB)} MiB, after warm-up ${f(m.retainedAfterWarmupMiB)}, end of churn ${f(m.retainedEndOfChurnMiB)}, after ${f(m.retainedAfterMiB)}; RSS peak ${f(m.peakRssMiB, 0)} MiB, after ${f(m.rssAfterMiB, 0)} MiB.`,
    '',
    `The burst camera's subscription ended ${report.burstCameraUnsubscribes} times; the gateway wrote ${report.gatewayErrorTraces} error traces to stderr.`,
    '',
    report.verdict.pass
      ? `**Verdict: no leak.** Everything was back at the baseline ${f(report.settledAfterSeconds, 0)} s after the churn, and retained memory does not grow with connections (limit ${MAX_BYTES_PER_CONNECTION} bytes per connection).`
      : `**Verdict: FAIL.** ${report.verdict.reasons.join('; ')}.`,
  ];
  if (report.failureExamples.length)
    lines.push('', 'Client failures (first few):', '', ...report.failureExamples.map((example) => `- ${example}`));
  return `${lines.join('\n')}\n`;
}
