import * as tfl from '@tensorflow/tfjs-layers';

/**
 * Seeded initialisers. They follow PyTorch's defaults, since the reference
 * implementations (the paper's MLP, kuangliu's CIFAR ResNet-18) are PyTorch:
 * kernels and biases uniform in ±1/√fan_in (`kaiming_uniform(a=√5)` for
 * kernels; tfjs's fan_in of a conv kernel is kh·kw·c_in, as in PyTorch).
 * Every initialiser gets its own seed from `next()`, so layers of the same
 * shape still differ and the same model seed gives the same weights.
 */

/** murmur3's 32-bit finaliser: nearby inputs give unrelated outputs. */
function mix(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A stream of per-initialiser seeds derived from the model seed. */
export function seedStream(seed: number): () => number {
  let k = 0;
  const base = mix(seed ^ 0x9e3779b9);
  return () => mix(base + Math.imul(++k, 0x9e3779b9));
}

/** tfjs-layers' initialiser type (not exported by name from the package root). */
export type Initializer = ReturnType<typeof tfl.initializers.randomUniform>;

export interface Initializers {
  /** For a kernel (dense or conv): U(±1/√fan_in). */
  kernel(): Initializer;
  /** For the bias of a layer with `fanIn` inputs per unit: U(±1/√fan_in). */
  bias(fanIn: number): Initializer;
}

export function initializers(seed: number): Initializers {
  const next = seedStream(seed);
  return {
    kernel: () =>
      tfl.initializers.varianceScaling({
        scale: 1 / 3,
        mode: 'fanIn',
        distribution: 'uniform',
        seed: next(),
      }),
    bias: (fanIn) => {
      const bound = 1 / Math.sqrt(fanIn);
      return tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: next() });
    },
  };
}
