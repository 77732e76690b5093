import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './packages';

/** Every TypeScript (and JavaScript) source of the workspace packages, apps and tooling (tests included). */
function sources(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) {
        continue;
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|tsx|mts|js)$/.test(entry.name) && !entry.name.endsWith('.tmp.ts')) {
        found.push(path);
      }
    }
  };
  for (const folder of ['packages', 'apps', 'tooling']) walk(join(root, folder));
  return found;
}

/** The file a relative import names (TypeScript resolves it as a bundler does), or undefined. */
function resolveImport(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier.replace(/\.js$/, ''));
  return [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts'), base, `${base}.js`].find(
    (candidate) => existsSync(candidate) && statSync(candidate).isFile(),
  );
}

/** The import cycles among `files` (type-only imports included), each as its files in one strongly connected component. */
function importCycles(files: readonly { path: string; text: string }[]): string[][] {
  const pattern = /(?:\b(?:import|export)\s[^;'"]*?from\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g;
  const graph = new Map<string, string[]>();
  for (const { path, text } of files) {
    const absolute = join(root, path);
    const targets = [...text.matchAll(pattern)].flatMap((m) => {
      const target = resolveImport(absolute, m[1]!);
      return target === undefined ? [] : [relative(root, target)];
    });
    graph.set(path, targets);
  }
  // Tarjan's strongly connected components: a component of two or more files is a cycle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
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

  it('has no import cycle in any package (type-only imports included)', () => {
    // The checker itself: a two-file cycle and a chain that is not one.
    const at = (name: string) => `packages/optimizer/src/${name}.ts`;
    expect(
      importCycles([
        { path: at('index'), text: "import type { A } from './types';" },
        { path: at('types'), text: "export { b } from './variables';" },
        { path: at('variables'), text: "import { c } from './types';\nimport('./index');" },
      ]),
    ).toEqual([[at('index'), at('types'), at('variables')]]);
    expect(
      importCycles([
        { path: at('index'), text: "import type { A } from './types';" },
        { path: at('types'), text: "export * from './variables';" },
        { path: at('variables'), text: "import * as tf from '@tensorflow/tfjs-core';" },
      ]),
    ).toEqual([]);
    expect(importCycles(files)).toEqual([]);
  });
});
