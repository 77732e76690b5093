import type { Plugin } from 'esbuild';

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
