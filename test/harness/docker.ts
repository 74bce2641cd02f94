/**
 * A Docker engine for the compose test: the one that answers, or, as root, a `dockerd` started
 * here and stopped again at the end (CI machines keep nothing running between runs).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { repoRoot } from '@camrelay/stack';

const execFileAsync = promisify(execFile);

export interface DockerEngine {
  /** Stops the engine if this process started it; leaves one it found running alone. */
  stop(): Promise<void>;
}

function engineAnswers(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

export async function ensureDockerEngine(): Promise<DockerEngine> {
  if (engineAnswers()) return { stop: async () => {} };
  if (process.getuid?.() !== 0) {
    throw new Error(
      'no Docker engine answers: install and start one (sudo apt-get install -y docker.io && sudo systemctl start docker), or run the tests as root',
    );
  }
  const log = join(tmpdir(), 'camrelay-dockerd.log');
  const out = openSync(log, 'a');
  // Without the userland proxy a published port is forwarded by the kernel (iptables) instead
  // of a docker-proxy process copying every byte: at 150 viewers of 57 KB frames at 30 fps that
  // process took ~15 % of a core, and viewers on the two cores here fell to 25-28 fps.
  const dockerd: ChildProcess = spawn('dockerd', ['--userland-proxy=false'], { stdio: ['ignore', out, out], detached: true });
  const failed = new Promise<never>((_, reject) => {
    dockerd.once('error', (error) => reject(new Error(`dockerd could not start: ${error.message}`)));
    dockerd.once('exit', (code) => reject(new Error(`dockerd exited (${code}) before it answered; see ${log}`)));
  });
  // Raced only while waiting for the engine: an engine that answers at once never races it, and
  // its exit at stop() would reject it with nobody listening (an unhandled rejection that fails
  // the test run after every test passed, 1 run in 3 under load).
  failed.catch(() => undefined);
  const deadline = Date.now() + 60_000;
  while (!engineAnswers()) {
    if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s; see ${log}`);
    await Promise.race([sleep(250), failed]); // no event tells when its socket is ready
  }
  return {
    async stop() {
      if (dockerd.exitCode !== null) return;
      const exited = new Promise((resolve) => dockerd.once('exit', resolve));
      dockerd.kill('SIGTERM');
      await exited;
    },
  };
}

/** `npm run docker:images`: the stand-in base images, as the variables compose reads. */
export function localBaseImages(): Record<string, string> {
  const run = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'docker-images.mjs')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) throw new Error(`scripts/docker-images.mjs failed (exit ${run.status})`);
  return Object.fromEntries(
    run.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
}

/** Runs the docker CLI and returns its stdout. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('docker', args, { maxBuffer: 16 << 20 });
  return stdout;
}

/** Docker's compose v2 where it exists, else Debian's docker-compose v1. */
export function composeCommand(): { command: string; prefix: string[]; standalone: boolean } {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return { command: 'docker', prefix: ['compose'], standalone: false };
  return { command: 'docker-compose', prefix: [], standalone: true };
}

/** When a container's process last started, in ms since the epoch. */
export async function startedAt(container: string): Promise<number> {
  return Date.parse((await docker('inspect', '--format', '{{.State.StartedAt}}', container)).trim());
}

/** Containers of a compose project and service, by their compose container number. */
export async function serviceContainers(project: string, service: string): Promise<Array<{ id: string; name: string; number: number }>> {
  const lines = await docker(
    'ps',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
    '--format',
    '{{.ID}} {{.Names}} {{.Label "com.docker.compose.container-number"}}',
  );
  return lines
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, name, number] = line.split(' ');
      return { id: id!, name: name!, number: Number(number) };
    })
    .sort((a, b) => a.number - b.number);
}

/** A container's log, both streams, each line prefixed with its time (`docker logs -t`). */
export async function containerLog(container: string): Promise<string> {
  const { stdout, stderr } = await execFileAsync('docker', ['logs', '-t', container], { maxBuffer: 64 << 20 });
  return stdout + stderr;
}

/** What a command inside a container prints (for a gateway's /metrics: its port is not published). */
export async function execIn(container: string, ...command: string[]): Promise<string> {
  return docker('exec', container, ...command);
}

/**
 * Removes every container and network of the compose projects whose names start with
 * `prefix`. Before a run: a run that was killed, or whose start-up failed before testcontainers
 * handed back an environment to take down, leaves containers that restart with the engine
 * (`restart: unless-stopped`) and take the CPU that the next run measures.
 */
export async function removeComposeProjects(prefix: string): Promise<string[]> {
  const labels = await docker(
    'ps',
    '-a',
    '--filter',
    'label=com.docker.compose.project',
    '--format',
    '{{.ID}} {{.Label "com.docker.compose.project"}}',
  );
  const stale = labels
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([id, project]) => id && project?.startsWith(prefix));
  if (stale.length > 0) await docker('rm', '--force', '--volumes', ...stale.map(([id]) => id!));
  const networks = (await docker('network', 'ls', '--format', '{{.Name}}')).split('\n').filter((name) => name.startsWith(prefix));
  if (networks.length > 0) await docker('network', 'rm', ...networks);
  return [...new Set(stale.map(([, project]) => project!))];
}
