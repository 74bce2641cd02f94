#!/usr/bin/env node
/**
 * Everything `npm start` and `npm test` need before they run, done only when it is missing:
 * Debian packages (installed when run as root, otherwise named in one line), npm packages
 * (`npm ci` when the lockfile changed; the linters' own install for tests and lint), and the
 * TypeScript build (incremental).
 *
 * Plain Node with no dependencies: it runs before node_modules exists.
 */
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--for-tests');
const forStack = process.argv.includes('--for-stack');
const forBench = process.argv.includes('--for-bench');
const forLint = forTests || process.argv.includes('--for-lint');

// The OpenCV binding is built against Debian's libopencv-dev; its auto-build downloads sources.
const buildPackages = ['libopencv-dev', 'build-essential', 'pkg-config'];
// Capture's H.264 tier runs FFmpeg's libx264 (most of FFmpeg's libraries come with libopencv-dev already).
const runtimePackages = ['ffmpeg'];
const stackPackages = ['redis-server', 'haproxy'];
// The compose test builds the images and runs docker-compose.yml on a local Docker engine;
// debootstrap makes the stand-ins for base images that Docker Hub would otherwise provide.
// Prometheus (with promtool) and the Redis exporter check the shipped scrape, alert and dashboard files.
const testPackages = [...stackPackages, 'chromium', 'docker-compose', 'debootstrap', 'prometheus', 'prometheus-redis-exporter'];
// The benchmark's classic design: Flask and OpenCV from Debian (no PyPI here).
const benchPackages = [...testPackages, 'python3-flask', 'python3-opencv', 'python3-gevent'];
const npmEnv = { ...process.env, OPENCV4NODEJS_DISABLE_AUTOBUILD: '1' };

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.status !== 0) {
    console.error(`setup: \`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

function missingDebianPackages(names) {
  const probe = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...names], { encoding: 'utf8' });
  if (probe.error) return null; // not a Debian system: nothing we can check
  const installed = new Set(
    probe.stdout
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]),
  );
  return names.filter((name) => !installed.has(name));
}

function commandWorks(command, args) {
  return spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Debian's docker.io, unless an engine (Docker's own packages, say) is already here. */
function dockerEnginePackages() {
  return forTests && !commandWorks('dockerd', ['--version']) && !commandWorks('docker', ['info']) ? ['docker.io'] : [];
}

function ensureDebianPackages() {
  const wanted = [
    ...buildPackages,
    ...runtimePackages,
    ...(forBench ? benchPackages : forTests ? testPackages : forStack ? stackPackages : []),
    ...dockerEnginePackages(),
  ];
  const missing = missingDebianPackages(wanted);
  if (missing === null) {
    console.warn(`setup: no dpkg-query here; make sure these (or your system's equivalents) are installed: ${wanted.join(' ')}`);
    return;
  }
  if (missing.length === 0) return;
  const command = `apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    console.error(`camrelay needs Debian packages that are missing; run: sudo apt-get update && sudo ${command}`);
    process.exit(1);
  }
  console.log(`setup: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', ...missing], { env });
}

async function ensureNodeModules() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.camrelay-installed');
  const want = createHash('sha256').update(readFileSync(lock)).update(process.version).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  // Installed by hand with `npm install` after the last lockfile change, binding built: current.
  const hidden = join(root, 'node_modules', '.package-lock.json');
  const binding = join(root, 'node_modules', '@u4', 'opencv4nodejs', 'build', 'Release', 'opencv4nodejs.node');
  if (existsSync(hidden) && existsSync(binding) && statSync(hidden).mtimeMs >= statSync(lock).mtimeMs) {
    writeFileSync(stamp, want);
    return;
  }
  console.log('setup: npm ci (the first time, this builds the OpenCV binding: 5 to 15 minutes on 2 cores)');
  const npm = spawn('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit', cwd: root, env: npmEnv });
  const progress = showBindingProgress();
  const status = await new Promise((resolve) => npm.on('close', (code, signal) => resolve(code ?? signal)));
  progress.stop();
  if (status !== 0) {
    console.error(`setup: \`npm ci\` failed (exit ${status})`);
    process.exit(1);
  }
  writeFileSync(stamp, want);
}

/**
 * npm shows nothing while the binding compiles (about ten minutes on two cores), and a build
 * that looks stuck gets killed: count its object files against its sources. On a terminal
 * one line is rewritten every second; in a log (CI), a line every 30 s.
 */
function showBindingProgress() {
  const pkg = join(root, 'node_modules', '@u4', 'opencv4nodejs');
  const count = (dir, ending) => {
    try {
      return readdirSync(dir, { recursive: true }).filter((file) => String(file).endsWith(ending)).length;
    } catch {
      return 0; // not unpacked or not started yet
    }
  };
  const started = Date.now();
  const elapsed = () => {
    const seconds = Math.round((Date.now() - started) / 1000);
    return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  };
  const line = () => {
    const compiled = count(join(pkg, 'build'), '.o');
    return compiled === 0
      ? `setup: npm ci, ${elapsed()}`
      : `setup: OpenCV binding, ${compiled} of ${count(join(pkg, 'cc'), '.cc')} files compiled, ${elapsed()}`;
  };
  const terminal = process.stdout.isTTY;
  const timer = setInterval(() => (terminal ? process.stdout.write(`\r${line()}\x1b[K`) : console.log(line())), terminal ? 1000 : 30_000);
  return {
    stop() {
      clearInterval(timer);
      if (terminal) process.stdout.write('\r\x1b[K');
      console.log(`setup: npm ci done in ${elapsed()}`);
    },
  };
}

/**
 * The linters' own install (tools/lint): apart from the workspaces, because typescript-eslint
 * needs TypeScript 6's JavaScript API where the build uses TypeScript 7. Seconds, no scripts.
 */
function ensureLintTools() {
  if (!forLint) return;
  const dir = join(root, 'tools', 'lint');
  const stamp = join(dir, 'node_modules', '.camrelay-installed');
  const want = createHash('sha256')
    .update(readFileSync(join(dir, 'package-lock.json')))
    .update(process.version)
    .digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  console.log('setup: npm ci in tools/lint (eslint, typescript-eslint, prettier)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
  writeFileSync(stamp, want);
}

/**
 * Node.js 22 and 24 (tools/node-versions): the gateway's stream hand-over uses Node internals,
 * so its tests run on every Node line the project supports. About 380 MB, seconds, no scripts.
 */
function ensureNodeVersions() {
  if (!forTests) return;
  const dir = join(root, 'tools', 'node-versions');
  const stamp = join(dir, 'node_modules', '.camrelay-installed');
  const want = createHash('sha256')
    .update(readFileSync(join(dir, 'package-lock.json')))
    .digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  console.log('setup: npm ci in tools/node-versions (Node.js 22 and 24 for the hand-over tests)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
  writeFileSync(stamp, want);
}

function build() {
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
}

/**
 * The compose test needs a running engine. As root it starts `dockerd` itself (and stops it
 * again); anyone else needs one started for them.
 */
function checkDockerEngine() {
  if (!forTests || process.getuid?.() === 0 || commandWorks('docker', ['info'])) return;
  console.error(
    'camrelay tests need a running Docker engine that you may use; run: sudo systemctl start docker && sudo usermod -aG docker $USER (then log in again)',
  );
  process.exit(1);
}

ensureDebianPackages();
checkDockerEngine();
await ensureNodeModules();
ensureLintTools();
ensureNodeVersions();
build();
