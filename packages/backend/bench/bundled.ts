/**
 * Runs bench/<name>.ts bundled as the build bundles src/node.ts (Node cannot
 * load src/node-registrations.ts's tfjs-core imports unbundled; see
 * tfjs-core-registrations.ts). Usage: `tsx bench/bundled.ts kernels-ab`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { tfjsCorePublicApi } from '../tfjs-core-registrations';

const name = process.argv[2] ?? 'kernels-ab';
const dir = fileURLToPath(new URL('../node_modules/.usam-bench/', import.meta.url));
mkdirSync(dir, { recursive: true });
const outfile = join(dir, `${name}.mjs`);
await build({
  entryPoints: [fileURLToPath(new URL(`./${name}.ts`, import.meta.url))],
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile,
  logLevel: 'silent',
  plugins: [
    tfjsCorePublicApi,
    {
      // Our imports of packages stay imports; tfjs-core's registration files are bundled.
      name: 'packages-external',
      setup(b) {
        b.onResolve({ filter: /^[@a-z]/ }, (args) =>
          args.importer.includes('node_modules') || /register_all_\w+\.js$/.test(args.path)
            ? undefined
            : { path: args.path, external: true },
        );
      },
    },
  ],
});
await import(pathToFileURL(outfile).href);
