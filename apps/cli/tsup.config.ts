import { packageConfig } from '../../tsup.base';

export default packageConfig(
  {
    index: 'src/index.ts',
    bin: 'src/bin.ts',
    // The run directory's schemas and types, browser-safe (the playground's exports use them).
    'run-files': 'src/run-files.ts',
    // The process `usam reproduce --jobs N` forks (found beside the chunk of pool.ts).
    'reproduce-worker': 'src/reproduce/worker.ts',
  },
  {
    platform: 'node',
    // The CLI carries the @usam libraries it runs (docs/cli-install.md): installed beside
    // other @usam packages (npm install -g of several), it would otherwise load theirs, each
    // with its own tfjs-core. tfjs and every other dependency stay external, one copy each.
    noExternal: [/^@usam\//],
    dts: { resolve: [/^@usam\//] },
    // The bundled @usam/datasets imports the embedded MNIST's JSON with import attributes,
    // which Node requires and esbuild (es2022) and Rollup's tree-shaking drop unless told
    // (as in packages/datasets/tsup.config.ts).
    treeshake: false,
    esbuildOptions(options) {
      options.supported = { ...options.supported, 'import-attributes': true };
    },
  },
);
