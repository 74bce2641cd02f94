/**
 * Viewer churn: 60 s of ~30 viewers at a time arriving, watching for a moment and leaving
 * (every way a browser can: reset, FIN, mid-part, mid-headers, stalled, before the
 * response…), plus snapshots, HEADs, 404s and API calls, against one gateway on real Redis.
 * Afterwards nothing may be left behind: no viewers, subscriptions, sockets, listeners or
 * handles beyond the baseline, and no memory that grows with the number of connections.
 *
 * Memory is compared after a full GC (tools/clients/src/gc-probe.ts, preloaded into the gateway):
 * heap used read at a random moment swings by megabytes with garbage not yet collected; what
 * survives a full collection moves by a few hundred KB at most, so a per-connection leak of
 * a KB or more over the thousands of connections between the two windows stands out.
 * Checked by injecting leaks into the gateway: 1 KB per connection grew 2.6 MiB between the
 * windows, keeping each request's socket 37 MiB (~18 KB each); without a leak, 0.5 MiB
 * (warm-up that levels off).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gcProbeEnv, metricValue, probeMemory, retained, runChurn, scrapeGateway, scrapeMetrics } from '@camrelay/clients';
import type { ChurnResult, GatewayMetrics, MemoryProbe } from '@camrelay/clients';
import { spawnCapture, spawnGateway, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const CHURN_MS = 60_000;
const CONCURRENCY = 30;
const BURST_VIEWERS = 3;
const AGENT_SOCKETS = 4; // the churn's keep-alive agent for snapshots and API calls
const MiB = 1024 * 1024;
/** Retained memory may move this much between the 15-25 s and the last 15 s of churn. */
const TREND_TOLERANCE = 1.5 * MiB;
/** ... so with at least this many connections in between, a leak of 1.5 KB or more each fails (~2000 in practice: 800 B). */
const MIN_CONNECTIONS_BETWEEN_WINDOWS = 1000;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const mib = (bytes: number) => `${(bytes / MiB).toFixed(2)} MiB`;

describe('viewer churn on one gateway', () => {
  let redis: RedisServer;
  let capture: Running;
  let gateway: Service;
  let baseline: GatewayMetrics;
  let baselineMemory: MemoryProbe;
  let result: ChurnResult | undefined;
  /** The gateway's metrics once everything returned to the baseline. */
  let settled: GatewayMetrics | undefined;

  before(async () => {
    redis = await spawnRedis();
    capture = await spawnCapture({ REDIS_URL: redis.url, CAMERAS: 'a=pattern:320x240@15;b=pattern:320x240@15;c=pattern:160x120@10' }, [
      'a',
      'b',
      'c',
    ]);
    gateway = await spawnGateway(
      {
        REDIS_URL: redis.url,
        // Access control and viewer limits are not what this test is about.
        AUTH: 'off',
        MAX_VIEWERS: '10000',
        MAX_VIEWERS_PER_ADDRESS: '10000',
        ...gcProbeEnv(),
      },
      { keepLines: 100_000 },
    );
    baseline = await scrapeGateway(gateway.baseUrl);
    baselineMemory = await probeMemory(gateway);
  });

  after(async () => {
    await gateway?.stop();
    await capture?.stop();
    await redis?.stop();
  });

  it('serves 60 s of viewers coming and going, every one of them correctly', async (t) => {
    assert.equal(baseline.viewers, 0);
    assert.equal(baseline.subscriptions, 0);
    result = await runChurn({
      baseUrl: gateway.baseUrl,
      cameras: ['a', 'b'],
      firstCamera: 'a',
      // Watched by 3 viewers every 10 s, so its subscription lingers and ends again and again.
      burstCamera: 'c',
      burstEveryMs: 10_000,
      burstViewers: BURST_VIEWERS,
      concurrency: CONCURRENCY,
      durationMs: CHURN_MS,
      maxFrames: 20,
      sampleEveryMs: 1000,
      probe: () => probeMemory(gateway),
      probeEveryMs: 5000,
    });
    const { visits, samples } = result;
    const summary = `seed ${result.seed}: ${result.connections} connections, ${result.completedStreams} complete streams, ${result.frames} frames, ${result.midPartCuts} mid-part cuts`;
    t.diagnostic(summary);
    assert.deepEqual(result.failureExamples, [], `${result.failures} failures (${summary})`);
    assert.equal(result.failures, 0);

    assert.ok(result.connections >= 2000, `thousands of connections (${summary})`);
    for (const [kind, { started, finished }] of Object.entries(visits)) {
      assert.ok(started >= 10, `${kind}: ${started} visits`);
      assert.equal(finished, started, `${kind}: every visit ended`);
    }
    // Every stream viewer that stayed for its frames got them, each a complete JPEG part
    // with rising X-Sequence (checked part by part; any bad part is a failure above).
    assert.ok(result.completedStreams >= 500, summary);
    assert.ok(result.frames >= result.completedStreams, summary);
    assert.ok(result.midPartCuts >= 50, `viewers that left in the middle of a part (${summary})`);
    assert.ok(result.okRequests >= 200, `snapshots, API calls, HEADs and 404s answered correctly (${result.okRequests})`);

    // While it ran, the gateway held no more than the clients that were there.
    const clientsAtMost = CONCURRENCY + BURST_VIEWERS;
    const busiest = samples.reduce((max, s) => (s.httpConnections > max.httpConnections ? s : max));
    assert.ok(
      busiest.httpConnections <= clientsAtMost + AGENT_SOCKETS + 1 + 10,
      `open connections during churn stayed near the client count: ${busiest.httpConnections} at ${(busiest.t / 1000).toFixed(0)} s`,
    );
    // (A few more for a moment: a viewer that just left may be counted until its close is handled.)
    assert.ok(Math.max(...samples.map((s) => s.viewers)) <= clientsAtMost + 5, 'viewers during churn never exceeded the clients watching');
    assert.ok(
      samples.some((s) => s.subscriptions === 3),
      'all three cameras were watched',
    );

    assert.doesNotMatch(
      gateway.output.join('\n'),
      /ECONNRESET|EPIPE|"level":50/,
      'clients that go away are routine: no error and no stack trace per viewer',
    );

    // A burst every 10 s, each watched ~2 s, then 5 s of linger: the subscription ends between bursts.
    const ended = metricValue(await scrapeMetrics(gateway.baseUrl), 'camrelay_subscriptions_ended_total', 'camera="c"');
    assert.ok(ended >= 3, `the burst camera's subscription ended after each burst (camrelay_subscriptions_ended_total ${ended})`);
  });

  it('returns viewers and subscriptions to 0, and connections, listeners and handles to the baseline', async (t) => {
    assert.ok(result, 'the churn ran');
    await eventually(async () => {
      const now = await scrapeGateway(gateway.baseUrl);
      assert.equal(now.viewers, 0, 'camrelay_open_streams');
      assert.equal(now.viewerSlots, 0, 'camrelay_viewer_slots');
    }, 5000);
    // The gateway unsubscribes 5 s after a camera's last viewer left.
    await eventually(async () => assert.equal((await scrapeGateway(gateway.baseUrl)).subscriptions, 0, 'camrelay_subscriptions'), 15_000);
    // Idle keep-alive connections time out after 5 s at the latest.
    settled = await eventually(async () => {
      const now = await scrapeGateway(gateway.baseUrl);
      assert.equal(now.httpConnections, baseline.httpConnections, 'camrelay_http_connections (this scrape is one)');
      assert.ok(
        now.eventListeners <= baseline.eventListeners + 2,
        `camrelay_event_listeners ${now.eventListeners}, baseline ${baseline.eventListeners}`,
      );
      assert.ok(
        now.activeHandles <= baseline.activeHandles + 2,
        `nodejs_active_handles_total ${now.activeHandles}, baseline ${baseline.activeHandles}`,
      );
      assert.ok(now.openFds <= baseline.openFds + 2, `process_open_fds ${now.openFds}, baseline ${baseline.openFds}`);
      return now;
    }, 15_000);
    const show = (m: GatewayMetrics) =>
      `connections ${m.httpConnections}, listeners ${m.eventListeners}, handles ${m.activeHandles}, fds ${m.openFds}`;
    t.diagnostic(`baseline: ${show(baseline)}; after churn: ${show(settled)}`);
  });

  it('keeps memory flat: retained heap does not grow with the connections served', async (t) => {
    assert.ok(result, 'the churn ran');
    const { probes } = result;
    const early = probes.filter((p) => p.t >= 14_000 && p.t <= 26_000);
    const late = probes.filter((p) => p.t >= CHURN_MS - 16_000);
    assert.ok(early.length >= 2 && late.length >= 2, `probes in both windows (${probes.map((p) => Math.round(p.t / 1000)).join(', ')} s)`);
    const connectionsBetween = median(late.map((p) => p.connections)) - median(early.map((p) => p.connections));
    const growth = median(late.map(retained)) - median(early.map(retained));
    const rssGrowth = median(late.map((p) => p.rss)) - median(early.map((p) => p.rss));
    const detail = `retained after GC: ${probes.map((p) => `${Math.round(p.t / 1000)} s ${mib(retained(p))}`).join(', ')}; ~${Math.round(connectionsBetween)} connections between the windows`;
    t.diagnostic(`${detail}; growth ${mib(growth)}, RSS growth ${mib(rssGrowth)}`);
    assert.ok(
      connectionsBetween >= MIN_CONNECTIONS_BETWEEN_WINDOWS,
      `enough connections between the windows for the check to mean something: ${detail}`,
    );
    assert.ok(
      growth <= TREND_TOLERANCE,
      `retained memory grew ${mib(growth)} (${Math.round(growth / connectionsBetween)} bytes per connection): ${detail}`,
    );
    assert.ok(rssGrowth <= 32 * MiB, `RSS grew ${mib(rssGrowth)} between the windows`);

    // After the churn, with everything released: close to where it started.
    const end = await probeMemory(gateway);
    t.diagnostic(
      `retained: baseline ${mib(retained(baselineMemory))}, after churn ${mib(retained(end))}; RSS: baseline ${mib(baselineMemory.rss)}, after churn ${mib(end.rss)}`,
    );
    assert.ok(
      retained(end) <= retained(baselineMemory) + 10 * MiB,
      `retained after churn ${mib(retained(end))}, baseline ${mib(retained(baselineMemory))}`,
    );
    assert.ok(end.rss <= baselineMemory.rss + 96 * MiB, `RSS after churn ${mib(end.rss)}, baseline ${mib(baselineMemory.rss)}`);
    const now = settled ?? (await scrapeGateway(gateway.baseUrl));
    assert.ok(
      now.heapUsed <= baseline.heapUsed + 24 * MiB,
      `nodejs_heap_size_used_bytes ${mib(now.heapUsed)}, baseline ${mib(baseline.heapUsed)}`,
    );
  });
});
