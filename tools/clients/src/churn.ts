/**
 * Viewer churn against one gateway, for the churn test and `npm run bench:churn`: a population
 * of clients that keep arriving, watching for a moment and leaving, the way browsers do
 * (reloads, closed tabs, dropped phones, health checks, link previews), while the gateway's
 * /metrics is sampled. What must not grow under churn: sockets, listeners, subscriptions, memory.
 * What each client does is one of the visits in churn/visits.ts.
 * A burst camera, if given, is watched only by a few viewers every burstEveryMs, so its
 * subscription goes through linger and unsubscribe again and again.
 */
import type { GatewayMetrics } from './metrics.js';
import { scrapeGateway } from './metrics.js';
import type { MemoryProbe } from './memory-probe.js';
import { Random } from './churn/random.js';
import { Tally } from './churn/tally.js';
import { Timers } from './churn/timers.js';
import { DEFAULT_MIX, Visits } from './churn/visits.js';
import type { VisitKind } from './churn/visits.js';

export { DEFAULT_MIX } from './churn/visits.js';
export type { VisitKind } from './churn/visits.js';

export interface ChurnOptions {
  readonly baseUrl: string;
  /** Cameras the population watches, all the time. */
  readonly cameras: readonly string[];
  /** The first camera of CAMERAS, served at /video_feed. @default cameras[0] */
  readonly firstCamera?: string;
  /** Watched only in bursts, so its subscription comes and goes. */
  readonly burstCamera?: string;
  /** @default 10_000 (more than the gateway's 5 s linger) */
  readonly burstEveryMs?: number;
  /** @default 3 */
  readonly burstViewers?: number;
  /** Visits in progress at any time. */
  readonly concurrency: number;
  readonly durationMs: number;
  /** A stream visit reads 1..maxFrames frames. @default 20 */
  readonly maxFrames?: number;
  readonly mix?: Partial<Record<VisitKind, number>>;
  /** /metrics sampling interval. @default 1000 */
  readonly sampleEveryMs?: number;
  /** Post-GC memory probes (probeMemory on the gateway), taken every probeEveryMs during churn. */
  readonly probe?: () => Promise<MemoryProbe>;
  /** @default 10_000 */
  readonly probeEveryMs?: number;
  /** A visit still going after this long is a failure (the gateway stopped answering). @default 20_000 */
  readonly visitTimeoutMs?: number;
  readonly seed?: number;
  /** Called with each sample as it is taken (progress output). */
  readonly onSample?: (sample: GatewaySample) => void;
}

/** Taken during churn: t is ms since it started; active and connections are the clients'. */
export interface GatewaySample extends GatewayMetrics {
  t: number;
  /** Visits in progress. */
  active: number;
  /** Connections opened so far. */
  connections: number;
}

export interface ChurnResult {
  readonly seed: number;
  readonly durationMs: number;
  /** TCP connections the clients opened (raw sockets, and new sockets of the HTTP agent). */
  readonly connections: number;
  readonly requests: number;
  readonly visits: Record<VisitKind, { started: number; finished: number }>;
  /** Stream visits (stream, stream-fps, video-feed, burst) that read every frame they meant to. */
  readonly completedStreams: number;
  readonly burstStreams: number;
  readonly frames: number;
  readonly frameBytes: number;
  /** mid-part visits that did cut a part's body. */
  readonly midPartCuts: number;
  /** Snapshots, API calls, HEADs and 404s answered as they should be. */
  readonly okRequests: number;
  /** Anything the gateway got wrong: failed requests, bad parts, early closes, timeouts. */
  readonly failures: number;
  readonly failureExamples: readonly string[];
  readonly samples: readonly GatewaySample[];
  readonly probes: readonly MemoryProbe[];
}

/** Runs the churn for options.durationMs, then makes every remaining client leave at once. */
export function runChurn(options: ChurnOptions): Promise<ChurnResult> {
  return new Churn(options).run();
}

class Churn {
  private readonly seed: number;
  private readonly random: Random;
  private readonly tally = new Tally();
  private readonly timers = new Timers();
  private readonly visits: Visits;
  private readonly mix: Array<[VisitKind, number]>;
  private readonly visitsInFlight = new Set<Promise<void>>();
  private readonly wakers = new Set<() => void>();
  private running = false;
  private active = 0;
  private startedAt = 0;
  private readonly visitCounts = Object.fromEntries(Object.keys(DEFAULT_MIX).map((kind) => [kind, { started: 0, finished: 0 }])) as Record<
    VisitKind,
    { started: number; finished: number }
  >;
  private readonly samples: GatewaySample[] = [];
  private readonly probes: MemoryProbe[] = [];

  constructor(private readonly options: ChurnOptions) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.random = new Random(this.seed);
    this.mix = Object.entries({ ...DEFAULT_MIX, ...options.mix }).filter(([, weight]) => weight > 0) as Array<[VisitKind, number]>;
    this.visits = new Visits(
      {
        baseUrl: options.baseUrl,
        cameras: options.cameras,
        firstCamera: options.firstCamera ?? options.cameras[0]!,
        burstCamera: options.burstCamera,
        maxFrames: options.maxFrames ?? 20,
        visitTimeoutMs: options.visitTimeoutMs ?? 20_000,
      },
      this.tally,
      this.random,
      this.timers,
    );
  }

  async run(): Promise<ChurnResult> {
    const { concurrency, durationMs } = this.options;
    this.running = true;
    this.startedAt = performance.now();
    // Arrivals spread over the first second, then each leaving visit is replaced.
    for (let i = 0; i < concurrency; i++) this.timers.later((i * 1000) / concurrency, () => this.launch());
    if (this.options.burstCamera) this.burst(this.options.burstCamera);
    const sampler = this.sampleLoop();
    const prober = this.probeLoop();
    await new Promise<void>((resolve) => this.timers.later(durationMs, resolve));

    // Stop: no new arrivals; whoever is still watching leaves at once (a mass disconnect).
    this.running = false;
    this.timers.cancelAll();
    for (const wake of [...this.wakers]) wake();
    this.visits.stop();
    await Promise.all([...this.visitsInFlight]);
    await Promise.all([sampler, prober]);
    const { tally } = this;
    return {
      seed: this.seed,
      durationMs: performance.now() - this.startedAt,
      connections: tally.connections,
      requests: tally.requests,
      visits: this.visitCounts,
      completedStreams: tally.completedStreams,
      burstStreams: tally.burstStreams,
      frames: tally.frames,
      frameBytes: tally.frameBytes,
      midPartCuts: tally.midPartCuts,
      okRequests: tally.okRequests,
      failures: tally.failures,
      failureExamples: tally.failureExamples,
      samples: this.samples,
      probes: this.probes,
    };
  }

  private now(): number {
    return performance.now() - this.startedAt;
  }

  private async sampleLoop(): Promise<void> {
    const every = this.options.sampleEveryMs ?? 1000;
    while (this.running) {
      const next = performance.now() + every;
      try {
        const [t, active, connections] = [this.now(), this.active, this.tally.connections];
        const sample = { t, active, connections, ...(await scrapeGateway(this.options.baseUrl)) };
        this.samples.push(sample);
        this.options.onSample?.(sample);
      } catch (error) {
        this.tally.fail(`scrape at ${(this.now() / 1000).toFixed(1)} s: ${(error as Error).message}`);
      }
      await this.sleepUntil(next);
    }
  }

  private async probeLoop(): Promise<void> {
    const probe = this.options.probe;
    if (!probe) return;
    const every = this.options.probeEveryMs ?? 10_000;
    let next = performance.now() + every;
    for (;;) {
      await this.sleepUntil(next);
      if (!this.running) return;
      next += every;
      const [t, connections] = [this.now(), this.tally.connections];
      try {
        this.probes.push({ ...(await probe()), t, connections });
      } catch (error) {
        this.tally.fail(`memory probe at ${(t / 1000).toFixed(1)} s: ${(error as Error).message.split('\n')[0]}`);
        return;
      }
    }
  }

  /** Sleeps until `at` (performance.now()) or until the churn stops. */
  private sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, at - performance.now()));
      this.wakers.add(wake);
    });
  }

  private launch(): void {
    if (!this.running) return;
    const kind = this.random.weighted(this.mix);
    this.track(kind, this.visits.visit(kind), () => {
      // Replaced after a short pause, as a new arrival.
      if (this.running) this.timers.later(this.random.next() * 20, () => this.launch());
    });
  }

  private burst(camera: string): void {
    if (!this.running) return;
    const viewers = this.options.burstViewers ?? 3;
    for (let i = 0; i < viewers; i++) {
      this.tally.burstStreams++;
      this.track('stream', this.visits.watch(camera));
    }
    this.timers.later(this.options.burstEveryMs ?? 10_000, () => this.burst(camera));
  }

  private track(kind: VisitKind, visit: Promise<void>, then?: () => void): void {
    this.active++;
    this.visitCounts[kind].started++;
    const settled = visit
      .catch((error: Error) => this.tally.fail(`${kind}: ${error.message}`))
      .finally(() => {
        this.active--;
        this.visitCounts[kind].finished++;
        this.visitsInFlight.delete(settled);
        then?.();
      });
    this.visitsInFlight.add(settled);
  }
}
