import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import semver from 'semver';
import { expect, it } from 'vitest';

/**
 * The Node versions @usam/cli promises (`engines.node`) must be ones every
 * package it installs accepts: otherwise npm prints EBADENGINE on each install
 * and `--engine-strict` fails. Walks the installed production dependency tree.
 */
const root = join(import.meta.dirname, '..');
const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node as string;

function dependencies(dir: string, seen: Map<string, string | undefined>): void {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const key = `${pkg.name}@${pkg.version}`;
  if (seen.has(key)) return;
  seen.set(key, pkg.engines?.node);
  const require = createRequire(join(dir, 'package.json'));
  for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    let found: string | undefined;
    try {
      found = dirname(require.resolve(`${name}/package.json`));
    } catch {
      // A package whose exports map hides package.json: pnpm puts it beside this one.
      const real = realpathSync(dir);
      const modules = pkg.name.startsWith('@') ? dirname(dirname(real)) : dirname(real);
      try {
        found = realpathSync(join(dir, 'node_modules', name));
      } catch {
        found = undefined;
      }
      try {
        found ??= realpathSync(join(modules, name));
      } catch {
        found = undefined; // an optional dependency not installed here (tfjs-node)
      }
    }
    if (found !== undefined) dependencies(found, seen);
  }
}

it(`every installed dependency accepts the Node versions @usam/cli promises (${ours})`, () => {
  const seen = new Map<string, string | undefined>();
  dependencies(root, seen);
  expect(seen.size).toBeGreaterThan(50); // the walk reached the tree (vega, tfjs, …)
  // The lowest promised version and the first promised release of each later line (22.12 is require(esm)'s).
  const versions = [semver.minVersion(ours)!.version, '20.20.0', '22.12.0', '23.0.0', '24.0.0'];
  expect(versions.every((v) => semver.satisfies(v, ours))).toBe(true);
  const refusing = [...seen].flatMap(([key, range]) =>
    range === undefined
      ? []
      : versions
          .filter((v) => !semver.satisfies(v, range))
          .map((v) => `${key} refuses node ${v} (${range})`),
  );
  expect(refusing).toEqual([]);
});

it('every @usam package promises the same Node versions, none without require(esm)', () => {
  // The CLI and the libraries it bundles (tsup.config.ts), each also published on its own.
  const cli = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const bundled = Object.keys(cli.devDependencies).filter(
    (name) => name.startsWith('@usam/') && name !== '@usam/chromium',
  );
  expect(bundled.length).toBe(6);
  const require = createRequire(join(root, 'package.json'));
  const promised = bundled.map((name) => [name, require(`${name}/package.json`).engines?.node]);
  // ESM-only packages need require(esm) for CommonJS users: unflagged from 20.19 on 20.x and
  // from 22.12 on 22.x, so 22.0–22.11 (and 21) must not be promised.
  for (const v of ['20.18.0', '21.7.0', '22.0.0', '22.11.0']) {
    expect(semver.satisfies(v, ours), v).toBe(false);
  }
  expect(promised.filter(([, range]) => range !== ours)).toEqual([]);
});
