import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { workspacePackages } from './packages';

/**
 * Bundles a library's browser entry as a browser app would: platform browser,
 * so the `browser` export condition and the `browser` field of dependencies
 * apply (tfjs maps its own `fs`, `path`, … away there). A Node built-in that is
 * still imported fails esbuild's resolution; those errors are returned.
 */
async function browserBundleErrors(specifier: string): Promise<string[]> {
  try {
    await build({
      stdin: { contents: `export * from '${specifier}';`, resolveDir: import.meta.dirname },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    return [];
  } catch (error) {
    return ((error as { errors?: { text: string }[] }).errors ?? [{ text: String(error) }]).map(
      (e) => e.text,
    );
  }
}

describe('browser bundle check', () => {
  it('catches a Node built-in (the check itself can fail)', async () => {
    expect(await browserBundleErrors('node:fs')).not.toEqual([]);
  });

  // Every entry point except the Node-only ones (`./node`), which hold file access on purpose.
  const entries = workspacePackages('packages').flatMap((pkg) =>
    Object.keys((pkg.manifest.exports ?? { '.': null }) as Record<string, unknown>)
      .filter((subpath) => subpath !== './package.json' && subpath !== './node')
      .map((subpath) => `${pkg.manifest.name}${subpath.slice(1)}`),
  );
  it.each(entries)('%s bundles for the browser without any Node built-in', async (specifier) => {
    expect(await browserBundleErrors(specifier)).toEqual([]);
  });

  it('checks the subpath entries too (e.g. @usam/datasets/mnist)', () => {
    expect(entries).toContain('@usam/datasets/mnist');
    expect(entries).not.toContain('@usam/datasets/node');
  });
});
