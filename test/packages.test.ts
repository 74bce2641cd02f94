/**
 * The workspaces' manifests point at files that exist once built, and every script in the
 * root manifest names an entry point that exists: a newcomer following them never meets a
 * missing file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '@camrelay/stack';

interface Manifest {
  readonly name?: string;
  readonly workspaces?: readonly string[];
  readonly main?: string;
  readonly types?: string;
  readonly bin?: Readonly<Record<string, string>>;
  readonly exports?: Readonly<Record<string, unknown>>;
  readonly scripts?: Readonly<Record<string, string>>;
}

const readManifest = (dir: string) => JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as Manifest;

/** Every file path in an exports map, through its conditions; wildcard patterns are skipped. */
function exportedPaths(value: unknown): string[] {
  if (typeof value === 'string') return value.includes('*') ? [] : [value];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(exportedPaths);
  return [];
}

describe('package manifests', () => {
  const root = readManifest('.');

  for (const workspace of root.workspaces ?? []) {
    it(`${workspace}: main, types, bin and exports name files that exist`, () => {
      const manifest = readManifest(workspace);
      const paths = [manifest.main, manifest.types, ...Object.values(manifest.bin ?? {}), ...exportedPaths(manifest.exports)].filter(
        (path): path is string => path !== undefined,
      );
      for (const path of paths) assert.ok(existsSync(join(repoRoot, workspace, path)), `${manifest.name}: ${path} does not exist`);
    });
  }

  it('every node entry point the root scripts run exists', () => {
    const entries = Object.values(root.scripts ?? {}).flatMap((script) =>
      [...script.matchAll(/\bnode ((?:services|tools|bench|scripts)\/[\w./-]+\.m?js)/g)].map((match) => match[1]!),
    );
    assert.ok(entries.length >= 8, `found ${entries.length} entry points`);
    for (const entry of entries) assert.ok(existsSync(join(repoRoot, entry)), `${entry} does not exist`);
  });
});
