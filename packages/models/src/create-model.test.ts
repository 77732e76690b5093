import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, MODEL_NAMES, type ModelName, modelRecipe } from './create-model';
import { ModelError } from './errors';
import { countParameters, forward, parameterCount } from './state';

beforeAll(async () => {
  await initBackend('cpu');
});

/** Builds, runs `f`, disposes. */
function withModel<T>(
  name: ModelName,
  options: Parameters<typeof createModel>[1],
  f: (m: tfl.LayersModel) => T,
) {
  const m = createModel(name, options);
  try {
    return f(m);
  } finally {
    m.dispose();
  }
}

const bytes = (m: tfl.LayersModel) =>
  m.weights.map((w) => new Uint8Array(w.read().dataSync().buffer.slice(0)));

describe('parameter counts', () => {
  it('mlp: 784·128+128 + 4·(128·128+128) + 128·10+10 = 167,818', () => {
    withModel('mlp', {}, (m) => {
      expect(parameterCount(m)).toBe(167_818);
      expect(countParameters(m)).toEqual({ trainable: 167_818, nonTrainable: 0, total: 167_818 });
      expect(m.layers.filter((l) => l.getClassName() === 'Dense')).toHaveLength(6);
    });
  });

  it('cnn: 225,034 on MNIST (28×28×1), 315,722 on CIFAR (32×32×3)', () => {
    withModel('cnn', { inputShape: [28, 28, 1] }, (m) => {
      expect(parameterCount(m)).toBe(225_034);
    });
    withModel('cnn', {}, (m) => {
      expect(countParameters(m)).toEqual({ trainable: 315_722, nonTrainable: 0, total: 315_722 });
    });
  });

  it('resnet18 at width 1, 10 classes: 11,173,962 trainable, 9,600 BatchNorm statistics', () => {
    withModel('resnet18', {}, (m) => {
      expect(countParameters(m)).toEqual({
        trainable: 11_173_962,
        nonTrainable: 9_600,
        total: 11_183_562,
      });
      // 20 BatchNorms and 20 convolutions (stem, 16 in blocks, 3 projections), one dense head.
      const count = (cls: string) => m.layers.filter((l) => l.getClassName() === cls).length;
      expect(count('BatchNormalization')).toBe(20);
      expect(count('Conv2D')).toBe(20);
      expect(count('Dense')).toBe(1);
      expect(count('MaxPooling2D')).toBe(0);
    });
  });

  it('resnet18 width scales every channel count, rounded, at least 1', () => {
    withModel('resnet18', { width: 0.125, numClasses: 100 }, (m) => {
      expect(m.getLayer('stem_conv').getWeights()[0]!.shape).toEqual([3, 3, 3, 8]);
      expect(m.getLayer('layer4_block2_conv2').getWeights()[0]!.shape).toEqual([3, 3, 64, 64]);
      expect(m.getLayer('logits').getWeights()[0]!.shape).toEqual([64, 100]);
      expect(countParameters(m).nonTrainable).toBe(1_200);
    });
    withModel('resnet18', { width: 0.3 }, (m) => {
      // round(64·0.3) = 19, round(512·0.3) = 154
      expect(m.getLayer('stem_conv').getWeights()[0]!.shape).toEqual([3, 3, 3, 19]);
      expect(m.getLayer('logits').getWeights()[0]!.shape).toEqual([154, 10]);
    });
    withModel('resnet18', { width: 0.001, inputShape: [8, 8, 3] }, (m) => {
      expect(m.getLayer('stem_conv').getWeights()[0]!.shape).toEqual([3, 3, 3, 1]);
    });
  });

  it('mlp and cnn take the width multiplier too', () => {
    withModel('mlp', { width: 0.5, inputShape: [20], numClasses: 3 }, (m) => {
      expect(parameterCount(m)).toBe(20 * 64 + 64 + 4 * (64 * 64 + 64) + 64 * 3 + 3);
    });
    withModel('cnn', { width: 0.25, inputShape: [12, 12, 1], numClasses: 2 }, (m) => {
      expect(m.getLayer('conv2').getWeights()[0]!.shape).toEqual([3, 3, 8, 16]);
    });
  });
});

describe('outputs', () => {
  it.each([
    ['mlp', {}, [3, 784]],
    ['mlp', { inputShape: [5], numClasses: 2 }, [3, 5]],
    ['cnn', {}, [3, 32, 32, 3]],
    ['cnn', { inputShape: [28, 28, 1], numClasses: 7 }, [3, 28, 28, 1]],
    ['cnn', { inputShape: [10, 10, 2] }, [3, 10, 10, 2]],
    ['resnet18', { width: 0.0625 }, [3, 32, 32, 3]],
    ['resnet18', { width: 0.0625, inputShape: [9, 11, 1], numClasses: 4 }, [3, 9, 11, 1]],
  ] as const)('%s %j gives logits [batch, numClasses]', (name, options, shape) => {
    withModel(name, options, (m) => {
      const x = tf.randomNormal([...shape], 0, 1, 'float32', 1);
      for (const training of [false, true]) {
        const y = forward(m, x, { training });
        expect(y.shape).toEqual([3, 'numClasses' in options ? options.numClasses : 10]);
        expect(y.dtype).toBe('float32');
        y.dispose();
      }
      x.dispose();
      // Logits: the last layer is a linear Dense, no softmax.
      expect(m.layers.at(-1)!.getClassName()).toBe('Dense');
      expect(m.layers.at(-1)!.getConfig().activation).toBe('linear');
    });
  });

  it('resnet18 strided convolutions sample like PyTorch padding=1: ceil(h/2) per stage', () => {
    withModel('resnet18', { width: 0.0625, inputShape: [9, 9, 3] }, (m) => {
      expect(m.getLayer('layer2_block1_conv1').outputShape).toEqual([null, 5, 5, 8]);
      expect(m.getLayer('layer2_block1_shortcut_conv').outputShape).toEqual([null, 5, 5, 8]);
      expect(m.getLayer('layer4_block2_conv2').outputShape).toEqual([null, 2, 2, 32]);
    });
  });
});

describe('seeded initialisation', () => {
  it('the same seed gives bit-identical weights, another seed different ones', () => {
    const [a, b, c] = [3, 3, 4].map((seed) =>
      createModel('cnn', { seed, inputShape: [12, 12, 1] }),
    );
    expect(bytes(a!)).toEqual(bytes(b!));
    expect(bytes(a!)).not.toEqual(bytes(c!));
    for (const m of [a, b, c]) m!.dispose();
  });

  it('layers of the same shape get different values; default seed is 0', () => {
    const m = createModel('mlp');
    const hidden = [2, 3].map((i) => m.getLayer(`dense${i}`).getWeights()[0]!.dataSync());
    expect(Array.from(hidden[0]!)).not.toEqual(Array.from(hidden[1]!));
    const zero = createModel('mlp', { seed: 0 });
    expect(bytes(m)).toEqual(bytes(zero));
    m.dispose();
    zero.dispose();
  });

  it('kernels and biases are U(±1/√fan_in), as PyTorch initialises them', () => {
    withModel('mlp', {}, (m) => {
      const [kernel, bias] = m.getLayer('dense1').getWeights();
      const bound = 1 / Math.sqrt(784);
      for (const t of [kernel!, bias!]) {
        const v = t.dataSync();
        expect(Math.max(...v)).toBeLessThanOrEqual(bound);
        expect(Math.min(...v)).toBeGreaterThanOrEqual(-bound);
        expect(Math.max(...v)).toBeGreaterThan(0.9 * bound);
      }
    });
  });
});

describe('recipe', () => {
  it('records the name and resolved options, so createModel can rebuild the model', () => {
    withModel('resnet18', { width: 0.125 }, (m) => {
      const recipe = modelRecipe(m)!;
      expect(recipe).toEqual({
        name: 'resnet18',
        options: { inputShape: [32, 32, 3], numClasses: 10, width: 0.125, seed: 0 },
      });
      withModel(recipe.name, recipe.options, (again) => {
        expect(bytes(again)).toEqual(bytes(m));
      });
    });
  });

  it('is undefined for other models', () => {
    expect(modelRecipe({ getUserDefinedMetadata: () => undefined })).toBeUndefined();
    expect(modelRecipe({ getUserDefinedMetadata: () => ({ usam: { name: 'vgg' } }) })).toBe(
      undefined,
    );
  });
});

describe('bad options give a one-line ModelError naming the fix', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'unknown name',
      () => createModel('vgg' as ModelName),
      /unknown model 'vgg'; valid names are 'mlp', 'cnn', 'resnet18'/,
    ],
    ['mlp with an image shape', () => createModel('mlp', { inputShape: [28, 28, 1] }), /flat/],
    ['mlp with a zero width input', () => createModel('mlp', { inputShape: [0] }), /\[d\] with d/],
    ['cnn with a flat shape', () => createModel('cnn', { inputShape: [784] }), /\[height, width/],
    ['cnn too small', () => createModel('cnn', { inputShape: [9, 28, 1] }), /≥ 10/],
    ['resnet18 too small', () => createModel('resnet18', { inputShape: [7, 7, 3] }), /≥ 8/],
    [
      'resnet18 with fractional sizes',
      () => createModel('resnet18', { inputShape: [32.5, 32, 3] }),
      /positive integers/,
    ],
    ['width 0', () => createModel('resnet18', { width: 0 }), /width must be a finite number > 0/],
    ['width < 0', () => createModel('mlp', { width: -1 }), /width/],
    ['width NaN', () => createModel('cnn', { width: Number.NaN }), /width/],
    ['width ∞', () => createModel('cnn', { width: Number.POSITIVE_INFINITY }), /width/],
    ['one class', () => createModel('mlp', { numClasses: 1 }), /numClasses must be an integer ≥ 2/],
    ['fractional classes', () => createModel('mlp', { numClasses: 2.5 }), /numClasses/],
    ['negative seed', () => createModel('mlp', { seed: -1 }), /seed must be an integer/],
    [
      'misspelt option',
      () => createModel('mlp', { classes: 10 } as never),
      /unknown option 'classes'; valid options are inputShape, numClasses, width, seed/,
    ],
    ['options not an object', () => createModel('mlp', null as never), /options must be/],
  ];
  it.each(cases)('%s', (_what, make, message) => {
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ModelError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lists every model name', () => {
    expect(MODEL_NAMES).toEqual(['mlp', 'cnn', 'resnet18']);
  });
});
