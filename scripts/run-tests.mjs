#!/usr/bin/env node
/**
 * Runs every compiled test file with node's built-in runner, one file at a time: the
 * integration tests start redis-server, capture and gateways, and on two cores they should
 * not compete with each other.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Each workspace's test sources (`*.test.ts` under `sourceDir`) and where tsc puts them. */
const workspaces = ['packages', 'services', 'tools']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => ({ dir: join(root, group, name), sourceDir: 'src' })))
  .filter(({ dir, sourceDir }) => existsSync(join(dir, sourceDir)))
  .concat({ dir: join(root, 'test'), sourceDir: '.' });

// Compiled tests are found from their sources, not from dist/: a test whose source was deleted
// must not run from a stale dist/, and a test that was never compiled must not be skipped.
const files = workspaces
  .flatMap(({ dir, sourceDir }) =>
    readdirSync(join(dir, sourceDir), { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.test.ts') && !file.split(/[\\/]/).some((part) => part === 'dist' || part === 'node_modules'))
      .map((file) => ({ source: join(dir, sourceDir, file), compiled: join(dir, 'dist', file.replace(/\.ts$/, '.js')) })),
  )
  .map(({ source, compiled }) => {
    if (!existsSync(compiled)) {
      console.error(`${relative(root, source)} is not compiled (no ${relative(root, compiled)}): run npm run build`);
      process.exit(1);
    }
    return relative(root, compiled);
  })
  .sort();

const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((file) => filter.some((part) => file.includes(part))) : files;
if (selected.length === 0) {
  console.error('no test files found: did the build run?');
  process.exit(1);
}
// The runner's timeout covers a whole file. The compose test builds images first: on a fresh
// machine the capture image (OpenCV and its binding) takes about ten minutes.
const longRunning = (file) => file.endsWith('compose.test.js');
const runs = [
  { files: selected.filter((file) => !longRunning(file)), timeoutMs: 180_000 },
  { files: selected.filter(longRunning), timeoutMs: 45 * 60_000 },
].filter((run) => run.files.length > 0);
let failed = false;
for (const { files, timeoutMs } of runs) {
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', `--test-timeout=${timeoutMs}`, ...files], {
    stdio: 'inherit',
    cwd: root,
  });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
