/** A gateway's retained memory, read after a full GC by gc-probe.ts preloaded into it. */
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Running } from '@camrelay/stack';

/** What a gateway retains after a full GC. */
export interface MemoryProbe {
  /** During churn: ms since it started, and connections opened so far (else 0). */
  t: number;
  connections: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

/** Environment for spawnGateway that preloads gc-probe.js, for probeMemory. */
export function gcProbeEnv(): NodeJS.ProcessEnv {
  const preload = pathToFileURL(fileURLToPath(new URL('./gc-probe.js', import.meta.url))).href;
  return { NODE_OPTIONS: [process.env.NODE_OPTIONS, '--expose-gc', `--import=${preload}`].filter(Boolean).join(' ') };
}

const probeCounts = new WeakMap<Running, number>();

/** Runs a full GC in a gateway started with gcProbeEnv() and reads what it retains. */
export async function probeMemory(gateway: Running): Promise<MemoryProbe> {
  const n = (probeCounts.get(gateway) ?? 0) + 1;
  probeCounts.set(gateway, n);
  const line = gateway.waitFor(new RegExp(`^gc-probe ${n} `), 15_000);
  gateway.process.kill('SIGUSR2');
  const json = JSON.parse((await line).slice(`gc-probe ${n} `.length)) as Omit<MemoryProbe, 't'> & { error?: string };
  if (json.error) throw new Error(`gc-probe: ${json.error}`);
  return { t: 0, connections: 0, heapUsed: json.heapUsed, external: json.external, arrayBuffers: json.arrayBuffers, rss: json.rss };
}

/** Retained memory after a full GC: JS heap plus memory outside it (Buffers). */
export function retained(probe: MemoryProbe): number {
  return probe.heapUsed + probe.external;
}
