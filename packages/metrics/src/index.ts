/**
 * Prometheus metrics read when they are scraped. The services keep plain numbers on their hot
 * paths (a frame delivered is `n++`, never a metric call per viewer); these metrics read them
 * at scrape time.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type { Registry };

/** One value, or one value per label set (e.g. per camera). */
export type Reading = number | Iterable<readonly [Record<string, string>, number]>;

export interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  /** Needed when read() returns labelled values. */
  readonly labelNames?: readonly string[];
  readonly read: () => Reading;
}

/** A registry with the process metrics (CPU, RSS, event loop lag) every service exposes. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function scrapedGauge(registry: Registry, metric: ScrapedMetric): void {
  new Gauge({
    name: metric.name,
    help: metric.help,
    labelNames: [...(metric.labelNames ?? [])],
    registers: [registry],
    collect() {
      this.reset();
      apply(
        metric.read(),
        (value) => this.set(value),
        (labels, value) => this.set(labels, value),
      );
    },
  });
}

/** A counter whose total is kept elsewhere: it must never go down. */
export function scrapedCounter(registry: Registry, metric: ScrapedMetric): void {
  new Counter({
    name: metric.name,
    help: metric.help,
    labelNames: [...(metric.labelNames ?? [])],
    registers: [registry],
    collect() {
      this.reset();
      apply(
        metric.read(),
        (value) => this.inc(value),
        (labels, value) => this.inc(labels, value),
      );
    },
  });
}

/** 1 while the frame bus is connected: the same metric in capture and gateway. */
export function busUpGauge(registry: Registry, bus: { readonly isUp: boolean }): void {
  scrapedGauge(registry, { name: 'camrelay_bus_up', help: '1 while the frame bus is connected.', read: () => (bus.isUp ? 1 : 0) });
}

function apply(reading: Reading, one: (value: number) => void, each: (labels: Record<string, string>, value: number) => void): void {
  if (typeof reading === 'number') one(reading);
  else for (const [labels, value] of reading) each(labels, value);
}
