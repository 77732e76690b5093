import { defineConfig } from 'vitest/config';

/**
 * Shared vitest settings. TensorFlow.js numerics are CPU-heavy, so tests run in
 * forked processes (the wasm backend misbehaves in worker threads) with a
 * generous timeout; speed is measured by `pnpm bench`, never asserted here.
 */
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    passWithNoTests: false,
  },
});
