import { build, type Plugin } from 'esbuild';

/**
 * For bundling tfjs-core's gradient and chained-op registrations for Node
 * (src/node-registrations.ts): their files are bundled, except their one import
 * of tfjs-core's whole API (`../base`, from Prod's gradient), which points at
 * the package. Used by the build (tsup.config.ts) and the tests (vitest.config.ts).
 */
export const tfjsCorePublicApi: Plugin = {
  name: 'tfjs-core-public-api',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/base$/ }, (args) =>
      args.importer.includes('tfjs-core/dist/gradients/')
        ? { path: '@tensorflow/tfjs-core', external: true }
        : undefined,
    );
  },
};

/**
 * Bundles `entry` (a file of this package) for a plain `node` as the build
 * bundles src/node.ts: tfjs-core's registration files are bundled, our imports
 * of packages stay imports. For tests and benches that run outside vitest.
 */
export async function bundleForNode(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'silent',
    plugins: [
      tfjsCorePublicApi,
      {
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
}
