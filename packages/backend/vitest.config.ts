import { build } from 'esbuild';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.base';
import { tfjsCorePublicApi } from './tfjs-core-registrations';

/**
 * As the build does, src/node-registrations.ts is served as one esbuild bundle:
 * left to vitest, its ~600 tfjs-core files are transformed one by one, which
 * takes minutes on a busy machine.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: { setupFiles: ['./src/test-setup.ts'] },
    plugins: [
      {
        name: 'bundle-node-registrations',
        async load(id) {
          if (!id.endsWith('/src/node-registrations.ts')) return undefined;
          const result = await build({
            entryPoints: [id],
            bundle: true,
            format: 'esm',
            platform: 'node',
            write: false,
            plugins: [tfjsCorePublicApi],
          });
          return result.outputFiles[0]!.text;
        },
      },
    ],
  }),
);
