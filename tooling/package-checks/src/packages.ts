import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '../../..');

export interface WorkspacePackage {
  readonly dir: string;
  readonly manifest: {
    name: string;
    private?: boolean;
    sideEffects?: boolean;
    peerDependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
    dependencies?: Record<string, string>;
    exports?: unknown;
    files?: string[];
  };
}

/**
 * Every publishable package under packages/ or apps/ (the CLI is checked for
 * packing only); private ones (`"private": true`, the playground) are never
 * published, so they are left out.
 */
export function workspacePackages(folder: 'packages' | 'apps'): WorkspacePackage[] {
  const base = join(root, folder);
  return readdirSync(base, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry): WorkspacePackage => {
      const dir = join(base, entry.name);
      return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) };
    })
    .filter((pkg) => pkg.manifest.private !== true);
}
