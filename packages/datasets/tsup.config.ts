import { packageConfig } from '../../tsup.base';

// The embedded MNIST's `import(…json, { with: { type: 'json' } })` must keep its import
// attributes (Node requires them): esbuild drops them for the es2022 target unless told they
// are supported, and tsup's Rollup tree-shaking pass drops them too, so esbuild shakes alone.
export default packageConfig(['src/index.ts', 'src/mnist.ts', 'src/node.ts'], {
  treeshake: false,
  esbuildOptions(options) {
    options.supported = { ...options.supported, 'import-attributes': true };
  },
});
