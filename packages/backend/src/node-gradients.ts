/**
 * Registers tfjs-core's gradients under Node. tfjs-core's Node build (CommonJS)
 * registers none (SPEC §8), and its ES module files cannot load in Node's ESM
 * loader (their relative imports have no file extensions). So the build bundles
 * this import into a chunk of this package (tsup.config.ts), a copy of only the
 * gradient code and the internals it calls; those reach tfjs's one engine and
 * registry through tfjs's globals, as a second copy of tfjs-core does. Browsers
 * import the same module through their bundler instead (index.ts).
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
