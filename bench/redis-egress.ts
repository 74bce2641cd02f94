/**
 * How many MB/s of pub/sub one redis-server (one core: no io-threads) delivers, the ceiling
 * the capacity model (tools/capacity) plans Redis shards with.
 *
 * A redis-server on a free loopback port (as the tests start it), N subscribers on raw sockets
 * that count the bytes they receive without parsing them (a gateway's work is not measured
 * here), and one publisher sending frame-sized messages to one channel at a fixed rate. The
 * rate is raised step by step; each step reports the egress Redis delivered, its CPU (from
 * /proc) and whether delivery kept up. It stops once Redis's CPU reaches 95 % or delivery
 * falls below 95 % of what was published × subscribers.
 *
 * On loopback the receiving half of TCP runs as softirq work on the sender's core and is not
 * counted in redis-server's own CPU time. So, on a machine of 2 or more cores, redis-server is
 * pinned to the last core and this process to the others (taskset), and that core's busy time
 * and softirq time are reported too. What comes out: the highest egress delivery kept up with
 * (on a machine shared with other work, less than one free core could do), and the MB Redis
 * sends per CPU-second, its own and counting its core's softirq time (conservative: that also
 * holds the receivers' TCP work, which a real network puts on the gateways' hosts). The
 * capacity model takes the latter as what one redis-server core can send. A step that falls
 * behind while redis-server had less than 90 % of its core (other processes took the rest: the
 * machine is shared) is tried again, twice at most, before the run ends.
 *
 *   node bench/dist/redis-egress.js [--subscribers 100] [--bytes 58176] [--step-seconds 4] [--classic]
 *
 * --bytes defaults to a 640x480 frame of the benchmark (58 152 bytes, bench/results/results.json)
 * plus the 24-byte envelope. SSUBSCRIBE/SPUBLISH (sharded pub/sub, what a Redis Cluster shard
 * runs) unless --classic (SUBSCRIBE/PUBLISH).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { spawnRedis } from '@camrelay/stack';
import { cpuMs } from './proc.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100' },
    bytes: { type: 'string', default: String(58_152 + 24) },
    'step-seconds': { type: 'string', default: '3' },
    classic: { type: 'boolean', default: false },
  },
});
const subscribers = Number(values.subscribers);
const messageBytes = Number(values.bytes);
const stepMs = Number(values['step-seconds']) * 1000;
const [subscribeCommand, publishCommand, pushName] = values.classic
  ? ['SUBSCRIBE', 'PUBLISH', 'message']
  : ['SSUBSCRIBE', 'SPUBLISH', 'smessage'];
const channel = 'camrelay:{bench}:frames';
/** Target egress per step, MB/s (10^6 bytes). */
const STEPS = [200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2300, 2600, 3000, 3500, 4000, 5000];
const CPU_LIMIT = 0.95;
const KEPT_UP = 0.95;
const STARVED = 0.9;

const resp = (...parts: (string | Buffer)[]) =>
  Buffer.concat([
    Buffer.from(`*${parts.length}\r\n`),
    ...parts.flatMap((part) => [Buffer.from(`$${Buffer.byteLength(part)}\r\n`), Buffer.from(part), Buffer.from('\r\n')]),
  ]);
const payload = randomBytes(messageBytes);
const publishFrame = resp(publishCommand, channel, payload);
/** What Redis writes to each subscriber per message: the push, RESP2. */
const deliveredBytes = resp(pushName, channel, payload).length;

const redis = await spawnRedis();
const cores = availableParallelism();
const redisCore = cores >= 2 ? cores - 1 : null;
if (redisCore !== null) {
  execFileSync('taskset', ['-a', '-p', '-c', String(redisCore), String(redis.process.pid)], { stdio: 'ignore' });
  execFileSync('taskset', ['-a', '-p', '-c', `0-${redisCore - 1}`, String(process.pid)], { stdio: 'ignore' });
}

/** Busy and softirq jiffies of one core, from /proc/stat. */
function coreTicks(core: number): { busy: number; softirq: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1')
    .split('\n')
    .find((l) => l.startsWith(`cpu${core} `));
  const field = (line ?? '').split(/\s+/).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => field[i] ?? 0) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, softirq, total: busy + idle + iowait };
}
const coreUse = (core: number | null, from: ReturnType<typeof coreTicks> | null) => {
  if (core === null || from === null) return null;
  const to = coreTicks(core);
  const total = to.total - from.total;
  return { busy: (to.busy - from.busy) / total, softirq: (to.softirq - from.softirq) / total };
};
const openSocket = (onBytes: (n: number) => void): Promise<Socket> =>
  new Promise((resolve, reject) => {
    // A fixed read buffer: counting bytes allocates nothing per read.
    const socket = connect({
      host: '127.0.0.1',
      port: redis.port,
      onread: { buffer: Buffer.allocUnsafe(256 * 1024), callback: (n) => (onBytes(n), true) },
    });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });

let received = 0;
let replies = 0;
const sockets: Socket[] = [];
try {
  for (let i = 0; i < subscribers; i++) {
    const socket = await openSocket((n) => (received += n));
    socket.write(resp(subscribeCommand, channel));
    sockets.push(socket);
  }
  const publisher = await openSocket((n) => (replies += n));
  sockets.push(publisher);
  await sleep(500); // the subscriptions are confirmed
  received = 0;

  console.log(
    `redis-server ${redis.port}: ${subscribers} subscribers, ${publishCommand} of ${messageBytes} bytes (${deliveredBytes} to each subscriber), ${stepMs / 1000} s a step`,
  );
  if (redisCore !== null) console.log(`redis-server pinned to core ${redisCore}, this process to the other cores`);
  console.log(
    `target MB/s | msgs/s | delivered MB/s | kept up | redis-server CPU % | MB/s per redis-server CPU-second | core ${redisCore ?? '-'} busy % (softirq) | this process CPU %`,
  );
  let published = 0;
  /** The highest step delivery kept up with, and what it cost. */
  let sustained = { delivered: 0, perCpuSecond: 0, perCoreWithSoftirq: 0 };
  let retries = 0;
  for (let step = 0; step < STEPS.length; step++) {
    const target = STEPS[step]!;
    const rate = (target * 1e6) / (subscribers * deliveredBytes);
    // Pace with a 2 ms tick: send what is due by now, so the rate holds when a tick is late.
    const start = performance.now();
    const publishedAtStart = published;
    const tick = setInterval(() => {
      const due = Math.floor(((performance.now() - start) / 1000) * rate) - (published - publishedAtStart);
      for (let i = 0; i < due; i++) publisher.write(publishFrame);
      published += Math.max(0, due);
    }, 2);
    await sleep(1000); // settle
    const core0 = redisCore === null ? null : coreTicks(redisCore);
    const [r0, c0, p0, t0, n0] = [received, cpuMs(redis.process.pid!), process.cpuUsage(), performance.now(), published];
    await sleep(stepMs);
    const [r1, c1, p1, t1, n1] = [received, cpuMs(redis.process.pid!), process.cpuUsage(p0), performance.now(), published];
    const core = coreUse(redisCore, core0);
    clearInterval(tick);
    const seconds = (t1 - t0) / 1000;
    const delivered = (r1 - r0) / seconds / 1e6;
    const expected = ((n1 - n0) * subscribers * deliveredBytes) / seconds / 1e6;
    const cpu = (c1 - c0) / (t1 - t0);
    const ownCpu = (p1.user + p1.system) / 1000 / (t1 - t0);
    const keptUp = delivered >= expected * KEPT_UP;
    const perCpuSecond = delivered / cpu;
    if (keptUp) sustained = { delivered, perCpuSecond, perCoreWithSoftirq: core ? delivered / (cpu + core.softirq) : perCpuSecond };
    console.log(
      `${target} | ${rate.toFixed(1)} | ${delivered.toFixed(0)} | ${keptUp ? 'yes' : `no (${((delivered / expected) * 100).toFixed(0)} %)`} | ${(cpu * 100).toFixed(0)} | ${perCpuSecond.toFixed(0)} | ${core ? `${(core.busy * 100).toFixed(0)} (${(core.softirq * 100).toFixed(0)})` : '-'} | ${(ownCpu * 100).toFixed(0)}`,
    );
    // Let the backlog drain (5 s at most), so the next step's window starts from none.
    for (const until = performance.now() + 5000; received < published * subscribers * deliveredBytes && performance.now() < until;)
      await sleep(20);
    if (cpu >= CPU_LIMIT) break;
    if (!keptUp) {
      if (cpu >= STARVED || retries === 2) break;
      retries++;
      step--;
      console.log(`  (redis-server had ${(cpu * 100).toFixed(0)} % of a core: starved by other processes; again)`);
    }
  }
  console.log(
    `sustained: ${sustained.delivered.toFixed(0)} MB/s (the highest step delivery kept up with); there redis-server sent ${sustained.perCpuSecond.toFixed(0)} MB per CPU-second of its own, ${sustained.perCoreWithSoftirq.toFixed(0)} counting the softirq time of its core`,
  );
} finally {
  for (const socket of sockets) socket.destroy();
  await redis.stop();
}
