import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, workspacePackages } from './packages';

/** The bump each pending changeset asks for, per package (`.changeset/*.md` front matter). */
function pendingBumps(): Map<string, string[]> {
  const bumps = new Map<string, string[]>();
  const folder = join(root, '.changeset');
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
    const front = /^---\n([\s\S]*?)\n---/.exec(readFileSync(join(folder, file), 'utf8'))?.[1] ?? '';
    for (const [, name, bump] of front.matchAll(/^"?([^":]+)"?:\s*(\w+)\s*$/gm)) {
      bumps.set(name!, [...(bumps.get(name!) ?? []), bump!]);
    }
  }
  return bumps;
}

/**
 * The first release is 0.1.0, so that the internal ranges pnpm publishes
 * (`workspace:^` → `^0.1.0`) admit more than one version: a package still at
 * 0.0.0 needs a pending minor (or major) changeset. Versions are bumped by
 * `pnpm version-packages` when releasing, not on feature branches, so every
 * changeset added until then still lands in the same release.
 */
describe.each([...workspacePackages('packages'), ...workspacePackages('apps')])(
  '$manifest.name',
  (pkg) => {
    it('has a pending changeset when what it publishes changed since its last version', () => {
      const git = (...args: string[]) =>
        execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
      const manifest = relative(root, join(pkg.dir, 'package.json'));
      // The last commit that set its version: the release (or the package's first commit).
      const released = git('log', '-1', '--format=%H', '-G', '"version":', '--', manifest);
      // The CLI bundles the libraries (docs/cli-install.md): their changes are its changes too.
      const dirs =
        pkg.manifest.name === '@usam/cli'
          ? [pkg.dir, ...workspacePackages('packages').map((p) => p.dir)]
          : [pkg.dir];
      const paths = dirs.flatMap((d) =>
        ['src', 'package.json'].map((f) => relative(root, join(d, f))),
      );
      const changed = git('diff', '--name-only', released, 'HEAD', '--', ...paths)
        .split('\n')
        .filter((f) => f !== '' && !f.endsWith('.test.ts'));
      if (changed.length === 0) return;
      expect(
        pendingBumps().get(pkg.manifest.name) ?? [],
        changed.slice(0, 3).join(', '),
      ).not.toEqual([]);
    });

    it('is released at 0.1.0 or later', () => {
      const version = (
        JSON.parse(readFileSync(join(pkg.dir, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
      if (version !== '0.0.0') return;
      expect(pendingBumps().get(pkg.manifest.name) ?? []).toEqual(
        expect.arrayContaining([expect.stringMatching(/^(minor|major)$/)]),
      );
    });
  },
);
