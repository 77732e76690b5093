import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { tensorList } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { EstimatorError } from './errors';
import { centralDifferenceEpsilon, createHvp, EPSILON_SCALE } from './hvp';
import { splitQuadratic } from './test-problems';
import {
  gaussians,
  matVec,
  minPreActivation,
  mlpHessian,
  relativeError,
  tfMlp,
  tinyMlp,
} from './test-utils';
import { twiceDifferentiableSoftmaxCrossEntropy } from './twice-differentiable';

beforeAll(async () => {
  await initBackend('cpu');
});

const bits = (variables: readonly tf.Variable[]) =>
  variables.map((v) => Array.from(new Uint32Array(Float32Array.from(v.dataSync()).buffer)));

describe('createHvp on a quadratic split over two variables', () => {
  it('gives Hv with both methods (central: 1e-4 relative, exact: 1e-5)', async () => {
    // A quadratic has no truncation error, so only float32 rounding is left:
    // ≈ eps·‖H‖‖x‖/‖εv‖ ≈ 1e-5 for central, ≈ 1e-6 for exact.
    const q = splitQuadratic();
    const v = Array.from({ length: 10 }, gaussians('v'));
    const want = matVec(q.H, v);
    for (const method of ['central', 'exact'] as const) {
      const hvp = createHvp({ variables: q.variables, loss: q.loss, method });
      expect(hvp.dimension).toBe(10);
      expect(hvp.shapes).toEqual([[2, 3], [4]]);
      const hv = await hvp.apply(tf.tensor1d(v));
      expect(relativeError(await hv.data(), want)).toBeLessThan(method === 'central' ? 1e-4 : 1e-5);
      hv.dispose();
    }
  });

  it('applyToParts takes and returns tensors shaped like the variables', async () => {
    const q = splitQuadratic();
    const v = Array.from({ length: 10 }, gaussians('v'));
    const hvp = createHvp({ variables: q.variables, loss: q.loss });
    const parts: tf.Tensor[] = [tf.tensor2d(v.slice(0, 6), [2, 3]), tf.tensor1d(v.slice(6))];
    const out = await hvp.applyToParts(parts);
    expect(out.map((t) => t.shape)).toEqual([[2, 3], [4]]);
    const flat = [...(await out[0]!.data()), ...(await out[1]!.data())];
    expect(relativeError(flat, matVec(q.H, v))).toBeLessThan(1e-4);
    tf.dispose([...parts, ...out]);
  });

  it('restores the weights bit-exactly after every product, also when the loss throws', async () => {
    const q = splitQuadratic();
    // Weights from 1e-4 to 1e2: x ± εv then loses low bits of the small ones,
    // so restoring by subtracting εv again would not give x back.
    const g = gaussians('w');
    const spread = () => g() * 10 ** Math.floor(6 * Math.abs(g()) - 4);
    for (const v of q.variables)
      v.assign(tf.tensor(Array.from({ length: v.size }, spread), v.shape));
    const before = bits(q.variables);
    const hvp = createHvp({ variables: q.variables, loss: q.loss, method: 'central' });
    for (let i = 0; i < 20; i++) {
      // Scales from 1e-3 to 1e3: a restore by subtraction would drift here.
      const v = tf.tensor1d(Array.from({ length: 10 }, () => g() * 10 ** ((i % 7) - 3)));
      (await hvp.apply(v)).dispose();
      v.dispose();
      expect(bits(q.variables)).toEqual(before);
    }
    let calls = 0;
    const throwing = createHvp({
      variables: q.variables,
      method: 'central',
      loss: () => {
        if (++calls === 2) throw new Error('boom');
        return q.loss();
      },
    });
    const v = tf.ones([10]) as tf.Tensor1D;
    await expect(throwing.apply(v)).rejects.toThrow('boom');
    v.dispose();
    expect(bits(q.variables)).toEqual(before);
  });

  it('counts 2 gradient evaluations per batch for central and 1 for exact', async () => {
    const q = splitQuadratic();
    const data = [{ n: 3 }, { n: 5 }, { n: 1 }];
    const v = tf.ones([10]) as tf.Tensor1D;
    const central = createHvp({
      variables: q.variables,
      loss: q.loss,
      data,
      batchSize: (b) => b.n,
      method: 'central',
    });
    const exact = createHvp({
      variables: q.variables,
      loss: q.loss,
      data,
      batchSize: (b) => b.n,
      method: 'exact',
    });
    for (let i = 0; i < 4; i++) {
      (await central.apply(v)).dispose();
      (await exact.apply(v)).dispose();
    }
    expect(central.gradientEvaluations).toBe(4 * 2 * 3);
    expect(central.products).toBe(4);
    expect(exact.gradientEvaluations).toBe(4 * 3);
    v.dispose();
  });

  it('leaks no tensors over many products', async () => {
    const q = splitQuadratic();
    for (const method of ['central', 'exact'] as const) {
      const hvp = createHvp({ variables: q.variables, loss: q.loss, data: [1, 2], method });
      const v = tf.ones([10]) as tf.Tensor1D;
      (await hvp.apply(v)).dispose();
      const start = tf.memory().numTensors;
      for (let i = 0; i < 50; i++) (await hvp.apply(v)).dispose();
      expect(tf.memory().numTensors).toBe(start);
      v.dispose();
    }
  });

  it('central: returns zeros for v = 0 without evaluating gradients', async () => {
    const q = splitQuadratic();
    const hvp = createHvp({ variables: q.variables, loss: q.loss, method: 'central' });
    const hv = await hvp.apply(tf.zeros([10]) as tf.Tensor1D);
    expect(Array.from(await hv.data())).toEqual(new Array(10).fill(0));
    expect(hvp.gradientEvaluations).toBe(0);
  });
});

describe('the central-difference step ε', () => {
  /** L = ¼ Σ_j (a_jᵀx)⁴: H = 3 Σ_j (a_jᵀx)² a_j a_jᵀ, with a fourth derivative for truncation error. */
  function quartic(seed: string, d: number, k: number, xScale: number) {
    const g = gaussians(seed);
    const A = Array.from({ length: k }, () => Array.from({ length: d }, () => g() / Math.sqrt(d)));
    const x0 = Array.from({ length: d }, () => (3 * xScale * g()) / Math.sqrt(d));
    const x = tf.variable(tf.tensor1d(x0));
    const At = tf.keep(tf.tensor2d(A));
    const loss = () =>
      tf.tidy(() =>
        tf.mul(0.25, tf.sum(tf.pow(tf.matMul(At, tf.reshape(x, [d, 1])), 4))),
      ) as tf.Scalar;
    const Ax = A.map((row) => row.reduce((s, a, i) => s + a * x0[i]!, 0));
    const H = x0.map((_, i) =>
      x0.map((_, j) => A.reduce((s, r, m) => s + 3 * Ax[m]! ** 2 * r[i]! * r[j]!, 0)),
    );
    return { x, loss, H };
  }

  it('is c·√eps·(1 + ‖x‖)/‖v‖', () => {
    expect(centralDifferenceEpsilon(3, 2, 10)).toBeCloseTo((10 * 2 ** -11.5 * 4) / 2, 15);
    expect(centralDifferenceEpsilon(0, 1)).toBeCloseTo(EPSILON_SCALE * 2 ** -11.5, 15);
  });

  it('the default c reaches 1e-3 relative on quartic losses, where c/1000 and 1000c do not', async () => {
    // Measured errors at the default: 1e-5 to 6e-5. A 1000× smaller step is
    // dominated by rounding (≈ eps/ε), a 1000× larger one by truncation (≈ ε²).
    for (const [seed, d, k, xScale] of [
      ['a', 20, 10, 1],
      ['b', 20, 10, 10],
      ['c', 50, 30, 0.1],
    ] as const) {
      const { x, loss, H } = quartic(seed, d, k, xScale);
      const v = Array.from({ length: d }, gaussians(`${seed}-v`));
      const want = matVec(H, v);
      const errorAt = async (scale: number) => {
        const hvp = createHvp({ variables: [x], loss, epsilonScale: scale, method: 'central' });
        const hv = await hvp.apply(tf.tensor1d(v));
        return relativeError(await hv.data(), want);
      };
      const best = await errorAt(EPSILON_SCALE);
      expect(best).toBeLessThan(1e-3);
      expect(await errorAt(EPSILON_SCALE / 1000)).toBeGreaterThan(Math.max(1e-3, 10 * best));
      expect(await errorAt(EPSILON_SCALE * 1000)).toBeGreaterThan(Math.max(1e-3, 10 * best));
      // The documented rule is what the operator used.
      const hvp = createHvp({ variables: [x], loss, method: 'central' });
      await hvp.apply(tf.tensor1d(v));
      const xNorm = Math.hypot(...(await x.data()));
      // ‖x‖ and ‖v‖ are reduced in float32: equal to 1e-6 relative.
      const rule = centralDifferenceEpsilon(xNorm, Math.hypot(...v));
      expect(Math.abs(hvp.lastEpsilon / rule - 1)).toBeLessThan(1e-6);
    }
  });

  it('a fixed epsilon overrides the rule', async () => {
    const { x, loss } = quartic('a', 20, 10, 1);
    const hvp = createHvp({ variables: [x], loss, epsilon: 1e-2, method: 'central' });
    await hvp.apply(tf.ones([20]) as tf.Tensor1D);
    expect(hvp.lastEpsilon).toBe(1e-2);
  });
});

/** tinyMlp's tanh, softmax cross-entropy MLP on 6 examples, with its tfjs form. */
function tanhNet(seed: string) {
  const problem = tinyMlp({ activation: 'tanh', loss: 'crossEntropy', examples: 6, seed });
  return { ...problem, net: tfMlp(problem.model, problem.theta) };
}

describe('createHvp on a tiny MLP against a float64 Hessian', () => {
  // The reference Hessian is built column by column from an analytic float64
  // gradient in plain JavaScript (test-utils), independent of tfjs.
  it('central differences match the reference to 1e-3 for tanh and softplus with cross-entropy and MSE', async () => {
    for (const activation of ['tanh', 'softplus'] as const) {
      for (const loss of ['crossEntropy', 'mse'] as const) {
        const { model, theta } = tinyMlp({
          activation,
          loss,
          examples: 6,
          seed: `${activation}-${loss}`,
        });
        const net = tfMlp(model, theta);
        const H = mlpHessian(model, theta);
        const hvp = createHvp({
          variables: net.variables,
          loss: net.loss,
          data: [net.batch([0, 1, 2, 3, 4, 5])],
          method: 'central',
        });
        for (let probe = 0; probe < 3; probe++) {
          const v = theta.map(gaussians(`${activation}-${loss}-${probe}`));
          const hv = await hvp.apply(tf.tensor1d(v));
          expect(relativeError(await hv.data(), matVec(H, v))).toBeLessThan(1e-3);
        }
      }
    }
  });

  it('weights batches by their size: H is the Hessian of the mean loss over all examples', async () => {
    const { model, theta, net } = tanhNet('w');
    const all = mlpHessian(model, theta);
    const first = mlpHessian(model, theta, [0, 1, 2, 3, 4]);
    const second = mlpHessian(model, theta, [5]);
    const unweighted = first.map((row, i) => row.map((h, j) => 0.5 * (h + second[i]![j]!)));
    const v = theta.map(gaussians('wv'));
    // Weights 5 and 1 (not powers of two): exact seeds each batch's outer pass
    // with 5v and v, so only float32 rounding is left (as in the 1e-5 test below).
    for (const [method, tolerance] of [
      ['central', 1e-3],
      ['exact', 1e-5],
    ] as const) {
      const hvp = createHvp({
        variables: net.variables,
        loss: net.loss,
        data: [net.batch([0, 1, 2, 3, 4]), net.batch([5])],
        method,
      });
      const hv = await hvp.apply(tf.tensor1d(v));
      expect(relativeError(await hv.data(), matVec(all, v))).toBeLessThan(tolerance);
      hv.dispose();
    }
    // The plain mean of the two batch Hessians is measurably different.
    expect(relativeError(matVec(unweighted, v), matVec(all, v))).toBeGreaterThan(5e-2);
  });

  it("applyToParts gives apply's bits, split like the parameters, and neither leaks", async () => {
    const { theta, net } = tanhNet('p');
    const v = tf.tensor1d(theta.map(gaussians('pv')));
    for (const method of ['central', 'exact'] as const) {
      const hvp = createHvp({
        variables: net.variables,
        loss: net.loss,
        data: [net.batch([0, 1, 2]), net.batch([3, 4]), net.batch([5])],
        method,
      });
      const parts = tensorList.split(v, hvp.shapes);
      const flat = await hvp.apply(v);
      const split = await hvp.applyToParts(parts);
      expect(split.map((t) => t.shape)).toEqual(hvp.shapes);
      const joined = tensorList.readSync(split);
      // central: ‖v‖ summed per part instead of over the flat vector may move ε by an ulp.
      if (method === 'exact') expect(joined).toEqual(flat.dataSync());
      else expect(relativeError(joined, flat.dataSync())).toBeLessThan(1e-5);
      tf.dispose([flat, ...split]);
      const start = tf.memory().numTensors;
      for (let i = 0; i < 10; i++) {
        (await hvp.apply(v)).dispose();
        tf.dispose(await hvp.applyToParts(parts));
      }
      expect(tf.memory().numTensors).toBe(start);
      tf.dispose(parts);
    }
    v.dispose();
  });

  it('exact HVPs match the reference to 1e-5 with softplus or relu and twiceDifferentiableSoftmaxCrossEntropy', async () => {
    for (const activation of ['softplus', 'relu'] as const) {
      const { model, theta } = tinyMlp({
        activation,
        loss: 'crossEntropy',
        examples: 6,
        seed: 'x',
      });
      // The float64 reference differences with h = 1e-4: no relu kink may be that close.
      expect(minPreActivation(model, theta)).toBeGreaterThan(1e-2);
      const net = tfMlp(model, theta);
      const [W1, b1, W2, b2] = net.variables as [
        tf.Variable,
        tf.Variable,
        tf.Variable,
        tf.Variable,
      ];
      const loss = (batch: { xs: tf.Tensor2D; ys: tf.Tensor2D }) =>
        tf.tidy(() => {
          const z1 = tf.add(tf.matMul(batch.xs, W1), b1);
          const a1 = activation === 'relu' ? tf.relu(z1) : tf.softplus(z1);
          return twiceDifferentiableSoftmaxCrossEntropy(batch.ys, tf.add(tf.matMul(a1, W2), b2));
        });
      const H = mlpHessian(model, theta);
      const hvp = createHvp({
        variables: net.variables,
        loss,
        data: [net.batch([0, 1, 2, 3, 4, 5])],
        method: 'exact',
      });
      const v = theta.map(gaussians('xv'));
      const hv = await hvp.apply(tf.tensor1d(v));
      // float32 rounding only (≈ 1e-7 per op); 1e-5 leaves room for accumulation.
      expect(relativeError(await hv.data(), matVec(H, v))).toBeLessThan(1e-5);
    }
  });
});

describe('createHvp input errors', () => {
  const x = () => tf.variable(tf.ones([3]));
  const sumSquares = (v: tf.Variable) => () => tf.sum(tf.square(v)) as tf.Scalar;

  it('rejects bad variables, losses and options with one-line messages', () => {
    const v = x();
    const loss = sumSquares(v);
    const oneLine = (f: () => unknown, pattern: RegExp) => {
      expect(f).toThrow(EstimatorError);
      expect(f).toThrow(pattern);
      try {
        f();
      } catch (error) {
        expect((error as Error).message).not.toContain('\n');
      }
    };
    oneLine(
      () => createHvp({ variables: [], loss }),
      /variables must be a non-empty array of tf\.Variables, got an array of length 0/,
    );
    oneLine(
      () => createHvp({ variables: [tf.ones([2]) as unknown as tf.Variable], loss }),
      /variables\[0\] is not a tf\.Variable/,
    );
    oneLine(
      () => createHvp({ variables: [tf.variable(tf.ones([2]), false)], loss }),
      /not trainable/,
    );
    oneLine(() => createHvp({ variables: [v, v], loss }), /listed twice/);
    oneLine(
      () => createHvp({ variables: [v], loss, method: 'forward' as 'exact' }),
      /method must be 'exact' or 'central', got 'forward'/,
    );
    oneLine(
      () => createHvp({ variables: [v], loss, epsilon: 0 }),
      /epsilon must be a finite number > 0/,
    );
    oneLine(
      () =>
        createHvp({
          variables: [v],
          loss,
          data: (function* () {
            yield 1;
          })(),
        }),
      /one-shot iterator.*pass an array or a function/,
    );
  });

  it('rejects empty data, non-finite and non-scalar losses, bad weights and wrong v', async () => {
    const v = x();
    const ones = tf.ones([3]) as tf.Tensor1D;
    await expect(
      createHvp({ variables: [v], loss: sumSquares(v), data: [] }).apply(ones),
    ).rejects.toThrow(/data yielded no batches/);
    await expect(
      createHvp({
        variables: [v],
        loss: () => tf.mul(tf.sum(v), Number.NaN) as tf.Scalar,
        method: 'central',
      }).apply(ones),
    ).rejects.toThrow(/the loss is NaN on batch 0 at x \+ εv; check the model and data/);
    await expect(
      createHvp({ variables: [v], loss: () => tf.mul(tf.sum(v), Number.NaN) as tf.Scalar }).apply(
        ones,
      ),
    ).rejects.toThrow(/the loss is NaN on batch 0 at x; check the model and data/);
    await expect(
      createHvp({ variables: [v], loss: () => tf.square(v) as tf.Scalar }).apply(ones),
    ).rejects.toThrow(/the loss returned a tensor of shape \[3\]; return a scalar/);
    await expect(
      createHvp({ variables: [v], loss: sumSquares(v), data: [1], batchSize: () => 0 }).apply(ones),
    ).rejects.toThrow(/batch 0 has weight 0/);
    await expect(
      createHvp({ variables: [v], loss: sumSquares(v) }).apply(tf.ones([4]) as tf.Tensor1D),
    ).rejects.toThrow(
      /apply\(v\) needs a float32 tensor of shape \[3\].*got a float32 tensor of shape \[4\]/,
    );
    const other = tf.variable(tf.ones([2]));
    await expect(
      createHvp({ variables: [other], loss: sumSquares(v) }).apply(tf.ones([2]) as tf.Tensor1D),
    ).rejects.toThrow(/the loss does not depend on any of the variables/);
  });

  it('exact: errors from the loss itself pass through unchanged', async () => {
    const v = x();
    const ones = tf.ones([3]) as tf.Tensor1D;
    const throwing = createHvp({
      variables: [v],
      loss: () => {
        throw new Error('boom');
      },
      method: 'exact',
    });
    await expect(throwing.apply(ones)).rejects.toThrow(/^boom$/);
    const other = tf.variable(tf.ones([3]));
    const unrelated = createHvp({ variables: [other], loss: sumSquares(v), method: 'exact' });
    await expect(unrelated.apply(ones)).rejects.toThrow(
      /the loss does not depend on any of the variables/,
    );
  });

  it('exact: refuses losses through customGrad ops that drop second-order terms, alone or behind hidden layers', async () => {
    const w1 = tf.variable(tf.tensor2d([0.3, -0.2, 0.1, 0.4, 0.5, -0.6], [2, 3]));
    const w2 = tf.variable(tf.tensor2d([0.2, -0.1, 0.7, 0.3, -0.5, 0.4], [3, 2]));
    const xs = tf.tensor2d([1, 2, -1, 0.5], [2, 2]);
    const ys = tf.tensor2d([1, 0, 0, 1], [2, 2]);
    const hidden = () => tf.matMul(tf.relu(tf.matMul(xs, w1)), w2);
    const userCustomGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [t, save] = args as [tf.Tensor, tf.GradSaveFunc];
      const y = tf.exp(t);
      save([y]); // an intermediate computed off the tape: its path is lost
      return { value: y, gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => tf.mul(dy, s!) };
    }) as (t: tf.Tensor) => tf.Tensor;
    const cases: [string, () => tf.Scalar, RegExp][] = [
      [
        'softmaxCrossEntropy, linear model',
        () =>
          tf.losses.softmaxCrossEntropy(
            ys,
            tf.matMul(xs, tf.slice(w1, [0, 0], [2, 2])),
          ) as tf.Scalar,
        /'softmaxCrossEntropy'.*use twiceDifferentiableSoftmaxCrossEntropy/,
      ],
      [
        // The silent case before: tfjs returns a number, with terms missing.
        'softmaxCrossEntropy behind a hidden layer',
        () => tf.losses.softmaxCrossEntropy(ys, hidden()) as tf.Scalar,
        /customGrad op 'softmaxCrossEntropy', whose second derivative tfjs drops/,
      ],
      [
        'logSoftmax',
        () => tf.neg(tf.sum(tf.mul(ys, tf.logSoftmax(hidden())))) as tf.Scalar,
        /'logSoftmax'/,
      ],
      [
        'logSigmoid',
        () => tf.neg(tf.sum(tf.logSigmoid(hidden()))) as tf.Scalar,
        /'logSigmoid'.*rewrite it with plain ops/,
      ],
      ['a user customGrad', () => tf.sum(userCustomGrad(hidden())) as tf.Scalar, /customGrad op/],
    ];
    for (const [name, loss, pattern] of cases) {
      const hvp = createHvp({ variables: [w1, w2], loss });
      await expect(hvp.apply(tf.ones([12]) as tf.Tensor1D), name).rejects.toThrow(pattern);
    }
    // The same network with the twice-differentiable loss is accepted, and a
    // customGrad on a path that does not reach the variables is harmless.
    const ok = createHvp({
      variables: [w1, w2],
      loss: () =>
        tf.add(
          twiceDifferentiableSoftmaxCrossEntropy(ys, hidden()),
          tf.sum(tf.logSigmoid(xs)),
        ) as tf.Scalar,
    });
    (await ok.apply(tf.ones([12]) as tf.Tensor1D)).dispose();
    tf.dispose([w1, w2, xs, ys]);
  });

  it('exact: a loss linear in the variables has H = 0', async () => {
    const v = x();
    const hvp = createHvp({ variables: [v], loss: () => tf.sum(tf.mul(v, 3)) as tf.Scalar });
    const hv = await hvp.apply(tf.ones([3]) as tf.Tensor1D);
    expect(Array.from(await hv.data())).toEqual([0, 0, 0]);
  });

  it('exact: tanh is twice differentiable once @usam/backend registered its second-order gradient', async () => {
    const v = x();
    const hvp = createHvp({
      variables: [v],
      loss: () => tf.sum(tf.tanh(v)) as tf.Scalar,
      method: 'exact',
    });
    const hv = await hvp.apply(tf.ones([3]) as tf.Tensor1D);
    // d²/dx² tanh = −2 tanh(x)(1 − tanh²(x)); the Hessian is diagonal.
    const want = Array.from(await v.data()).map((t) => -2 * Math.tanh(t) * (1 - Math.tanh(t) ** 2));
    expect(relativeError(await hv.data(), want)).toBeLessThan(1e-5);
  });

  it('accepts a function returning fresh batches, and refuses data that changes between passes', async () => {
    const v = x();
    const loss = (scale: number) => tf.mul(scale, tf.sum(tf.square(v))) as tf.Scalar;
    const ones = tf.ones([3]) as tf.Tensor1D;
    const fresh = createHvp({ variables: [v], loss, data: () => [1, 3] });
    // H = mean(1, 3) · 2I = 4I
    expect(
      Array.from(await (await fresh.apply(ones)).data()).map((h) => Math.round(h * 1e3) / 1e3),
    ).toEqual([4, 4, 4]);
    let pass = 0;
    const changing = createHvp({
      variables: [v],
      loss,
      data: () => (pass++ === 0 ? [1, 2] : [1]),
      method: 'central', // two passes per product
    });
    await expect(changing.apply(ones)).rejects.toThrow(/the data changed between passes/);
  });
});
