/**
 * Registers tfjs-core's gradients and chained ops (`x.reshape(…)`, which some
 * gradients call) under Node, as the `@tensorflow/tfjs` umbrella package does.
 * tfjs-core's Node build (CommonJS) registers neither (docs/backends.md), and its ES
 * module files cannot load in Node's ESM loader (their relative imports have
 * no file extensions). So the build bundles these imports into a chunk of this
 * package (tsup.config.ts): a copy of the registration code and the internals
 * it calls, which reach tfjs's one engine, registries and Tensor class through
 * tfjs's globals, as any second copy of tfjs-core does. The copy must load
 * after tfjs-core (init.ts imports it first): the first copy to load defines
 * the Tensor class. Browsers import the same modules through their bundler
 * (index.ts).
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
