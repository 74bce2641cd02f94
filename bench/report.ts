/** The benchmark's outputs: a Markdown table for docs/benchmarks.md and an SVG chart. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Run } from './run-result.js';

export interface Report {
  readonly date: string;
  readonly machine: string;
  readonly fps: number;
  readonly frameBytes: Record<string, number>;
  readonly runs: readonly Run[];
}

const f = (n: number | null | undefined, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));

function floorFor(report: Report, run: Run): Run | undefined {
  return report.runs.find((r) => r.system === 'floor' && r.size === run.size && r.viewers === run.viewers && r.slowFraction === 0);
}

export function renderTable(report: Report): string {
  const lines = [
    `Measured ${report.date.slice(0, 10)} on ${report.machine}; ${report.fps} fps source, 640x480 JPEGs of ${Math.round((report.frameBytes['640x480'] ?? 0) / 1024)} KB on average; server, load generator and (for camrelay) capture and Redis on the same machine.`,
    '',
    '| system | frames | viewers | fps median | fps p10 | server CPU µs / frame | × floor | latency p50 / p99 ms | first frame median ms | server peak RSS MB | load generator CPU % | capture CPU µs / source frame |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const run of report.runs) {
    const floor = floorFor(report, run);
    const ratio =
      floor && run !== floor && run.serverCpuUsPerFrame && floor.serverCpuUsPerFrame
        ? `${f(run.serverCpuUsPerFrame / floor.serverCpuUsPerFrame, 2)}×`
        : '';
    const name = `${run.system}${run.slowFraction ? ` (${Math.round(run.slowFraction * 100)} % slow viewers; fps of the others)` : ''}`;
    lines.push(
      `| ${name} | ${run.size} | ${run.viewers} | ${f(run.load.fps.median)} | ${f(run.load.fps.p10)} | ${f(run.serverCpuUsPerFrame)} | ${ratio} | ${f(run.load.latencyMs.p50, 0)} / ${f(run.load.latencyMs.p99, 0)} | ${f(run.load.firstFrameMs.median, 0)} | ${f(run.serverPeakRssMB, 0)} | ${f(run.load.loadgenCpuMsPerSecond / 10, 0)} | ${f(run.captureCpuUsPerFrame ?? null, 0)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const COLORS: Record<string, string> = {
  floor: '#888888',
  camrelay: '#1f77b4',
  'camrelay-reencode': '#9467bd',
  'camrelay-3gw-haproxy': '#17becf',
  'classic-threaded': '#d62728',
  'classic-gevent': '#ff7f0e',
};

/** Two panels: frame rate and server CPU per delivered frame, against viewers (640x480 series). */
export function renderChart(report: Report): string {
  const series = new Map<string, Run[]>();
  for (const run of report.runs) {
    if (run.size !== '640x480' || run.slowFraction !== 0) continue;
    series.set(run.system, [...(series.get(run.system) ?? []), run]);
  }
  const viewerCounts = [...new Set(report.runs.map((r) => r.viewers))].sort((a, b) => a - b);
  const width = 900;
  const height = 360;
  const panel = (x0: number, title: string, value: (run: Run) => number | null, max: number, log = false) => {
    const w = 380;
    const h = 240;
    const top = 50;
    const xs = (viewers: number) => x0 + 40 + (viewerCounts.indexOf(viewers) / Math.max(1, viewerCounts.length - 1)) * (w - 60);
    // Log scale for CPU: the classic design's per-viewer encode is ~100x the fan-out's cost.
    const min = log ? 10 : 0;
    const scale = (v: number) => (log ? Math.log10(Math.max(v, min)) - Math.log10(min) : v);
    const ys = (v: number) => top + h - (scale(Math.min(v, max)) / scale(max)) * h;
    const parts = [
      `<text x="${x0 + w / 2}" y="30" text-anchor="middle" font-size="15">${title}</text>`,
      `<line x1="${x0 + 40}" y1="${top + h}" x2="${x0 + w - 20}" y2="${top + h}" stroke="#333"/>`,
      `<line x1="${x0 + 40}" y1="${top}" x2="${x0 + 40}" y2="${top + h}" stroke="#333"/>`,
    ];
    const ticks = log ? [10, 100, 1000, 10000].filter((t) => t <= max) : [0, 0.25, 0.5, 0.75, 1].map((t) => Math.round(max * t));
    for (const tick of ticks) {
      parts.push(`<text x="${x0 + 34}" y="${ys(tick) + 4}" text-anchor="end" font-size="11">${tick}</text>`);
    }
    for (const viewers of viewerCounts)
      parts.push(`<text x="${xs(viewers)}" y="${top + h + 16}" text-anchor="middle" font-size="11">${viewers}</text>`);
    parts.push(`<text x="${x0 + w / 2}" y="${top + h + 34}" text-anchor="middle" font-size="12">viewers</text>`);
    for (const [system, runs] of series) {
      const points = runs
        .map((run) => [xs(run.viewers), value(run)] as const)
        .filter(([, v]) => v !== null)
        .map(([x, v]) => `${x.toFixed(1)},${ys(v!).toFixed(1)}`);
      parts.push(`<polyline fill="none" stroke="${COLORS[system] ?? '#000'}" stroke-width="2" points="${points.join(' ')}"/>`);
      for (const point of points) {
        const [x, y] = point.split(',');
        parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${COLORS[system] ?? '#000'}"/>`);
      }
    }
    return parts.join('\n');
  };
  const maxCpu = 10_000;
  const legend = [...series.keys()].map(
    (system, i) =>
      `<rect x="${60 + i * 165}" y="${height - 14}" width="12" height="4" fill="${COLORS[system] ?? '#000'}"/><text x="${76 + i * 165}" y="${height - 9}" font-size="12">${system}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 10}" font-family="sans-serif" viewBox="0 0 ${width} ${height + 10}">
<rect width="100%" height="100%" fill="white"/>
${panel(0, `median frame rate (source ${report.fps} fps)`, (run) => run.load.fps.median, report.fps)}
${panel(450, 'server CPU µs per delivered frame (log scale)', (run) => run.serverCpuUsPerFrame, maxCpu, true)}
${legend.join('\n')}
</svg>
`;
}

/** A small benchmark's rows, written as bench/results/NAME.json and as the Markdown table NAME.md (returned). */
export function writeRows(results: string, name: string, rows: ReadonlyArray<Record<string, string | number>>, extra: object = {}): string {
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, `${name}.json`), `${JSON.stringify({ date: new Date().toISOString(), ...extra, rows }, null, 2)}\n`);
  const headers = Object.keys(rows[0] ?? {});
  const table = [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${headers.map((header) => row[header]).join(' | ')} |`),
  ].join('\n');
  writeFileSync(join(results, `${name}.md`), `${table}\n`);
  return table;
}
