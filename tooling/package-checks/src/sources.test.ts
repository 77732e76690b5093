import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './packages';

/** Every TypeScript source of the workspace packages, apps and tooling (tests included). */
function sources(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) {
        continue;
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith('.tmp.ts')) {
        found.push(path);
      }
    }
  };
  for (const folder of ['packages', 'apps', 'tooling']) walk(join(root, folder));
  return found;
}

describe('source conventions', () => {
  const files = sources().map((path) => ({
    path: relative(root, path),
    text: readFileSync(path, 'utf8'),
  }));

  it('finds the sources', () => {
    // A wrong root would make every check below pass vacuously.
    expect(files.some((f) => f.path === 'packages/optimizer/src/index.ts')).toBe(true);
  });

  it('writes relative imports without a .js suffix (tsconfig resolves as a bundler, tsup bundles)', () => {
    const pattern = /(?:from\s+|import\(\s*)'(\.{1,2}\/[^']*)\.js'/g;
    const offenders = files.flatMap(({ path, text }) =>
      [...text.matchAll(pattern)].map((m) => `${path}: '${m[1]}.js'`),
    );
    expect(offenders).toEqual([]);
  });
});
