import { copyFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageConfig } from '../../tsup.base';
import { tfjsCorePublicApi } from './tfjs-core-registrations';

const wasmDist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));

export default packageConfig(['src/index.ts', 'src/node.ts'], {
  // Node's gradients and chained ops (src/node-registrations.ts): tfjs-core's ESM
  // files are bundled, and their one import of tfjs-core's whole API points at the package.
  noExternal: [/^@tensorflow\/tfjs-core\/dist\/.*register_all_\w+\.js$/],
  esbuildPlugins: [tfjsCorePublicApi],
  // The browser's .wasm files, next to the module that points at them (src/wasm-paths.ts).
  async onSuccess() {
    for (const file of [
      'tfjs-backend-wasm.wasm',
      'tfjs-backend-wasm-simd.wasm',
      'tfjs-backend-wasm-threaded-simd.wasm',
    ]) {
      await copyFile(join(wasmDist, file), join('dist', file));
    }
  },
});
