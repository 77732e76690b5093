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
  const out = tensors.map((t) =>
    Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer)),
  );
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
  for (const [i, got] of lean.entries()) expect(got, `result ${i}`).toEqual(own[i]);
}

/** tf.customGrad over one tensor (its typing takes the save function as an input). */
const custom = (
  f: (
    x: tf.Tensor,
    save: tf.GradSaveFunc,
  ) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor },
) =>
  tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

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
    const passOn = custom((x) => ({
      value: tf.mul(x, 3),
      gradFunc: (dy) => dy,
    }));
    const cube = custom((x, save) => {
      save([x]);
      return {
        value: tf.pow(x, 3),
        gradFunc: (dy, [s]) => tf.mul(dy, tf.mul(tf.square(s!), 3)),
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
          const flat = tf.reshape(passOn(cube(c)), [2, -1]);
          const y = tf.fused.matMul({
            a: flat as tf.Tensor2D,
            b: w as tf.Tensor2D,
            bias: b!,
            activation: 'elu',
          });
          return tf.sum(tf.mul(passOn(y), y));
        },
        [
          t([2, 4, 4, 2], 7),
          t([3, 3, 2, 3], 8, 0.3),
          t([3], 9, 0.1),
          t([48, 4], 10, 0.2),
          t([4], 11),
        ],
      ),
    );
  });

  it('an op whose output is a requested input, or is its own input', () => {
    expectTfjsGradients(() => {
      const [a, b] = [t([3], 60), t([3], 61)];
      // customGrad ops may return a tensor that exists already: tfjs keeps accumulating
      // into that tensor's gradient, which stays requested.
      const sameAsB = custom(() => ({ value: b, gradFunc: (dy) => tf.mul(dy, 3) }));
      const itself = custom((x) => ({ value: x, gradFunc: (dy) => tf.mul(dy, 2) }));
      return grads((a, b) => tf.sum(tf.mul(sameAsB(itself(tf.mul(a!, 1.5))), tf.exp(b!))), [a, b]);
    });
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
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(tf.matMul(x, used))),
        [used, unused],
      );
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
        for (const w of weights) w.assign(tf.sub(w, tf.mul(grads[w.name]!, 0.1)));
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
    // A deep ReLU MLP, batch 4× its width, each layer in its own tidy (as tfjs-layers does).
    // Per layer the tape saves 3 activations (batch × width: matMul's and add's input,
    // relu's input); tfjs's backward adds ≈ 3.5 (the gradients of relu's, add's and matMul's
    // outputs, add's reshaped gradient) and holds all to the end. The lean pass frees a
    // layer's saved tensors and consumed gradients as it passes it, so when it reaches the
    // first layer it holds only the weights' gradients and O(1) activations.
    const [depth, width, n] = [24, 32, 128];
    const activation = n * width * 4;
    const x = tf.variable(t([n, width], 50));
    const layers = Array.from({ length: depth }, (_, i) => [
      tf.variable(t([width, width], 51 + i, 0.3)),
      tf.variable(t([width], 151 + i, 0.1)),
    ]);
    const variables = [...layers.flat(), x];
    const gradientBytes = variables.reduce((sum, v) => sum + v.size * 4, 0);
    let held = 0;
    // The first op: its gradient runs last, when the backward has reached the input.
    const probe = custom((x) => ({
      value: tf.clone(x),
      gradFunc: (dy) => {
        held = tf.memory().numBytes;
        return tf.clone(dy);
      },
    }));
    const step = () =>
      tf.tidy(() => {
        const loss = () =>
          tf.sum(
            layers.reduce(
              (h, [w, b]) => tf.tidy(() => tf.relu(tf.add(tf.matMul(h, w!), b!))),
              probe(x),
            ),
          ) as tf.Scalar;
        return Object.values(tf.variableGrads(loss, variables).grads);
      });
    const measure = async () => {
      const before = tf.memory().numBytes;
      const { peakBytes, result } = await tf.profile(step);
      tf.dispose(result as tf.Tensor[]);
      return { peak: peakBytes - before, held: held - before - gradientBytes };
    };
    const lean = await measure();
    uninstallLeanBackward();
    const own = await measure().finally(installLeanBackward);
    // Measured (tf.profile's byte counts, the same on every backend): 6.3 per layer, and 0.
    expect(own.held / activation).toBeGreaterThan(5 * depth);
    expect(lean.held / activation).toBeLessThan(2);
    // Peak: tfjs's ≈ 6.5 activations per layer, at the end of its backward; the lean pass's
    // is the forward's, ≈ 4 (3 saved, 1 output per layer): ratio ≈ 0.62, measured 0.66.
    expect(lean.peak / own.peak).toBeLessThan(0.75);
    tf.dispose(variables);
  });
});
