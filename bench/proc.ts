/** A process's CPU time and peak memory, read from /proc (Linux). */
import { readFileSync, readdirSync } from 'node:fs';

const TICK_MS = 10; // CLK_TCK is 100 on Linux

/**
 * User plus system CPU time in milliseconds, of the process and every process below it:
 * capture and the all-in-one do their work in a worker below a parent that redacts their
 * output (services/capture/src/redacted-output.ts).
 */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS + childrenOf(pid).reduce((total, child) => total + cpuMs(child), 0);
}

/** The live children of a process, from each of its threads' children lists (Linux ≥ 3.5). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return []; // gone meanwhile
  }
}

/** CPU time the whole machine spent busy, all cores, in milliseconds (/proc/stat: all but idle and iowait). */
export function machineBusyMs(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks.map(Number);
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

/** The process and every live process below it. */
export function processTree(pid: number): number[] {
  return [pid, ...childrenOf(pid).flatMap(processTree)];
}

/**
 * Resident memory of a process and every process below it, now. `rss` sums each one's VmRSS, so
 * pages they share (Node, OpenCV's libraries: one copy for a fleet of camera processes) count
 * once per process; `pss` splits each shared page between its users (smaps_rollup, Linux ≥ 4.14):
 * what the tree as a whole holds.
 */
export function treeMemoryBytes(pid: number): { rss: number; pss: number } {
  let [rss, pss] = [0, 0];
  for (const member of processTree(pid)) {
    try {
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${member}/status`, 'latin1'))?.[1] ?? 0) * 1024;
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${member}/smaps_rollup`, 'latin1'))?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return { rss, pss };
}

/** Peak resident set size in bytes (VmHWM). */
export function peakRssBytes(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return match ? Number(match[1]) * 1024 : 0;
}
