#!/usr/bin/env node
/**
 * A step of `npm run lint`: no TypeScript module imports itself through others. Follows every
 * relative import and export (`./x.js` is `./x.ts`), type-only ones included, across the
 * repository, and names each cycle found. Plain Node: module order is a design rule, not
 * something a dependency needs to check.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const SKIPPED = new Set(['node_modules', 'dist', '.git']);
const RELATIVE = /(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

const imports = new Map();
for (const file of sources(root)) {
  const targets = [];
  for (const match of readFileSync(file, 'utf8').matchAll(RELATIVE)) {
    const target = resolve(dirname(file), (match[1] ?? match[2]).replace(/\.js$/, '.ts'));
    if (existsSync(target)) targets.push(target);
  }
  imports.set(file, targets);
}

// Tarjan's strongly connected components: every component of more than one module is a cycle.
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const cycles = [];
let next = 0;
function visit(file) {
  index.set(file, next);
  low.set(file, next++);
  stack.push(file);
  onStack.add(file);
  for (const target of imports.get(file) ?? []) {
    if (!index.has(target)) {
      visit(target);
      low.set(file, Math.min(low.get(file), low.get(target)));
    } else if (onStack.has(target)) low.set(file, Math.min(low.get(file), index.get(target)));
  }
  if (low.get(file) !== index.get(file)) return;
  const component = [];
  let member;
  do {
    member = stack.pop();
    onStack.delete(member);
    component.push(member);
  } while (member !== file);
  if (component.length > 1 || (imports.get(file) ?? []).includes(file)) cycles.push(component);
}
for (const file of imports.keys()) if (!index.has(file)) visit(file);

for (const cycle of cycles) console.error(`import cycle: ${cycle.map((file) => relative(root, file)).join(' ↔ ')}`);
process.exit(cycles.length === 0 ? 0 : 1);
