import { defineConfig, type Options } from 'tsup';

/**
 * The one tsup setup every package shares: ESM only, declarations, source maps.
 * Dependencies and peer dependencies stay external (tsup's default), so
 * `@tensorflow/tfjs-core` is never bundled twice.
 */
export function packageConfig(entry: Options['entry'], overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'es2022',
    dts: true,
    sourcemap: true,
    clean: true,
    treeshake: true,
    splitting: true,
    ...overrides,
  });
}
