#!/usr/bin/env node
/**
 * Runs every compiled test file with node's built-in runner, one file at a time: the
 * integration tests start redis-server, capture and gateways, and on two cores they should
 * not compete with each other.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.js'))
    .map((entry) => relative(root, join(entry.parentPath ?? entry.path, entry.name)));
}

const distDirs = ['packages', 'services']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name, 'dist')))
  .concat(join(root, 'test', 'dist'));
const files = distDirs.flatMap((dir) => {
  try {
    return testFiles(dir);
  } catch {
    return [];
  }
}).sort();

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
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', `--test-timeout=${timeoutMs}`, ...files], { stdio: 'inherit', cwd: root });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
