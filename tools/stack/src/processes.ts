/**
 * Starts camrelay's parts as local processes on free ports: redis-server, capture, gateways.
 * Used by `npm run stack` and by the cross-service tests, which start the real thing.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ProcessOptions {
  /** Also append every output line to this file. */
  logFile?: string;
  /** How many recent lines `output` keeps. @default 2000 */
  keepLines?: number;
  /** The Node.js binary of a Node service (another Node line than the one running). @default process.execPath */
  node?: string;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface Running {
  readonly process: ChildProcess;
  /** The most recent lines the process wrote to stdout and stderr. */
  readonly output: string[];
  /** Resolves with the first output line that matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Every child still running; one 'exit' listener for all of them (a cluster alone is six). */
const killOnExit = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of killOnExit) child.kill('SIGKILL');
});

export function spawnProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}, options: ProcessOptions = {}): Running {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keepLines = options.keepLines ?? 2000;
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : null;
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const partial = { stdout: '', stderr: '' };
  const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const lines = (partial[stream] + chunk.toString('utf8')).split('\n');
    partial[stream] = lines.pop() ?? ''; // a line split across chunks waits for its end
    for (const line of lines) {
      if (!line) continue;
      output.push(line);
      if (output.length > keepLines) output.shift();
      log?.write(`${line}\n`);
      for (const waiter of waiters) {
        if (waiter.pattern.test(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout.on('data', onData('stdout'));
  child.stderr.on('data', onData('stderr'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Whatever happens to the test, nothing it started outlives it.
  killOnExit.add(child);
  void exited.then(() => killOnExit.delete(child));

  return {
    process: child,
    output,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      const seen = output.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { pattern, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `${command} ${args.join(' ')}: no line matching ${pattern} within ${timeoutMs} ms; output:\n${output.slice(-20).join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`${command} exited (${code}) before printing ${pattern}; output:\n${output.slice(-20).join('\n')}`));
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A process that does not stop within 10 s is a failure to report, not a hung test run.
      const timer = setTimeout(() => {
        output.push(`[harness] ${command} did not exit within 10 s of ${signal}; killed`);
        child.kill('SIGKILL');
      }, 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface RedisServer extends Running {
  readonly url: string;
  readonly port: number;
}

export interface RedisServerOptions extends ProcessOptions {
  /** A given port, e.g. to start Redis again where its clients expect it. @default a free one */
  port?: number;
  /** requirepass: clients must AUTH with it; `url` carries it (percent-encoded). */
  password?: string;
  /** PEM files: serve TLS only (`url` is rediss://); clients need not present a certificate. */
  tls?: { cert: string; key: string; ca: string };
}

/**
 * How far a pub/sub client (a gateway's subscriber connection) may fall behind before Redis cuts
 * it: hard 256 MB, or 128 MB for 60 s. Redis's default (32 MB hard) is eight 4 MB frames: one
 * camera at MAX_FRAME_BYTES would get every camera of a gateway cut. docs/operations.md says how to size
 * it: cameras per gateway × MAX_FRAME_BYTES × 8. docker-compose.yml sets the same (a test checks).
 */
export const REDIS_PUBSUB_BUFFER_LIMIT = 'pubsub 256mb 128mb 60';

/** redis-server's arguments for a test or stack server on loopback: no persistence, the pub/sub buffer users get. */
export function loopbackRedisArgs(port: number): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--client-output-buffer-limit',
    REDIS_PUBSUB_BUFFER_LIMIT,
  ];
}

/**
 * A real redis-server on a free loopback port, without persistence. With `tls`, `port` is
 * the TLS port and there is no plain one.
 */
export async function spawnRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const { password, tls } = options;
  const args = loopbackRedisArgs(tls ? 0 : port);
  if (tls)
    args.push(
      '--tls-port',
      String(port),
      '--tls-cert-file',
      tls.cert,
      '--tls-key-file',
      tls.key,
      '--tls-ca-cert-file',
      tls.ca,
      '--tls-auth-clients',
      'no',
    );
  if (password !== undefined) args.push('--requirepass', password);
  const server = spawnProcess('redis-server', args, {}, options);
  await readyOrKilled(server, untilRedisAnswers(server, port, tls !== undefined));
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  return { ...server, url: `${tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`, port };
}

/**
 * Awaits a started process's readiness. One that never gets ready is killed before the error
 * goes on: the caller never got it to stop, and its pipes would keep the test run alive, a
 * failed start hanging instead of failing.
 */
async function readyOrKilled(running: Running, ready: Promise<void>): Promise<void> {
  try {
    await ready;
  } catch (error) {
    await running.stop('SIGKILL');
    throw error;
  }
}

/** What `npm run capture` and `npm run gateway` add to the environment. */
const NODE_SERVICE_ENV = { LOG_LEVEL: 'info', UV_THREADPOOL_SIZE: '16' };

/**
 * Node flags of every gateway process: `npm run gateway`, `npm start`, the gateway image's CMD
 * (test/deploy.test.ts checks they agree). A young generation of 1 MB semi-spaces instead of
 * V8's up to 16 MB: a frame's garbage (a write request or two per viewer) dies young, and the
 * larger nursery held ~25 MB more RSS at 2000 viewers for no CPU saved (docs/benchmarks.md).
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=1'] as const;

export interface Service extends Running {
  readonly port: number;
  readonly baseUrl: string;
  /** Resolves once /readyz answers 200: on its bus, and taking viewers. */
  ready(timeoutMs?: number): Promise<void>;
}

/** Whether the environment names a Redis bus: without one, a gateway is the all-in-one. */
const namesRedis = (env: NodeJS.ProcessEnv) => Boolean(env.REDIS_URL || env.REDIS_CLUSTER_NODES);

/**
 * A gateway process, answering HTTP: the gateway service (its image's command) when env names
 * Redis, else the all-in-one, capture in the same process (what `npm start` runs).
 */
export async function spawnGateway(env: NodeJS.ProcessEnv, options: ProcessOptions = {}): Promise<Service> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const script = namesRedis({ ...process.env, ...env }) ? 'services/gateway/dist/main.js' : 'services/all-in-one/dist/main.js';
  const running = spawnProcess(
    options.node ?? process.execPath,
    [...GATEWAY_NODE_FLAGS, script],
    { ...NODE_SERVICE_ENV, PORT: String(port), ...env },
    options,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await readyOrKilled(running, untilAnswers(running, `${baseUrl}/healthz`, isOk, 60_000));
  return {
    ...running,
    port,
    baseUrl,
    ready: (timeoutMs = 30_000) => untilAnswers(running, `${baseUrl}/readyz`, isOk, timeoutMs),
  };
}

export interface CaptureService extends Running {
  /** Its health server: /healthz (the cameras it holds, each with its latest frame's time) and /metrics. */
  readonly healthUrl: string;
}

/**
 * The capture process (`npm run capture`). Returned once its health server answers and, for
 * each of `cameraIds`, /healthz shows a frame captured.
 */
export async function spawnCapture(
  env: NodeJS.ProcessEnv,
  cameraIds: readonly string[] = [],
  options: ProcessOptions = {},
): Promise<CaptureService> {
  const healthPort = env.HEALTH_PORT ?? String(await freePort());
  const running = spawnProcess(
    process.execPath,
    ['services/capture/dist/main.js'],
    { ...NODE_SERVICE_ENV, HEALTH_PORT: healthPort, ...env },
    options,
  );
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  await readyOrKilled(
    running,
    untilAnswers(running, `${healthUrl}/healthz`, (answer) => isOk(answer) && cameraIds.every((id) => hasFrameOf(answer, id)), 60_000),
  );
  return { ...running, healthUrl };
}

/** An HTTP answer, read whole. */
export interface Answer {
  readonly status: number;
  readonly body: string;
}

/**
 * Resolves once `url` gives an answer `accepted` takes, asked every 50 ms: a process's state read
 * from its interface, never from its log. Rejects if the process exits first, or after timeoutMs.
 * Each ask is a connection of its own, closed with its answer: a kept-alive one would count among
 * the connections the tests see the process hold.
 */
export async function untilAnswers(running: Running, url: string, accepted: (answer: Answer) => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void running.exited.then(() => (exited = true));
  for (;;) {
    if (exited)
      throw new Error(`${url}: the process exited (${running.process.exitCode}); output:\n${running.output.slice(-20).join('\n')}`);
    let last: string;
    try {
      const answer = await ask(url);
      if (accepted(answer)) return;
      last = `HTTP ${answer.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (performance.now() > deadline)
      throw new Error(`${url}: not as awaited within ${timeoutMs} ms (last: ${last}); output:\n${running.output.slice(-20).join('\n')}`);
    await sleep(50);
  }
}

/** One GET on a connection of its own (no keep-alive). */
function ask(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { agent: false, timeout: 2000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 2 s')));
    request.on('error', reject);
  });
}

/** A 2xx answer. */
export const isOk = (answer: Answer) => answer.status >= 200 && answer.status < 300;

/** Whether a capture's /healthz answer shows a frame of the camera. */
export function hasFrameOf(health: Answer, cameraId: string): boolean {
  const { cameras } = JSON.parse(health.body) as { cameras: Array<{ id: string; lastFrameAt: number | null }> };
  return cameras.some((camera) => camera.id === cameraId && camera.lastFrameAt !== null);
}

/**
 * Resolves once redis-server answers PING (a +PONG, or a refusal from one that wants a user): it
 * accepts commands. Plain TCP, or TLS for a server that speaks nothing else.
 */
export async function untilRedisAnswers(running: Running, port: number, tls = false, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (running.process.exitCode !== null || running.process.signalCode !== null)
      throw new Error(`redis-server on port ${port} exited; output:\n${running.output.slice(-20).join('\n')}`);
    if (await answersPing(port, tls)) return;
    if (performance.now() > deadline) throw new Error(`redis-server on port ${port}: no answer to PING within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function answersPing(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : connect({ port, host: '127.0.0.1' });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    socket.once('data', (reply: Buffer) => done(/^(\+PONG|-NOAUTH|-NOPERM)/.test(reply.toString('latin1'))));
    socket.once('error', () => done(false));
  });
}
