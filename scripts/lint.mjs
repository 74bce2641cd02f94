#!/usr/bin/env node
/**
 * `npm run lint`, and the first step of `npm test`: typescript-eslint's type-aware rules over
 * every TypeScript file, Prettier's check of every file it formats, then a check that no module
 * imports itself through others (scripts/import-cycles.mjs). The first two run from
 * tools/lint, whose own install holds TypeScript 6: typescript-eslint needs TypeScript's
 * JavaScript API, which TypeScript 7 (the compiler of the build) no longer ships.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const bin = (name) => join(root, 'tools', 'lint', 'node_modules', '.bin', name);

const steps = [
  ['eslint', [bin('eslint'), '--config', join(root, 'tools', 'lint', 'eslint.config.js'), '--max-warnings', '0', '.']],
  ['prettier', [bin('prettier'), '--check', '--log-level', 'warn', '.']],
  ['import cycles', [process.execPath, join(root, 'scripts', 'import-cycles.mjs')]],
];
let failed = false;
for (const [name, [command, ...args]] of steps) {
  const started = performance.now();
  const { status } = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (status === 0) console.log(`lint: ${name} clean (${seconds} s)`);
  else {
    failed = true;
    console.error(`lint: ${name} found problems (${seconds} s)${name === 'prettier' ? '; `npm run format` rewrites the files' : ''}`);
  }
}
process.exit(failed ? 1 : 0);
