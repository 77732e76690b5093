import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { root, workspacePackages } from './packages';

export const run = promisify(execFile);

/** What a stranger installs: the packed tarballs, in a fresh npm project. */
export interface PackedProject {
  /** The npm project (`"type": "module"`), holding `node_modules`. */
  readonly dir: string;
  /** Each published package's README, its install line's packages, and its examples. */
  readonly readmes: readonly Readme[];
}

export interface Readme {
  readonly name: string;
  readonly file: string;
  /** The packages of the README's `npm install` line. */
  readonly install: readonly string[];
  /** The README's examples, in order (see `parseReadme`). */
  readonly examples: readonly Example[];
}

/** One README example: a complete program. */
export interface Example {
  /** The `js` block as written: what a reader saves as `example.mjs`. */
  readonly js: string;
  /** Its TypeScript form: the `ts` block right after it where the README gives one, else `js`. */
  readonly ts: string;
}

/**
 * The README's `npm install …` line and examples. Every `js` block (also one
 * indented in a list) is a complete program; a `ts` block is the TypeScript
 * form of the `js` block right before it, and anything else is an error.
 */
export function parseReadme(name: string, file: string): Readme {
  const text = readFileSync(file, 'utf8');
  const blocks = [...text.matchAll(/^( *)```(\w*)[^\n]*\n([\s\S]*?)^\1```/gm)].map(
    ([, indent, lang, body]) => ({
      lang: lang!,
      body: body!.replace(new RegExp(`^${indent}`, 'gm'), ''),
    }),
  );
  const line = blocks
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => b.body.split('\n'))
    .find((l) => l.startsWith('npm install '));
  const install = (line ?? '')
    .split(/\s+/)
    .slice(2)
    .filter((word) => word !== '' && !word.startsWith('-'));
  const examples: Example[] = [];
  blocks.forEach(({ lang, body }, i) => {
    if (lang === 'js') examples.push({ js: body, ts: body });
    else if (lang === 'ts') {
      const before = examples.at(-1);
      if (blocks[i - 1]?.lang !== 'js' || before === undefined) {
        throw new Error(`${file}: a ts block must directly follow the js block it types`);
      }
      examples[examples.length - 1] = { js: before.js, ts: body };
    }
  });
  return { name, file, install, examples };
}

/** The package a bare import specifier names (`@scope/name/sub` → `@scope/name`). */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Every bare module a program imports (static `import … from`, side-effect and dynamic). */
export function bareImports(code: string): string[] {
  const specifiers = [...code.matchAll(/(?:from\s+|import\s*\(?\s*)['"]([^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  return [...new Set(specifiers.filter((s) => !s.startsWith('.') && !s.startsWith('node:')))];
}

const pnpm = join(root, 'node_modules', '.bin', 'pnpm');

/**
 * Packs every published package with `pnpm pack` (what `pnpm publish` uploads:
 * `workspace:` ranges replaced), then installs, in one fresh npm project, the
 * union of the READMEs' install lines (the @usam packages from the tarballs,
 * the rest from the registry, as a user would) plus @types/node for the
 * strict type check. One project keeps this fast; each README is separately
 * checked to install everything it imports.
 */
export async function installPackedProject(): Promise<PackedProject> {
  const base = mkdtempSync(join(tmpdir(), 'usam-packed-'));
  const tarballs = join(base, 'tarballs');
  const dir = join(base, 'app');
  mkdirSync(tarballs);
  mkdirSync(dir);
  const published = [...workspacePackages('packages'), ...workspacePackages('apps')];
  await Promise.all(
    published.map((pkg) => run(pnpm, ['pack', '--pack-destination', tarballs], { cwd: pkg.dir })),
  );
  const tarballOf = new Map(
    published.map((pkg) => {
      const prefix = `${pkg.manifest.name.slice(1).replace('/', '-')}-`;
      const file = readdirSync(tarballs).find((f) => f.startsWith(prefix) && f.endsWith('.tgz'));
      if (file === undefined)
        throw new Error(`pnpm pack wrote no tarball for ${pkg.manifest.name}`);
      return [pkg.manifest.name, join(tarballs, file)] as const;
    }),
  );
  const readmes = published.map((pkg) =>
    parseReadme(pkg.manifest.name, join(pkg.dir, 'README.md')),
  );
  const wanted = new Set(readmes.flatMap((r) => r.install));
  const specs = [...wanted].map((name) => tarballOf.get(name) ?? name);
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'usam-stranger', private: true, type: 'module' }, null, 2)}\n`,
  );
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...specs,
      '@types/node@^20',
    ],
    { cwd: dir, maxBuffer: 16 * 1024 * 1024 },
  );
  return { dir, readmes };
}
