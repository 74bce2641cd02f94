/**
 * Starts the real parts for cross-service tests as local processes on free ports:
 * redis-server, capture and gateways, each stopped again by the test that started it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

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
  /** Every line the process wrote to stdout and stderr. */
  readonly output: string[];
  /** Resolves with the first output line that matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const partial = { stdout: '', stderr: '' };
  const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const lines = (partial[stream] + chunk.toString('utf8')).split('\n');
    partial[stream] = lines.pop() ?? ''; // a line split across chunks waits for its end
    for (const line of lines) {
      if (!line) continue;
      output.push(line);
      for (const waiter of waiters) {
        if (waiter.pattern.test(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData('stdout'));
  child.stderr!.on('data', onData('stderr'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Whatever happens to the test, nothing it started outlives it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

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
          reject(new Error(`${command} ${args.join(' ')}: no line matching ${pattern} within ${timeoutMs} ms; output:\n${output.slice(-20).join('\n')}`));
        }, timeoutMs);
        waiters.add(waiter);
        exited.then((code) => {
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

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A real redis-server on a free loopback port, without persistence. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const server = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await server.waitFor(/Ready to accept connections/);
  return { url: `redis://127.0.0.1:${port}`, port, stop: async () => void (await server.stop()) };
}

export interface Service extends Running {
  readonly port: number;
  readonly baseUrl: string;
}

/** The gateway process (`npm run gateway`); embedded mode unless REDIS_URL is in env. */
export async function startGateway(env: NodeJS.ProcessEnv): Promise<Service> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const running = startProcess(process.execPath, ['services/embedded/dist/main.js'], { LOG_LEVEL: 'info', PORT: String(port), ...env });
  await running.waitFor(/camrelay listening/, 60_000);
  return { ...running, port, baseUrl: `http://127.0.0.1:${port}` };
}

/** The capture process (`npm run capture`), returned once each camera has announced its first frame. */
export async function startCapture(env: NodeJS.ProcessEnv, cameraIds: readonly string[]): Promise<Running> {
  const running = startProcess(process.execPath, ['services/capture/dist/main.js'], { LOG_LEVEL: 'info', ...env });
  await Promise.all(cameraIds.map((id) => running.waitFor(new RegExp(`"camera":"${id}".*"msg":"camera streaming"`), 60_000)));
  return running;
}
