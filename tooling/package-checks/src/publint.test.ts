import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { describe, expect, it } from 'vitest';
import { workspacePackages } from './packages';

const all = [...workspacePackages('packages'), ...workspacePackages('apps')];

describe.each(all.map((pkg) => [pkg.manifest.name, pkg] as const))('%s', (_name, pkg) => {
  it('packs correctly (publint, warnings are errors)', async () => {
    const { messages, pkg: manifest } = await publint({
      pkgDir: pkg.dir,
      level: 'warning',
      strict: true,
      pack: 'npm',
    });
    const problems = messages.map((m) => formatMessage(m, manifest) ?? m.code);
    expect(problems).toEqual([]);
  });

  it('follows the house rules for a published package', () => {
    const m = pkg.manifest;
    expect(m.private).not.toBe(true);
    expect(m.files).toEqual(expect.arrayContaining(['dist']));
    expect(m.exports).toBeTypeOf('object');
    // Internal links always point at the workspace copy.
    for (const deps of [m.dependencies, m.devDependencies, m.peerDependencies]) {
      for (const [dep, range] of Object.entries(deps ?? {})) {
        if (dep.startsWith('@usam/')) expect(range, dep).toMatch(/^workspace:/);
      }
    }
  });
});

describe.each(workspacePackages('packages').map((pkg) => [pkg.manifest.name, pkg] as const))(
  'library %s',
  (_name, pkg) => {
    it('takes @tensorflow/tfjs-core as a peer (repeated in devDependencies)', () => {
      expect(pkg.manifest.peerDependencies?.['@tensorflow/tfjs-core']).toMatch(/^\^4\.22/);
      expect(pkg.manifest.devDependencies?.['@tensorflow/tfjs-core']).toBeDefined();
      expect(pkg.manifest.dependencies?.['@tensorflow/tfjs-core']).toBeUndefined();
    });
  },
);
