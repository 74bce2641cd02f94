import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@camrelay/stack';

/**
 * The C load generator (bench/loadgen.c), built here: about half the Node one's CPU
 * (loadgen.ts), so that less of the servers' cores goes to playing the viewers. On two cores
 * it still takes most of one at 1000 viewers and more (docs/benchmarks.md).
 */
export function buildCLoadgen(): string {
  const binary = join(repoRoot, 'bench', 'dist', 'loadgen-c');
  execFileSync('cc', ['-O2', '-Wall', '-o', binary, join(repoRoot, 'bench', 'loadgen.c')], { stdio: 'inherit' });
  return binary;
}
