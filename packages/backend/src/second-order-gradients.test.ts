import * as tf from '@tensorflow/tfjs-core';
// tfjs's own gradients, captured below before initBackend replaces some of them. After
// tfjs-core: the first copy of tfjs-core to load defines the Tensor class every copy uses.
import './node-registrations';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from './differential';
import { initBackend } from './node';
import { registerSecondOrderGradients, SECOND_ORDER_GRADIENTS } from './second-order-gradients';

const OVERRIDDEN = [
  ...['Exp', 'Tanh', 'Sigmoid', 'Elu', 'Softmax', 'LogSoftmax', 'Pow', 'LRN'],
  ...['FusedBatchNorm', 'Mean', 'Sum'],
];
const ORIGINAL = OVERRIDDEN.map((name) => tf.getGradient(name)!);

/** Runs `fn` with tfjs's own gradients for the overridden ops, then puts ours back. */
function withOriginalGradients<T>(fn: () => T): T {
  for (const config of ORIGINAL) tf.registerGradient(config);
  try {
    return fn();
  } finally {
    registerSecondOrderGradients();
  }
}

// ---------------------------------------------------------------------------
// Helpers: deterministic data, reading tensors, comparisons, leak checks.

function uniform(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  // mulberry32; values rounded to float32 so tfjs and the float64 reference see the same point.
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = Math.fround(lo + (hi - lo) * u);
  }
  return out;
}

/** Evaluates `fn` in a tidy and returns its values as float64, leaving no tensors behind. */
function values(fn: () => tf.Tensor): Float64Array {
  const t = tf.tidy(fn);
  const out = Float64Array.from(t.dataSync());
  t.dispose();
  return out;
}

const maxAbs = (a: ArrayLike<number>) =>
  Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** ‖got − want‖∞ / ‖want‖∞, the error measure used throughout. */
function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  return err / maxAbs(want);
}

function expectRelClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number) {
  expect(maxAbs(want)).toBeGreaterThan(0);
  expect(relError(got, want)).toBeLessThan(rtol);
}

/** Elementwise |got − want| ≤ atol + rtol·|want|. */
function expectElementsClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    expect(
      Math.abs(got[i]! - want[i]!),
      `element ${i}: ${got[i]} vs ${want[i]}`,
    ).toBeLessThanOrEqual(atol + rtol * Math.abs(want[i]!));
  }
}

function expectNoLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const result = fn();
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const basis = (n: number, i: number) => {
  const e = new Float64Array(n);
  e[i] = 1;
  return e;
};

/** A float32 tensor from float64 values (tfjs takes only float32 typed arrays). */
const t32 = (data: ArrayLike<number>, shape: number[]) =>
  tf.tensor(Float32Array.from(data), shape, 'float32');

/**
 * A scalar function of several tensors, in tfjs (float32) and as a float64 JS
 * reference, with the shapes and the scale of random values for each argument.
 */
interface Problem {
  shapes: number[][];
  scales: number[];
  f32(parts: tf.Tensor[]): tf.Scalar;
  f64(parts: Arr[]): number;
}

function split<T>(
  flat: T,
  shapes: number[][],
  take: (flat: T, offset: number, shape: number[]) => T[],
) {
  const out: T[] = [];
  let offset = 0;
  for (const shape of shapes) {
    out.push(...take(flat, offset, shape));
    offset += size(shape);
  }
  return out;
}

const split32 = (flat: tf.Tensor, shapes: number[][]) =>
  split(flat, shapes, (f, offset, shape) => [
    tf.reshape(tf.slice(f, [offset], [size(shape)]), shape),
  ]);

const split64 = (flat: Float64Array, shapes: number[][]): Arr[] =>
  shapes.map((shape, i) => {
    const offset = shapes.slice(0, i).reduce((s, sh) => s + size(sh), 0);
    return { shape, data: flat.subarray(offset, offset + size(shape)) };
  });

/** Random parameters for a problem (each part at its scale) and a random direction. */
function pointAndDirection(problem: Problem, seed: number) {
  const parts = problem.shapes.map((shape, i) =>
    uniform(size(shape), seed + i).map((x) => Math.fround(x * problem.scales[i]!)),
  );
  const point = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    point.set(p, offset);
    offset += p.length;
  }
  return { point, direction: uniform(point.length, seed + 100) };
}

/** Exact HVP by reverse over reverse: ∇(v · ∇L). */
function exactHvp(problem: Problem, point: Float64Array, direction: Float64Array): Float64Array {
  const loss = (flat: tf.Tensor) => problem.f32(split32(flat, problem.shapes));
  return values(() => {
    const v = t32(direction, [direction.length]);
    return tf.grad((flat: tf.Tensor) => tf.sum(tf.mul(tf.grad(loss)(flat), v)))(
      t32(point, [point.length]),
    );
  });
}

/**
 * Float64 reference: (Hv)_i = e_iᵀHv from four evaluations of the float64
 * function, [f(x+he_i+hv) − f(x+he_i−hv) − f(x−he_i+hv) + f(x−he_i−hv)] / 4h².
 * With h = 1e-4 the truncation error is O(h²) ≈ 1e-8 and rounding about
 * 1e-16·|f|/h² ≈ 1e-8·|f|, both far below float32 tolerances.
 */
function referenceHvp(problem: Problem, point: Float64Array, direction: Float64Array, h = 1e-4) {
  const n = point.length;
  const q = new Float64Array(n);
  const at = (i: number, si: number, sv: number) => {
    for (let k = 0; k < n; k++) q[k] = point[k]! + sv * h * direction[k]!;
    q[i]! += si * h;
    return problem.f64(split64(q, problem.shapes));
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (at(i, 1, 1) - at(i, 1, -1) - at(i, -1, 1) + at(i, -1, -1)) / (4 * h * h);
  }
  return out;
}

/** The exact HVP's relative error against the float64 reference. */
function hvpError(problem: Problem, seed: number): number {
  const { point, direction } = pointAndDirection(problem, seed);
  const got = expectNoLeak(() => exactHvp(problem, point, direction));
  return relError(got, referenceHvp(problem, point, direction));
}

// ---------------------------------------------------------------------------
// Float64 reference ops (NHWC), following tfjs's padding and pooling rules.

interface Arr {
  shape: number[];
  data: Float64Array;
}
type Pad = 'same' | 'valid' | number;

const zeros64 = (shape: number[]): Arr => ({ shape, data: new Float64Array(size(shape)) });
const map64 = (a: Arr, f: (x: number, i: number) => number): Arr => ({
  shape: a.shape,
  data: a.data.map(f),
});
const sumCubes64 = (a: Arr) => a.data.reduce((s, x) => s + x * x * x, 0);
const addBias64 = (a: Arr, b: Arr) => map64(a, (x, i) => x + b.data[i % b.data.length]!);
const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));

/** Output size and leading padding of one spatial axis, as tfjs computes them. */
function axis(inSize: number, k: number, stride: number, pad: Pad) {
  if (pad === 'valid') return { out: Math.ceil((inSize - k + 1) / stride), before: 0 };
  if (pad === 'same') {
    const out = Math.ceil(inSize / stride);
    return { out, before: Math.floor(Math.max((out - 1) * stride + k - inSize, 0) / 2) };
  }
  return { out: Math.floor((inSize - k + 2 * pad) / stride) + 1, before: pad };
}

/** Calls `visit(b, oy, ox, iy, ix)` for every in-bounds input pixel of every window. */
function forWindows(
  inShape: number[],
  k: number,
  stride: number,
  pad: Pad,
  visit: (
    b: number,
    oy: number,
    ox: number,
    iy: number,
    ix: number,
    ky: number,
    kx: number,
  ) => void,
) {
  const [n, h, w] = inShape as [number, number, number];
  const ay = axis(h, k, stride, pad);
  const ax = axis(w, k, stride, pad);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ay.out; oy++) {
      for (let ox = 0; ox < ax.out; ox++) {
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride - ay.before + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * stride - ax.before + kx;
            if (ix >= 0 && ix < w) visit(b, oy, ox, iy, ix, ky, kx);
          }
        }
      }
    }
  }
  return [n, ay.out, ax.out];
}

/** conv2d (w: [k, k, C, M]) or depthwise (w: [k, k, C, mult], out channel c·mult + q). */
function conv64(x: Arr, w: Arr, stride: number, pad: Pad, depthwise = false): Arr {
  const [, h, wd, c] = x.shape as [number, number, number, number];
  const [k, , , m] = w.shape as [number, number, number, number];
  const outC = depthwise ? c * m : m;
  const [n, oh, ow] = forWindows(x.shape, k, stride, pad, () => {}) as [number, number, number];
  const y = zeros64([n, oh, ow, outC]);
  forWindows(x.shape, k, stride, pad, (b, oy, ox, iy, ix, ky, kx) => {
    const xo = ((b * h + iy) * wd + ix) * c;
    const yo = ((b * oh + oy) * ow + ox) * outC;
    for (let ci = 0; ci < c; ci++) {
      const xv = x.data[xo + ci]!;
      const wo = ((ky * k + kx) * c + ci) * m;
      for (let q = 0; q < m; q++) {
        y.data[yo + (depthwise ? ci * m + q : q)]! += xv * w.data[wo + q]!;
      }
    }
  });
  return y;
}

/** conv2dTranspose: the adjoint of conv64(·, w) on inputs of `outShape`. */
function convTranspose64(dy: Arr, w: Arr, outShape: number[], stride: number, pad: Pad): Arr {
  const [, h, wd, c] = outShape as [number, number, number, number];
  const [k, , , m] = w.shape as [number, number, number, number];
  const [, oh, ow] = dy.shape as [number, number, number];
  const x = zeros64(outShape);
  forWindows(outShape, k, stride, pad, (b, oy, ox, iy, ix, ky, kx) => {
    const xo = ((b * h + iy) * wd + ix) * c;
    const yo = ((b * oh + oy) * ow + ox) * m;
    for (let ci = 0; ci < c; ci++) {
      const wo = ((ky * k + kx) * c + ci) * m;
      for (let q = 0; q < m; q++) x.data[xo + ci]! += dy.data[yo + q]! * w.data[wo + q]!;
    }
  });
  return x;
}

/** maxPool, or avgPool dividing by the number of in-bounds pixels (tfjs's forward). */
function pool64(x: Arr, k: number, stride: number, pad: Pad, kind: 'max' | 'avg'): Arr {
  const [, h, wd, c] = x.shape as [number, number, number, number];
  const [n, oh, ow] = forWindows(x.shape, k, stride, pad, () => {}) as [number, number, number];
  const y = zeros64([n, oh, ow, c]);
  const count = new Float64Array(n * oh * ow);
  y.data.fill(kind === 'max' ? Number.NEGATIVE_INFINITY : 0);
  forWindows(x.shape, k, stride, pad, (b, oy, ox, iy, ix) => {
    const o = (b * oh + oy) * ow + ox;
    count[o]! += 1;
    for (let ci = 0; ci < c; ci++) {
      const xv = x.data[((b * h + iy) * wd + ix) * c + ci]!;
      const yi = o * c + ci;
      y.data[yi] = kind === 'max' ? Math.max(y.data[yi]!, xv) : y.data[yi]! + xv;
    }
  });
  return kind === 'max' ? y : map64(y, (v, i) => v / count[Math.floor(i / c)]!);
}

/** Rows of the last axis of a rank-2 array. */
function rows64(a: Arr): number[][] {
  const [r, c] = a.shape as [number, number];
  return Array.from({ length: r }, (_, i) => Array.from(a.data.subarray(i * c, (i + 1) * c)));
}

function softmax64(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Mean cross-entropy of softmax(logits) against one-hot labels, float64. */
function crossEntropy64(logits: number[][], labels: number[]): number {
  let total = 0;
  logits.forEach((row, i) => {
    total -= Math.log(softmax64(row)[labels[i]!]!);
  });
  return total / logits.length;
}

/** Training-mode BatchNorm as tfjs-layers builds it: statistics from tf.moments, on the tape. */
const BN_EPSILON = 1e-3;
const batchNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, BN_EPSILON);
};

// ---------------------------------------------------------------------------

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

it('initBackend registers every second-order gradient', () => {
  for (const config of SECOND_ORDER_GRADIENTS) {
    expect(tf.getGradient(config.kernelName), config.kernelName).toBe(config);
  }
});

describe.each(['cpu', 'wasm'])('second-order gradients on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  const POINTS = [-2.5, -1, -0.3, 0.4, 1.2, 2.7];

  describe('first-order gradients are unchanged', () => {
    /** Gradient of Σ w·f(inputs) with our gradients and with tfjs's. */
    function bothGradients(
      f: (xs: tf.Tensor[]) => tf.Tensor,
      inputs: Float64Array[],
      shapes: number[][],
    ) {
      const run = () =>
        values(() => {
          const xs = inputs.map((x, i) => t32(x, shapes[i]!));
          const { shape } = f(xs);
          const w = t32(uniform(size(shape), 99), shape);
          const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(ys), w)))(xs);
          return tf.concat(grads.map((g) => tf.reshape(g, [-1])));
        });
      return { ours: run(), theirs: withOriginalGradients(run) };
    }

    const elementwise: [string, (x: tf.Tensor) => tf.Tensor][] = [
      ['exp', tf.exp],
      ['tanh', tf.tanh],
      ['sigmoid', tf.sigmoid],
      ['elu', tf.elu],
    ];
    it.each(elementwise)('%s', (_name, f) => {
      const x = Float64Array.from([...uniform(60, 1, -4, 4), 0, -20, 20]);
      const { ours, theirs } = bothGradients(([t]) => f(t!), [x], [[x.length]]);
      // Same formulas on the same values, except elu: tfjs forms exp(x) as elu(x) + 1, which
      // rounds differently by up to one float32 ulp of 1 (6e-8) times |dy| ≤ 1.
      expectElementsClose(ours, theirs, 0, 1.2e-7);
    });

    it('softmax', () => {
      const { ours, theirs } = bothGradients(
        ([t]) => tf.softmax(t!),
        [uniform(15, 2, -3, 3)],
        [[3, 5]],
      );
      expectElementsClose(ours, theirs, 0, 0);
    });

    it('pow, with broadcasting, in base and exponent', () => {
      const { ours, theirs } = bothGradients(
        ([a, b]) => tf.pow(a!, b!),
        [uniform(6, 3, 0.3, 2), uniform(3, 4, -2, 2)],
        [[2, 3], [3]],
      );
      expectElementsClose(ours, theirs, 0, 0);
    });

    it('LRN (tfjs uses the LRNGrad kernel; ours is built from ops)', () => {
      const { ours, theirs } = bothGradients(
        ([x]) => tf.localResponseNormalization(x as tf.Tensor4D, 2, 1.5, 0.3, 0.75),
        [uniform(2 * 2 * 2 * 7, 5, -2, 2)],
        [[2, 2, 2, 7]],
      );
      // Different association of the same float32 sums: a few ulps of values of order 1.
      expectRelClose(ours, theirs, 1e-6);
    });

    it('BatchNorm in training mode (broadcasts where tfjs tiles), and in eval mode', () => {
      const shapes = [[2, 3, 3, 4], [4], [4]];
      const inputs = [uniform(72, 6, -2, 2), uniform(4, 7, 0.5, 2), uniform(4, 8)];
      const training = bothGradients(([x, g, b]) => batchNorm(x!, g!, b!), inputs, shapes);
      const stats = [uniform(4, 9), uniform(4, 10, 0.2, 1)];
      const evalMode = bothGradients(
        ([x, g, b, m, v]) => tf.batchNorm(x!, m!, v!, b!, g!, BN_EPSILON),
        [...inputs, ...stats],
        [...shapes, [4], [4]],
      );
      // Same terms, summed in another order (sums of 18 to 72 products): float32 rounding.
      expectRelClose(training.ours, training.theirs, 1e-5);
      expectRelClose(evalMode.ours, evalMode.theirs, 1e-5);
    });

    it('mean and sum over some axes', () => {
      const x = [uniform(24, 11)];
      for (const f of [
        ([t]: tf.Tensor[]) => tf.mean(t!, [0, 2]),
        ([t]: tf.Tensor[]) => tf.sum(t!, 1, true),
        ([t]: tf.Tensor[]) => tf.mean(t!),
      ]) {
        const { ours, theirs } = bothGradients(f, x, [[2, 3, 4]]);
        expectElementsClose(ours, theirs, 1e-7, 0);
      }
    });
  });

  describe('second derivatives of elementwise ops match closed forms', () => {
    /** f″ (or f‴) at POINTS by tf.grad of tf.grad of Σ f. */
    function derivative(f: (x: tf.Tensor) => tf.Tensor, order: number) {
      let g = (x: tf.Tensor) => f(x);
      for (let i = 0; i < order; i++) {
        const inner = g;
        g = (x: tf.Tensor) => tf.grad((y: tf.Tensor) => tf.sum(inner(y)))(x);
      }
      return expectNoLeak(() => values(() => g(tf.tensor1d(POINTS))));
    }
    const t = (x: number) => Math.tanh(x);
    const cases: [string, (x: tf.Tensor) => tf.Tensor, number, (x: number) => number][] = [
      ['exp″', tf.exp, 2, Math.exp],
      ['tanh″', tf.tanh, 2, (x) => -2 * t(x) * (1 - t(x) ** 2)],
      ['tanh‴', tf.tanh, 3, (x) => -2 * (1 - t(x) ** 2) * (1 - 3 * t(x) ** 2)],
      [
        'sigmoid″',
        tf.sigmoid,
        2,
        (x) => sigmoid64(x) * (1 - sigmoid64(x)) * (1 - 2 * sigmoid64(x)),
      ],
      // softplus′ is σ, so its third derivative differentiates sigmoid's gradient.
      [
        'softplus‴',
        tf.softplus,
        3,
        (x) => sigmoid64(x) * (1 - sigmoid64(x)) * (1 - 2 * sigmoid64(x)),
      ],
      ['elu″', tf.elu, 2, (x) => (x < 0 ? Math.exp(x) : 0)],
      [
        'selu″ (via greater)',
        tf.selu,
        2,
        (x) => (x < 0 ? 1.0507009873554805 * 1.6732632423543772 * Math.exp(x) : 0),
      ],
    ];
    it.each(cases)('%s', (_name, f, order, want) => {
      // A handful of float32 ops per value: 1e-5 relative is ~100 ulps; the absolute
      // 1e-6 covers cancellation in 1 − tanh² and 1 − 2σ near their zeros.
      expectElementsClose(derivative(f, order), POINTS.map(want), 1e-5, 1e-6);
    });

    it('pow: the full Hessian in base and exponent', () => {
      const a = uniform(4, 6, 0.3, 2);
      const b = uniform(4, 7, -1.5, 2.5);
      const [va, vb] = [uniform(4, 8), uniform(4, 9)];
      const got = expectNoLeak(() =>
        values(() => {
          const [at, bt] = [t32(a, [4]), t32(b, [4])];
          const [vat, vbt] = [t32(va, [4]), t32(vb, [4])];
          const hv = tf.grads((x: tf.Tensor, y: tf.Tensor) => {
            const [gx, gy] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.pow(p, q)))([x, y]);
            return tf.add(tf.sum(tf.mul(gx!, vat)), tf.sum(tf.mul(gy!, vbt)));
          })([at, bt]);
          return tf.concat(hv);
        }),
      );
      const want = new Float64Array(8);
      for (let i = 0; i < 4; i++) {
        const [x, y] = [a[i]!, b[i]!];
        const haa = y * (y - 1) * x ** (y - 2);
        const hab = x ** (y - 1) * (1 + y * Math.log(x));
        const hbb = x ** y * Math.log(x) ** 2;
        want[i] = haa * va[i]! + hab * vb[i]!;
        want[i + 4] = hab * va[i]! + hbb * vb[i]!;
      }
      expectElementsClose(got, want, 1e-5, 1e-6);
    });

    // Gradients that mask with a comparison (equal, greater, lessEqual, logicalAnd);
    // f(x) = op(x³), whose second derivative is 6x times the op's slope there.
    const X = [0.3, -1.2, 0.7, 0.1, 1.5];
    const cube = (y: tf.Tensor) => tf.pow(y, 3);
    const masked: [string, (y: tf.Tensor) => tf.Tensor, (v: number, i: number) => number][] = [
      ['max', (y) => tf.max(cube(y)), (_, i) => (i === 4 ? 1 : 0)],
      ['min', (y) => tf.min(cube(y)), (_, i) => (i === 1 ? 1 : 0)],
      ['leakyRelu', (y) => tf.leakyRelu(cube(y), 0.1), (v) => (v > 0 ? 1 : 0.1)],
      ['prelu', (y) => tf.prelu(cube(y), tf.scalar(0.25)), (v) => (v > 0 ? 1 : 0.25)],
      ['relu6', (y) => tf.relu6(cube(y)), (v) => (v > 0 && v ** 3 < 6 ? 1 : 0)],
      [
        'clipByValue',
        (y) => tf.clipByValue(cube(y), -0.5, 0.5),
        (v) => (v ** 3 < 0.5 && v ** 3 > -0.5 ? 1 : 0),
      ],
    ];
    it.each(masked)('%s″ (comparison masks)', (_name, f, slope) => {
      const got = expectNoLeak(() =>
        values(() =>
          tf.grad((y: tf.Tensor) => tf.sum(tf.grad((z: tf.Tensor) => tf.sum(f(z)))(y)))(
            tf.tensor1d(X),
          ),
        ),
      );
      // Exact masks times 6x: float32 rounding of 6x only.
      expectElementsClose(
        got,
        X.map((v, i) => 6 * v * slope(v, i)),
        1e-6,
        1e-7,
      );
    });
  });

  describe('Hessian-vector products match a float64 reference', () => {
    // Float32 reverse over reverse, tens to hundreds of terms per entry: measured
    // errors are 3e-8 to 2e-7 (‖·‖∞ relative) on cpu and wasm; 2e-6 leaves ×10 margin.
    // A dropped second-order term shows up at 1e-3 or more.
    const RTOL = 2e-6;

    it('softmax: Σ c·softmax² + w·softmax over rows', () => {
      const c = uniform(15, 11);
      const w = uniform(15, 12);
      const problem: Problem = {
        shapes: [[3, 5]],
        scales: [2],
        f32: ([x]) => {
          const s = tf.softmax(x!);
          return tf.add(
            tf.sum(tf.mul(t32(c, [3, 5]), tf.square(s))),
            tf.sum(tf.mul(t32(w, [3, 5]), s)),
          );
        },
        f64: ([x]) => {
          const s = rows64(x!).flatMap(softmax64);
          return s.reduce((acc, v, i) => acc + c[i]! * v * v + w[i]! * v, 0);
        },
      };
      expect(hvpError(problem, 20)).toBeLessThan(RTOL);
    });

    it('log-softmax as x − logSumExp(x) (max with a zero-gradient mask)', () => {
      const w = uniform(15, 13);
      const problem: Problem = {
        shapes: [[3, 5]],
        scales: [2],
        f32: ([x]) => {
          const ls = tf.sub(x!, tf.logSumExp(x!, -1, true));
          return tf.sum(tf.mul(t32(w, [3, 5]), tf.mul(ls, ls)));
        },
        f64: ([x]) => {
          const ls = rows64(x!).flatMap((row) => softmax64(row).map(Math.log));
          return ls.reduce((acc, v, i) => acc + w[i]! * v * v, 0);
        },
      };
      expect(hvpError(problem, 21)).toBeLessThan(RTOL);
    });

    it('the LogSoftmax kernel (as tfjs-node runs it)', () => {
      // cpu and wasm have no LogSoftmax kernel (tf.logSoftmax is a customGrad), so
      // register a plain one for this test to reach the LogSoftmax gradient.
      tf.registerKernel({
        kernelName: tf.LogSoftmax,
        backendName: backend,
        kernelFunc: ({ inputs, backend }) => {
          const b = backend as tf.KernelBackend;
          const { logits } = inputs as { logits: tf.TensorInfo };
          const x = Array.from(b.readSync(logits.dataId) as Float32Array);
          const cols = logits.shape[1]!;
          const out = new Float32Array(x.length);
          for (let r = 0; r < x.length / cols; r++) {
            const row = x.slice(r * cols, (r + 1) * cols);
            softmax64(row).forEach((p, j) => {
              out[r * cols + j] = Math.log(p);
            });
          }
          return {
            dataId: b.write(out, logits.shape, 'float32'),
            shape: logits.shape,
            dtype: 'float32',
          };
        },
      });
      try {
        const w = uniform(15, 14);
        const c = uniform(15, 15);
        const logSoftmax = (x: tf.Tensor) =>
          tf.engine().runKernel(tf.LogSoftmax, { logits: x }, { axis: 1 }) as tf.Tensor;
        const problem: Problem = {
          shapes: [[3, 5]],
          scales: [2],
          f32: ([x]) => {
            const ls = logSoftmax(x!);
            return tf.add(
              tf.sum(tf.mul(t32(w, [3, 5]), ls)),
              tf.sum(tf.mul(t32(c, [3, 5]), tf.square(ls))),
            );
          },
          f64: ([x]) => {
            const ls = rows64(x!).flatMap((row) => softmax64(row).map(Math.log));
            return ls.reduce((acc, v, i) => acc + w[i]! * v + c[i]! * v * v, 0);
          },
        };
        expect(hvpError(problem, 22)).toBeLessThan(RTOL);
        // And its first-order gradient agrees with tfjs's (exp of the saved output).
        const x = uniform(15, 16, -3, 3);
        const grad = () =>
          values(() =>
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(logSoftmax(t), t32(w, [3, 5]))))(
              t32(x, [3, 5]),
            ),
          );
        expectRelClose(grad(), withOriginalGradients(grad), 1e-6);
      } finally {
        tf.unregisterKernel(tf.LogSoftmax, backend);
      }
    });

    it('LRN', () => {
      const [depthRadius, bias, alpha, beta] = [2, 1.5, 0.3, 0.75];
      const w = uniform(2 * 2 * 7, 17);
      const problem: Problem = {
        shapes: [[1, 2, 2, 7]],
        scales: [2],
        f32: ([x]) => {
          const y = tf.localResponseNormalization(x as tf.Tensor4D, depthRadius, bias, alpha, beta);
          return tf.add(tf.sum(tf.mul(t32(w, [1, 2, 2, 7]), y)), tf.sum(tf.square(y)));
        },
        f64: ([x]) => {
          let total = 0;
          for (let i = 0; i < x!.data.length; i++) {
            const ch = i % 7;
            let s = 0;
            for (let k = Math.max(0, ch - depthRadius); k <= Math.min(6, ch + depthRadius); k++) {
              s += x!.data[i - ch + k]! ** 2;
            }
            const y = x!.data[i]! * (bias + alpha * s) ** -beta;
            total += w[i]! * y + y * y;
          }
          return total;
        },
      };
      expect(hvpError(problem, 23)).toBeLessThan(RTOL);
    });

    it('BatchNorm in training mode (statistics on the tape), then tanh', () => {
      const w = uniform(36, 18);
      const problem: Problem = {
        shapes: [[2, 3, 3, 2], [2], [2]],
        scales: [2, 1, 1],
        f32: ([x, g, b]) => tf.sum(tf.mul(t32(w, [2, 3, 3, 2]), tf.tanh(batchNorm(x!, g!, b!)))),
        f64: ([x, g, b]) => {
          let total = 0;
          for (let c = 0; c < 2; c++) {
            const xs = x!.data.filter((_, i) => i % 2 === c);
            const mean = xs.reduce((a, v) => a + v, 0) / xs.length;
            const variance = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / xs.length;
            const slope = g!.data[c]! / Math.sqrt(variance + BN_EPSILON);
            xs.forEach((v, k) => {
              total += w[2 * k + c]! * Math.tanh((v - mean) * slope + b!.data[c]!);
            });
          }
          return total;
        },
      };
      expect(hvpError(problem, 24)).toBeLessThan(RTOL);
    });

    /** Σ op(a, b)³ in both inputs, so the HVP needs every mixed term of the backprop kernels. */
    const cubic = (
      shapes: number[][],
      scales: number[],
      op32: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
      op64: (a: Arr, b: Arr) => Arr,
    ): Problem => ({
      shapes,
      scales,
      f32: ([a, b]) => tf.sum(tf.pow(op32(a!, b!), 3)),
      f64: ([a, b]) => sumCubes64(op64(a!, b!)),
    });

    /** The cubic of a 5×5×2 input and a 3×3 filter (2 → 3 channels, or depthwise ×2). */
    const convHvpError = (depthwise: boolean, stride: number, pad: Pad) =>
      hvpError(
        cubic(
          [
            [1, 5, 5, 2],
            [3, 3, 2, depthwise ? 2 : 3],
          ],
          [1, depthwise ? 0.5 : 0.3],
          (x, w) =>
            (depthwise ? tf.depthwiseConv2d : tf.conv2d)(
              x as tf.Tensor4D,
              w as tf.Tensor4D,
              stride,
              pad,
            ),
          (x, w) => conv64(x, w, stride, pad, depthwise),
        ),
        depthwise ? 31 : 30,
      );

    it.each([
      [1, 'same'],
      [2, 'valid'],
      [2, 'same'],
      [1, 1],
    ] as [number, Pad][])('conv2d, stride %s, pad %s (Conv2DBackpropFilter/Input)', (stride, pad) =>
      expect(convHvpError(false, stride, pad)).toBeLessThan(RTOL),
    );

    it.each([
      [1, 'same'],
      [2, 'valid'],
    ] as [number, Pad][])(
      'depthwiseConv2d, stride %s, pad %s (depthwise backprop kernels)',
      (stride, pad) => expect(convHvpError(true, stride, pad)).toBeLessThan(RTOL),
    );

    it.each([
      [2, 'same', [1, 3, 3, 3]],
      [1, 'valid', [1, 3, 3, 3]],
    ] as [number, Pad, number[]][])(
      'conv2dTranspose, stride %s, pad %s (tfjs Conv2DBackpropInput gradient)',
      (stride, pad, dyShape) => {
        const outShape: [number, number, number, number] = [1, 5, 5, 2];
        const problem = cubic(
          [dyShape, [3, 3, 2, 3]],
          [1, 0.4],
          (dy, w) =>
            tf.conv2dTranspose(
              dy as tf.Tensor4D,
              w as tf.Tensor4D,
              outShape,
              stride,
              pad as 'same' | 'valid',
            ),
          (dy, w) => convTranspose64(dy, w, outShape, stride, pad),
        );
        expect(hvpError(problem, 32)).toBeLessThan(RTOL);
      },
    );

    it.each([
      ['max', 2, 2, 'valid'],
      ['max', 3, 2, 'same'],
      ['max', 3, 1, 'same'],
      ['avg', 2, 2, 'valid'],
      ['avg', 3, 1, 'valid'],
      ['avg', 3, 2, 'valid'],
    ] as ['max' | 'avg', number, number, Pad][])(
      '%sPool size %s, stride %s, pad %s',
      (kind, k, stride, pad) => {
        const pool = kind === 'max' ? tf.maxPool : tf.avgPool;
        const problem: Problem = {
          shapes: [[1, 6, 6, 2]],
          scales: [1],
          f32: ([x]) => tf.sum(tf.pow(pool(x as tf.Tensor4D, k, stride, pad), 3)),
          f64: ([x]) => sumCubes64(pool64(x!, k, stride, pad, kind)),
        };
        expect(hvpError(problem, 33)).toBeLessThan(RTOL);
      },
    );

    it('a smooth conv net in all its inputs: conv → tanh → conv stride 2 → elu → avgPool → softmax CE', () => {
      const labels = [1, 3];
      const problem: Problem = {
        shapes: [[2, 6, 6, 2], [3, 3, 2, 3], [3], [3, 3, 3, 4]],
        scales: [1, 0.4, 0.2, 0.3],
        f32: ([x, w1, b1, w2]) => {
          const h1 = tf.tanh(
            tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'), b1!),
          ) as tf.Tensor4D;
          const h2 = tf.elu(tf.conv2d(h1, w2 as tf.Tensor4D, 2, 'same'));
          const logits = tf.reshape(tf.avgPool(h2, 3, 1, 'valid'), [2, 4]);
          const p = tf.softmax(logits);
          return tf.neg(tf.mean(tf.log(tf.sum(tf.mul(p, tf.oneHot(labels, 4)), 1)))) as tf.Scalar;
        },
        f64: ([x, w1, b1, w2]) => {
          const h1 = map64(addBias64(conv64(x!, w1!, 1, 'same'), b1!), Math.tanh);
          const h2 = map64(conv64(h1, w2!, 2, 'same'), (v) => (v > 0 ? v : Math.expm1(v)));
          return crossEntropy64(
            rows64({ shape: [2, 4], data: pool64(h2, 3, 1, 'valid', 'avg').data }),
            labels,
          );
        },
      };
      expect(hvpError(problem, 40)).toBeLessThan(RTOL);
    });

    it('a ReLU conv net: conv → relu → maxPool → depthwise → relu → conv stride 2 → CE via logSumExp', () => {
      const labels = [0, 2];
      const problem: Problem = {
        shapes: [[2, 6, 6, 2], [3, 3, 2, 4], [4], [3, 3, 4, 1], [3, 3, 4, 3]],
        scales: [1, 0.4, 0.2, 0.3, 0.3],
        f32: ([x, w1, b1, w2, w3]) => {
          const h1 = tf.maxPool(
            tf.relu(
              tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'), b1!),
            ) as tf.Tensor4D,
            2,
            2,
            'valid',
          );
          const h2 = tf.relu(tf.depthwiseConv2d(h1, w2 as tf.Tensor4D, 1, 'same'));
          const logits = tf.reshape(tf.conv2d(h2, w3 as tf.Tensor4D, 2, 'valid'), [2, 3]);
          const logProbs = tf.sub(logits, tf.logSumExp(logits, -1, true));
          return tf.neg(tf.mean(tf.sum(tf.mul(logProbs, tf.oneHot(labels, 3)), 1))) as tf.Scalar;
        },
        f64: ([x, w1, b1, w2, w3]) => {
          const relu = (v: number) => Math.max(v, 0);
          const h1 = pool64(
            map64(addBias64(conv64(x!, w1!, 1, 'same'), b1!), relu),
            2,
            2,
            'valid',
            'max',
          );
          const h2 = map64(conv64(h1, w2!, 1, 'same', true), relu);
          return crossEntropy64(
            rows64({ shape: [2, 3], data: conv64(h2, w3!, 2, 'valid').data }),
            labels,
          );
        },
      };
      expect(hvpError(problem, 41)).toBeLessThan(RTOL);
    });
  });

  describe('pool backprop gradients are the exact adjoints of the backend kernels', () => {
    /**
     * For K(dy) = MaxPoolGrad/AvgPoolGrad(dy, …), linear in dy: our gradient of
     * ⟨K(dy), r⟩ in dy must equal Kᵀr, i.e. ⟨K(e_i), r⟩ for each basis vector.
     * 'same' padding and tied maxima (an all-zero input, as after a ReLU) are
     * where the backends' tie-breaking and border weights differ.
     */
    it.each([
      ['MaxPoolGrad', 3, 1, 'same', 'ties'],
      ['MaxPoolGrad', 2, 2, 'same', 'ties'],
      ['MaxPoolGrad', 3, 2, 'same', 'random'],
      ['AvgPoolGrad', 3, 2, 'same', 'random'],
      ['AvgPoolGrad', 2, 1, 'same', 'random'],
    ] as [string, number, number, Pad, string][])(
      '%s size %s, stride %s, pad %s, %s input',
      (kernel, k, stride, pad, input) => {
        const inShape: [number, number, number, number] = [1, 5, 5, 2];
        const x0 = input === 'ties' ? new Float64Array(size(inShape)) : uniform(size(inShape), 50);
        expectNoLeak(() => {
          const x = t32(x0, inShape) as tf.Tensor4D;
          const y = tf.maxPool(x, k, stride, pad);
          const r = t32(uniform(size(inShape), 51), inShape);
          const attrs = { filterSize: k, strides: stride, pad };
          const apply = (dy: tf.Tensor) =>
            tf
              .engine()
              .runKernel(
                kernel,
                kernel === 'MaxPoolGrad' ? { dy, input: x, output: y } : { dy, input: x },
                attrs,
              ) as tf.Tensor;
          const n = size(y.shape);
          const got = values(() =>
            tf.grad((dy: tf.Tensor) => tf.sum(tf.mul(apply(dy), r)))(tf.zerosLike(y)),
          );
          const want = Array.from(
            { length: n },
            (_, i) => values(() => tf.sum(tf.mul(apply(t32(basis(n, i), y.shape)), r)))[0]!,
          );
          // Each entry is a sum of at most 9 float32 products.
          expectElementsClose(got, want, 1e-6, 1e-6);
          tf.dispose([x, y, r]);
        });
      },
    );
  });

  it('leaks no tensors over many exact HVPs of a conv net', () => {
    const x = t32(uniform(2 * 6 * 6 * 2, 60), [2, 6, 6, 2]) as tf.Tensor4D;
    const theta = t32(uniform(3 * 3 * 2 * 4 + 4 * 9 + 3 * 3 * 4 * 3, 61, -0.4, 0.4), [
      3 * 3 * 2 * 4 + 4 * 9 + 3 * 3 * 4 * 3,
    ]);
    const loss = (p: tf.Tensor) => {
      const [w1, w2, w3] = split32(p, [
        [3, 3, 2, 4],
        [3, 3, 4, 1],
        [3, 3, 4, 3],
      ]);
      const h1 = tf.avgPool(tf.tanh(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same')), 2, 2, 'same');
      const h2 = tf.maxPool(
        tf.relu(tf.depthwiseConv2d(h1, w2 as tf.Tensor4D, 1, 'same')),
        3,
        1,
        'same',
      );
      return tf.sum(tf.square(tf.sigmoid(tf.conv2d(h2, w3 as tf.Tensor4D, 2, 'valid'))));
    };
    const hvp = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.grad(loss)(p), tf.onesLike(p))));
    tf.dispose(hvp(theta)); // warm-up: backends may allocate lasting state on first use
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) tf.dispose(hvp(theta));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, theta]);
  });
});

// ---------------------------------------------------------------------------
// The differential harness's small sibling for what this package registers on
// every backend (docs/kernels.md): random shapes (every dimension 1 included) of
// each op whose gradient it registers, on cpu, first-order gradients and HVPs
// against float64 references. The wasm harness (differential.ts) compares wasm
// with cpu, which both run these same gradients; this checks the gradients
// themselves.

/** Float64 Σ over `axes` of a row-major array of `shape` (the reduced axes kept as 1). */
function reduce64(x: Arr, axes: number[], mean: boolean): Arr {
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = zeros64(outShape);
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const index = new Array<number>(x.shape.length).fill(0);
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    for (let d = 0; d < x.shape.length; d++)
      o = o * outShape[d]! + (axes.includes(d) ? 0 : index[d]!);
    out.data[o]! += x.data[i]! / (mean ? count : 1);
    for (let d = x.shape.length - 1; d >= 0; d--) {
      if (++index[d]! < x.shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Float64 batched a·b ([batch, m, k] or transposed; a batch of 1 broadcasts). */
function batchMatMul64(
  a: Arr,
  b: Arr,
  [batchA, batchB, m, k, n]: number[],
  ta: boolean,
  tb: boolean,
): Arr {
  const batch = Math.max(batchA!, batchB!);
  const out = zeros64([batch, m!, n!]);
  for (let p = 0; p < batch; p++) {
    const [oa, ob] = [(batchA === 1 ? 0 : p) * m! * k!, (batchB === 1 ? 0 : p) * k! * n!];
    for (let i = 0; i < m!; i++) {
      for (let j = 0; j < n!; j++) {
        let s = 0;
        for (let q = 0; q < k!; q++) {
          s +=
            a.data[oa + (ta ? q * m! + i : i * k! + q)]! *
            b.data[ob + (tb ? j * k! + q : q * n! + j)]!;
        }
        out.data[(p * m! + i) * n! + j] = s;
      }
    }
  }
  return out;
}

/** The gradient of `problem` at `point` (reverse mode, float32). */
function exactGradient(problem: Problem, point: Float64Array): Float64Array {
  return values(() =>
    tf.grad((flat: tf.Tensor) => problem.f32(split32(flat, problem.shapes)))(
      t32(point, [point.length]),
    ),
  );
}

/** Float64 central differences, h = 1e-5: truncation O(h²) ≈ 1e-10, rounding ≈ 1e-16/h. */
function referenceGradient(problem: Problem, point: Float64Array, h = 1e-5): Float64Array {
  const q = Float64Array.from(point);
  return point.map((x, i) => {
    q[i] = x + h;
    const up = problem.f64(split64(q, problem.shapes));
    q[i] = x - h;
    const down = problem.f64(split64(q, problem.shapes));
    q[i] = x;
    return (up - down) / (2 * h);
  });
}

/**
 * A random problem L = Σ c·y + d·y² (c, d fixed weights in [−1, 1); the square makes
 * linear ops' Hessians nonzero) of y = one op whose gradient this package registers.
 */
function randomProblem(seed: number): { name: string; problem: Problem } {
  const rng = new Rng(seed * 7919 + 13);
  const dim = () => rng.pick([1, 1, 2, 3, 4, 5]);
  const shapeOf = (rank: number) => Array.from({ length: rank }, dim);
  /** A window (size, stride, padding) and an NHWC input it fits ('valid' needs sides ≥ k). */
  const windowed = (strides: number[]) => {
    const k = rng.pick([1, 2, 3]);
    const stride = rng.pick(strides);
    const pad = rng.pick(['same', 'valid'] as const);
    const side = () => rng.int(pad === 'valid' ? k : 1, 5);
    const x = [rng.pick([1, 2]), side(), side(), dim()];
    return { k, stride, pad, x };
  };
  const weights = (shape: number[], salt: number) => {
    const [c, d] = [uniform(size(shape), seed * 31 + salt), uniform(size(shape), seed * 37 + salt)];
    return {
      f32: (y: tf.Tensor): tf.Scalar =>
        tf.sum(tf.add(tf.mul(t32(c, y.shape), y), tf.mul(t32(d, y.shape), tf.square(y)))),
      f64: (y: Arr) => y.data.reduce((s, v, i) => s + c[i]! * v + d[i]! * v * v, 0),
    };
  };
  const kind = rng.pick([
    'sum',
    'mean',
    'batchMatMul',
    'batchNorm',
    'exp',
    'tanh',
    'sigmoid',
    'elu',
    'softmax',
    'pow',
    'lrn',
    'conv2d',
    'depthwiseConv2d',
    'avgPool',
    'maxPool',
  ] as const);
  if (kind === 'sum' || kind === 'mean') {
    const x = shapeOf(rng.int(1, 4));
    const axes = x.map((_, i) => i).filter(() => rng.chance(0.5));
    const axis = axes.length > 0 ? axes : [rng.int(0, x.length - 1)];
    const keepDims = rng.chance(0.5);
    const out = keepDims
      ? x.map((d, i) => (axis.includes(i) ? 1 : d))
      : x.filter((_, i) => !axis.includes(i));
    const w = weights(out.length > 0 ? out : [1], 1);
    return {
      name: `${kind} x=[${x}] axis=[${axis}] keepDims=${keepDims}`,
      problem: {
        shapes: [x],
        scales: [1],
        f32: ([t]) => w.f32((kind === 'sum' ? tf.sum : tf.mean)(t!, axis, keepDims)),
        f64: ([t]) => w.f64(reduce64(t!, axis, kind === 'mean')),
      },
    };
  }
  if (kind === 'batchMatMul') {
    const [m, k, n] = [dim(), dim(), dim()];
    const batch = rng.pick([1, 2, 3]);
    const [batchA, batchB] = rng.pick([
      [batch, batch],
      [1, batch],
      [batch, 1],
    ]);
    const [ta, tb] = [rng.chance(0.5), rng.chance(0.5)];
    const a = [batchA!, ...(ta ? [k, m] : [m, k])];
    const b = [batchB!, ...(tb ? [n, k] : [k, n])];
    const w = weights([Math.max(batchA!, batchB!), m, n], 2);
    return {
      name: `batchMatMul a=[${a}] b=[${b}] transposeA=${ta} transposeB=${tb}`,
      problem: {
        shapes: [a, b],
        scales: [1, 1],
        f32: ([x, y]) => w.f32(tf.matMul(x!, y!, ta, tb)),
        f64: ([x, y]) => w.f64(batchMatMul64(x!, y!, [batchA!, batchB!, m, k, n], ta, tb)),
      },
    };
  }
  if (kind === 'batchNorm') {
    // At least 3 rows per channel: with 2, x̂ = ±1 and ∂/∂x is all cancellation
    // (its float32 rounding exceeds any relative tolerance: differential.ts's batchNormFloors).
    const x = rng.chance(0.5) ? [rng.int(3, 6), dim()] : [rng.int(3, 4), dim(), dim(), dim()];
    const c = x.at(-1)!;
    const epsilon = rng.pick([1e-3, 1e-5]);
    const axes = x.slice(0, -1).map((_, i) => i);
    const w = weights(x, 3);
    return {
      name: `moments+batchNorm x=[${x}] epsilon=${epsilon}`,
      problem: {
        shapes: [x, [c], [c]],
        scales: [2, 1, 1],
        f32: ([t, g, b]) => {
          const { mean, variance } = tf.moments(t!, axes);
          return w.f32(tf.batchNorm(t!, mean, variance, b!, g!, epsilon));
        },
        f64: ([t, g, b]) => {
          const rows = t!.data.length / c;
          const y = zeros64(x);
          for (let ch = 0; ch < c; ch++) {
            let mean = 0;
            for (let i = 0; i < rows; i++) mean += t!.data[i * c + ch]! / rows;
            let variance = 0;
            for (let i = 0; i < rows; i++) variance += (t!.data[i * c + ch]! - mean) ** 2 / rows;
            const slope = g!.data[ch]! / Math.sqrt(variance + epsilon);
            for (let i = 0; i < rows; i++) {
              y.data[i * c + ch] = (t!.data[i * c + ch]! - mean) * slope + b!.data[ch]!;
            }
          }
          return w.f64(y);
        },
      },
    };
  }
  if (kind === 'conv2d' || kind === 'depthwiseConv2d') {
    const depthwise = kind === 'depthwiseConv2d';
    const { k, stride, pad, x } = windowed([1, 2]);
    const f = [k, k, x[3]!, depthwise ? rng.pick([1, 2]) : dim()];
    const y = conv64(zeros64(x), zeros64(f), stride, pad, depthwise).shape;
    const w = weights(y, 4);
    const conv = depthwise ? tf.depthwiseConv2d : tf.conv2d;
    return {
      name: `${kind} x=[${x}] filter=[${f}] stride=${stride} pad=${pad}`,
      problem: {
        shapes: [x, f],
        scales: [1, 1],
        f32: ([t, g]) => w.f32(conv(t as tf.Tensor4D, g as tf.Tensor4D, stride, pad)),
        f64: ([t, g]) => w.f64(conv64(t!, g!, stride, pad, depthwise)),
      },
    };
  }
  if (kind === 'avgPool' || kind === 'maxPool') {
    const { k, stride, pad, x } = windowed([1, 2, 3]);
    const y = pool64(zeros64(x), k, stride, pad, 'avg').shape;
    const w = weights(y, 5);
    const max = kind === 'maxPool';
    return {
      name: `${kind} x=[${x}] filterSize=${k} strides=${stride} pad=${pad}`,
      problem: {
        shapes: [x],
        scales: [1],
        f32: ([t]) => w.f32((max ? tf.maxPool : tf.avgPool)(t as tf.Tensor4D, k, stride, pad)),
        f64: ([t]) => w.f64(pool64(t!, k, stride, pad, max ? 'max' : 'avg')),
      },
    };
  }
  if (kind === 'softmax' || kind === 'lrn') {
    const x = kind === 'lrn' ? [1, dim(), dim(), rng.int(1, 7)] : shapeOf(rng.int(1, 3));
    const cols = x.at(-1)!;
    const w = weights(x, 6);
    const [radius, bias, alpha, beta] = [
      rng.int(1, 3),
      rng.pick([1, 2]),
      0.3,
      rng.pick([0.5, 0.75]),
    ];
    return {
      name: `${kind} x=[${x}]${kind === 'lrn' ? ` depthRadius=${radius} bias=${bias} beta=${beta}` : ''}`,
      problem: {
        shapes: [x],
        scales: [2],
        f32: ([t]) =>
          w.f32(
            kind === 'softmax'
              ? tf.softmax(t!)
              : tf.localResponseNormalization(t as tf.Tensor4D, radius, bias, alpha, beta),
          ),
        f64: ([t]) => {
          const y = zeros64(x);
          for (let r = 0; r < t!.data.length / cols; r++) {
            const row = Array.from(t!.data.subarray(r * cols, (r + 1) * cols));
            const out =
              kind === 'softmax'
                ? softmax64(row)
                : row.map((v, ch) => {
                    let s = 0;
                    for (
                      let q = Math.max(0, ch - radius);
                      q <= Math.min(cols - 1, ch + radius);
                      q++
                    ) {
                      s += row[q]! ** 2;
                    }
                    return v * (bias + alpha * s) ** -beta;
                  });
            y.data.set(out, r * cols);
          }
          return w.f64(y);
        },
      },
    };
  }
  // Elementwise, and pow in base (positive) and exponent with the exponent broadcast.
  const x = shapeOf(rng.int(1, 3));
  const w = weights(x, 7);
  const elementwise = {
    exp: [tf.exp, Math.exp],
    tanh: [tf.tanh, Math.tanh],
    sigmoid: [tf.sigmoid, sigmoid64],
    elu: [tf.elu, (v: number) => (v > 0 ? v : Math.exp(v) - 1)],
  } as const;
  if (kind === 'pow') {
    const e = rng.chance(0.5) ? x : [x.at(-1)!];
    return {
      name: `pow base=[${x}] exp=[${e}]`,
      problem: {
        shapes: [x, e],
        scales: [1, 1],
        f32: ([b, p]) => w.f32(tf.pow(tf.add(tf.abs(b!), 0.5), p!)),
        f64: ([b, p]) =>
          w.f64(map64(b!, (v, i) => (Math.abs(v) + 0.5) ** p!.data[i % p!.data.length]!)),
      },
    };
  }
  const [f32, f64] = elementwise[kind];
  return {
    name: `${kind} x=[${x}]`,
    problem: {
      shapes: [x],
      scales: [2],
      f32: ([t]) => w.f32(f32(t!)),
      f64: ([t]) => w.f64(map64(t!, f64)),
    },
  };
}

describe('random shapes on cpu: registered gradients and HVPs against float64', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
  });
  /*
   * Float32 reverse mode (and reverse over reverse) over at most a few hundred terms
   * per entry of values of order 1: ~1e-7 relative (the fixed-shape tests above
   * measure 3e-8 to 2e-7); the float64 references err by < 1e-9. 1e-4 of the largest
   * entry leaves a wide margin, while a wrong or missing term is of the order of the
   * entries themselves.
   */
  const RTOL = 1e-4;
  const CASES = 300;
  it(`agrees on ${CASES} cases (every op drawn; one-line description of any failure)`, () => {
    const failures: string[] = [];
    const drawn = new Set<string>();
    for (let seed = 1; seed <= CASES; seed++) {
      const { name, problem } = randomProblem(seed);
      drawn.add(name.split(' ')[0]!);
      const { point, direction } = pointAndDirection(problem, seed);
      // maxPool's kinks: distinct window entries at least 1e-3 apart, far beyond the
      // references' steps (≤ 2e-4), so no difference straddles a change of argmax.
      if (name.startsWith('maxPool')) {
        const order = [...point.keys()].sort((i, j) => point[i]! - point[j]!);
        order.forEach((i, rank) => {
          point[i] = Math.fround(-1 + (2 * rank + 1) / order.length / 1.001);
        });
      }
      const stages: [string, Float64Array, Float64Array][] = [
        [
          'gradient',
          expectNoLeak(() => exactGradient(problem, point)),
          referenceGradient(problem, point),
        ],
        [
          'Hv',
          expectNoLeak(() => exactHvp(problem, point, direction)),
          referenceHvp(problem, point, direction),
        ],
      ];
      for (const [stage, got, want] of stages) {
        const scale = maxAbs(want);
        const err = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
        if (!(err <= RTOL * Math.max(scale, 1e-3))) {
          failures.push(
            `${name} (case ${seed}) ${stage}: error ${err.toExponential(2)}, largest ${scale.toExponential(2)}`,
          );
        }
      }
    }
    expect(failures).toEqual([]);
    expect([...drawn].sort()).toEqual(
      [
        'avgPool',
        'batchMatMul',
        'conv2d',
        'depthwiseConv2d',
        'elu',
        'exp',
        'lrn',
        'maxPool',
        'mean',
        'moments+batchNorm',
        'pow',
        'sigmoid',
        'softmax',
        'sum',
        'tanh',
      ].sort(),
    );
  });
});
