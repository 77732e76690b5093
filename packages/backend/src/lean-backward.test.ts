import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installLeanBackward, uninstallLeanBackward } from './lean-backward';
import { initBackend } from './node';
import { values } from './test-helpers';

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

/** Runs `fn` with tfjs's own backward pass, then puts the lean one back. */
function withTfjsBackward<T>(fn: () => T): T {
  uninstallLeanBackward();
  try {
    return fn();
  } finally {
    installLeanBackward();
  }
}

/** The bits of each tensor `fn` returns (so −0/0 and NaN payloads count); frees them. */
function bits(fn: () => tf.Tensor[]): number[][] {
  const tensors = tf.tidy(fn);
  const out = tensors.map((t) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer)));
  tf.dispose(tensors);
  return out;
}

/** The lean pass gives tfjs's gradients bit for bit, and leaves as many tensors as tfjs. */
function expectTfjsGradients(fn: () => tf.Tensor[]): void {
  const tensors = tf.memory().numTensors;
  const lean = bits(fn);
  expect(tf.memory().numTensors).toBe(tensors);
  const own = withTfjsBackward(() => bits(fn));
  expect(lean.length).toBe(own.length);
  lean.forEach((got, i) => expect(got, `result ${i}`).toEqual(own[i]));
}

const t = (shape: number[], seed: number, scale = 1) =>
  tf.mul(tf.tensor(values(shape, seed), shape), scale);

it('initBackend installs the lean pass once; the mirrored internals are tfjs-core 4.22.0', async () => {
  const engine = tf.engine() as unknown as { gradients: unknown };
  const proto = Object.getPrototypeOf(engine) as { gradients: unknown };
  const lean = engine.gradients;
  expect(lean).not.toBe(proto.gradients);
  await initBackend('cpu');
  expect(installLeanBackward()).toBe(true);
  expect(engine.gradients).toBe(lean);
  // lean-backward.ts mirrors tfjs-core 4.22.0's Engine.gradients and tape.ts. On another
  // version, compare them with lean-backward.ts, update it and this version.
  expect(tf.version_core, 'lean-backward.ts mirrors tfjs-core 4.22.0 internals').toBe('4.22.0');
  expect(proto.gradients).toBeTypeOf('function');
  for (const name of ['startTape', 'endTape', 'scopedRun'] as const) {
    expect((engine as unknown as Record<string, unknown>)[name], name).toBeTypeOf('function');
  }
  const state = (tf.engine() as unknown as { state: Record<string, unknown> }).state;
  expect(state.gradientDepth).toBe(0);
  tf.tidy(() => {
    tf.grad((x: tf.Tensor) => {
      expect(Array.isArray(state.activeTape)).toBe(true);
      expect((state.activeScope as { id: unknown }).id).toBeTypeOf('number');
      return tf.square(x);
    })(tf.scalar(1));
  });
});

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;
const grads = (f: Fn, xs: tf.Tensor[], dy?: tf.Tensor) =>
  tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)(xs, dy);

/** A 3-layer MLP's loss in its weights: matMul, bias, relu, softmax cross-entropy. */
function mlpLoss(x: tf.Tensor, labels: tf.Tensor): Fn {
  return (w1, b1, w2, b2, w3) => {
    const h1 = tf.relu(tf.add(tf.matMul(x, w1!), b1!));
    const h2 = tf.tanh(tf.add(tf.matMul(h1, w2!), b2!));
    return tf.losses.softmaxCrossEntropy(labels, tf.matMul(h2, w3!));
  };
}
const mlpWeights = (seed: number) => [
  t([6, 8], seed, 0.5),
  t([8], seed + 1, 0.1),
  t([8, 8], seed + 2, 0.5),
  t([8], seed + 3, 0.1),
  t([8, 3], seed + 4, 0.5),
];

describe.each(['cpu', 'wasm'])('lean backward pass on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it('shared subexpressions, a tensor used twice, identity-like gradients, zero-gradient inputs', () => {
    expectTfjsGradients(() =>
      grads(
        (x, w1, b1, w2) => {
          const h = tf.relu(tf.add(tf.matMul(x!, w1!), b1!));
          const twice = tf.mul(h, h); // h used twice here, and again below
          // Reshape and Identity pass their gradient on.
          const same = tf.reshape(tf.reshape(tf.clone(twice), [-1]), h.shape);
          const mask = tf.greater(h, 0.1); // a comparison: zero gradient
          const either = tf.where(mask, same, tf.neg(h));
          const picked = tf.reverse(tf.tile(either, [1, 2]), 1);
          const z = tf.concat([picked, h, x!], 1);
          return tf.sum(tf.matMul(tf.sigmoid(tf.slice(z, [0, 1], [4, 5])), w2!));
        },
        [t([4, 6], 1), t([6, 5], 2, 0.5), t([5], 3, 0.1), t([5, 3], 4, 0.5)],
      ),
    );
  });

  it('multi-output ops with unused outputs (split, unstack)', () => {
    expectTfjsGradients(() =>
      grads(
        (x, w) => {
          const h = tf.matMul(x!, w!);
          const [a, b, unused] = tf.split(h, [2, 3, 1], 1);
          const rows = tf.unstack(h); // only rows 1 and 3 used
          void unused;
          return tf.add(tf.sum(tf.mul(tf.sum(a!), b!)), tf.sum(tf.mul(rows[1]!, rows[3]!)));
        },
        [t([4, 5], 5), t([5, 6], 6)],
      ),
    );
  });

  it('customGrad ops: a gradient that is dy itself, saved tensors, fused matMul and conv2d', () => {
    // Returns dy itself as the gradient (not the true one: it exercises the bookkeeping).
    const passOn = tf.customGrad((x: tf.Tensor) => ({
      value: tf.mul(x, 3),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => dy as tf.Tensor,
    }));
    const cube = tf.customGrad((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      return {
        value: tf.pow(x, 3),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], [s]: tf.Tensor[]) =>
          tf.mul(dy as tf.Tensor, tf.mul(tf.square(s!), 3)),
      };
    });
    expectTfjsGradients(() =>
      grads(
        (x, filter, bias, w, b) => {
          const c = tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: filter as tf.Tensor4D,
            strides: 1,
            pad: 'same',
            bias: bias!,
            activation: 'relu',
          });
          const flat = tf.reshape(passOn(cube(c)) as tf.Tensor, [2, -1]);
          const y = tf.fused.matMul({
            a: flat as tf.Tensor2D,
            b: w as tf.Tensor2D,
            bias: b!,
            activation: 'elu',
          });
          return tf.sum(tf.mul(passOn(y) as tf.Tensor, y));
        },
        [t([2, 4, 4, 2], 7), t([3, 3, 2, 3], 8, 0.3), t([3], 9, 0.1), t([48, 4], 10, 0.2), t([4], 11)],
      ),
    );
  });

  it('tf.grads with a given dy leaves that dy alone', () => {
    const dy = t([3, 4], 12);
    const before = Array.from(dy.dataSync());
    expectTfjsGradients(() =>
      grads((a, b) => tf.mul(tf.exp(a!), b!), [t([3, 4], 13), t([4], 14)], dy),
    );
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(dy.dataSync())).toEqual(before);
    dy.dispose();
  });

  it('variables without a gradient (allowNoGradients), and the error without it', () => {
    const used = tf.variable(t([5, 3], 15));
    const unused = tf.variable(t([3], 16));
    const x = t([2, 5], 17);
    expectTfjsGradients(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.matMul(x, used))), [
        used,
        unused,
      ]);
      expect(Object.keys(grads)).toEqual([used.name]);
      return [value, grads[used.name]!];
    });
    const message = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    };
    const lean = message(() => tf.grad(() => tf.sum(x))(unused));
    expect(lean).toMatch(/Cannot compute gradient of y=f\(x\)/);
    expect(withTfjsBackward(() => message(() => tf.grad(() => tf.sum(x))(unused)))).toBe(lean);
    tf.dispose([used, unused, x]);
  });

  it('nested gradients (an exact HVP: the outer pass is lean, the inner tfjs own)', () => {
    const x = t([5, 6], 18);
    const labels = tf.oneHot(tf.tensor1d([0, 2, 1, 1, 0], 'int32'), 3);
    const loss = mlpLoss(x, labels);
    expectTfjsGradients(() => {
      const weights = mlpWeights(20);
      const v = mlpWeights(30);
      return grads(
        (...w) => tf.addN(grads(loss, w).map((g, i) => tf.sum(tf.mul(g, v[i]!)))),
        weights,
      );
    });
    tf.dispose([x, labels]);
  });

  it('frees no tensor too early or too late over many steps', () => {
    const x = t([5, 6], 40);
    const labels = tf.oneHot(tf.tensor1d([0, 2, 1, 1, 0], 'int32'), 3);
    const weights = mlpWeights(41).map((w) => tf.variable(w));
    const loss = mlpLoss(x, labels);
    const step = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => loss(...weights) as tf.Scalar, weights);
        weights.forEach((w) => w.assign(tf.sub(w, tf.mul(grads[w.name]!, 0.1))));
      });
    step();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, labels, ...weights]);
  });

  it('holds the activations and a frontier of gradients, not every gradient', async () => {
    // A deep ReLU MLP, batch 4× its width: per layer the tape saves ≈ 3 activations (matMul's
    // and add's input, relu's input; one each of batch × width) and tfjs's backward adds ≈ 3.5
    // more per layer (the gradients of relu's, add's and matMul's outputs, add's reshaped
    // gradient), all held to the end: peak ≈ 6.5 activations per layer. The lean pass starts
    // from the 3 saved ones and frees a layer's as it passes it: peak ≈ 3 per layer + O(1).
    const [depth, width, n] = [24, 32, 128];
    const x = t([n, width], 50);
    const layers = Array.from({ length: depth }, (_, i) => [
      tf.variable(t([width, width], 51 + i, 0.3)),
      tf.variable(t([width], 151 + i, 0.1)),
    ]);
    const variables = layers.flat();
    const step = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(
          () => tf.sum(layers.reduce((h, [w, b]) => tf.relu(tf.add(tf.matMul(h, w!), b!)), x)),
          variables,
        );
        return Object.values(grads);
      });
    const peak = async () => {
      const { peakBytes, result } = await tf.profile(step);
      tf.dispose(result as tf.Tensor[]);
      return peakBytes;
    };
    const lean = await peak();
    uninstallLeanBackward();
    const own = await peak().finally(installLeanBackward);
    const activation = n * width * 4;
    console.log(backend, lean / activation / depth, own / activation / depth);
    expect(lean / own).toBeLessThan(0.6);
    tf.dispose([x, ...variables]);
  });
});
