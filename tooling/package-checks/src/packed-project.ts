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
  /** Each published package's README, its install line's packages, and its `ts` code. */
  readonly readmes: readonly Readme[];
}

export interface Readme {
  readonly name: string;
  readonly file: string;
  /** The packages of the README's `npm install` line. */
  readonly install: readonly string[];
  /** The README's `ts` code: its blocks in order, one program (see `parseReadme`). */
  readonly programs: readonly string[];
}

/**
 * The README's `npm install …` line and `ts` programs. A README's `ts` blocks
 * continue one program, in order, except that a block right after
 * `<!-- separate example -->` starts another.
 */
export function parseReadme(name: string, file: string): Readme {
  const text = readFileSync(file, 'utf8');
  const blocks = [...text.matchAll(/(<!-- separate example -->\n+)?```(\w+)\n([\s\S]*?)```/g)];
  const line = blocks
    .filter(([, , lang]) => lang === 'sh')
    .flatMap(([, , , body]) => body!.split('\n'))
    .find((l) => l.startsWith('npm install '));
  const install = (line ?? '')
    .split(/\s+/)
    .slice(2)
    .filter((word) => word !== '' && !word.startsWith('-'));
  const programs: string[] = [];
  for (const [, separate, lang, body] of blocks) {
    if (lang !== 'ts') continue;
    if (separate !== undefined || programs.length === 0) programs.push(body!);
    else programs[programs.length - 1] += `\n${body}`;
  }
  return { name, file, install, programs };
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
