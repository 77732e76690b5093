/**
 * The differential harness (docs/kernels.md): random cases of every kernel and
 * gradient this package replaces or adds, run on wasm and on the cpu backend,
 * compared entry by entry. A case is a pure function of (seed, index), so any
 * failure is reproduced by its one-line description alone. Not part of the
 * package's API: differential-worker.ts runs it in child processes, for the
 * tests (differential.test.ts) and `pnpm fuzz` (scripts/fuzz.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CONV_CHUNKING } from './simd-kernels';

type Tensor = tf.Tensor;

/** A seeded generator (mulberry32). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Sizes that straddle the SIMD widths (4, 8), sumRows' 16-row blocks and matmul's 64-row blocks. */
const DIMS = [1, 1, 1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 64, 65] as const;
const SMALL = [1, 1, 2, 3, 4, 5, 7, 8] as const;

/** One input: its shape and how its values are drawn. */
export interface Input {
  readonly shape: number[];
  /** 'signed': [−1, 1); 'positive': [0.5, 2); 'special': signed with NaN, ±∞ and ±3e38 among them. */
  readonly kind?: 'signed' | 'positive' | 'special';
  /** int32 inputs hold round(10·v) (values only: int32 has no gradients). */
  readonly dtype?: 'float32' | 'int32';
}

/** A case: inputs, the function of them, and what to compare. */
export interface Case {
  readonly op: string;
  readonly description: string;
  readonly inputs: Record<string, Input>;
  /** The op, on tensors of `inputs` (names as there). */
  readonly fn: (x: Record<string, Tensor>) => Tensor;
  /** Inputs to differentiate with respect to (first and, if `secondOrder`, second order). */
  readonly wrt: string[];
  readonly secondOrder: boolean;
  /** Floats per chunk of the SIMD conv gradients' scratch (small values cross chunk boundaries). */
  readonly chunk?: number;
  /**
   * Absolute tolerances for outputs (by label) that are sums with cancellation, where
   * the largest entry of the result understates the size of the terms summed: computed
   * from the input values (see `batchNormFloors`).
   */
  readonly floors?: (x: Record<string, Float32Array>) => Record<string, number>;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A shape of `rank` dims from `dims`, redrawn until its size is at most `cap`. */
function shapeOf(rng: Rng, rank: number, cap: number, dims: readonly number[] = DIMS): number[] {
  for (;;) {
    const shape = Array.from({ length: rank }, () => rng.pick(dims));
    if (size(shape) <= cap) return shape;
  }
}

function matMulCase(rng: Rng, fused: boolean): Case {
  let m: number;
  let k: number;
  let n: number;
  for (;;) {
    [m, k, n] = [rng.pick(DIMS), rng.pick(DIMS), rng.pick(DIMS)];
    // k across matmul's 256-deep blocks now and then.
    if (rng.chance(0.05)) k = rng.pick([255, 256, 257, 300]);
    if (!fused && rng.chance(0.03)) [m, k, n] = [m, k, n].map((d) => (rng.chance(0.5) ? 0 : d));
    if (m * k * n <= 40_000) break;
  }
  const ta = rng.chance(0.5);
  const tb = rng.chance(0.5);
  // Batch dims: none, equal, or one side all 1s (the broadcasts tfjs's cpu kernel gets right).
  const batchRank = rng.pick([0, 0, 1, 1, 2]);
  const batchA = Array.from({ length: batchRank }, () => rng.pick([1, 2, 3, 4]));
  const how = rng.int(0, 2);
  const batchB = batchA.map((d) => (how === 0 ? d : how === 1 ? 1 : d));
  if (how === 2) batchA.fill(1);
  if (batchRank > 0 && rng.chance(0.2)) batchA.shift(); // a of lower rank
  const a = [...batchA, ...(ta ? [k, m] : [m, k])];
  const b = [...batchB, ...(tb ? [n, k] : [k, n])];
  const inputs: Record<string, Input> = { a: { shape: a }, b: { shape: b } };
  let activation = 'linear';
  let bias: number[] | undefined;
  if (fused) {
    activation = rng.pick(['linear', 'relu', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid']);
    bias = rng.pick([[n], [n], [1], undefined]);
    if (bias) inputs.bias = { shape: bias };
  }
  const describe = `a=[${a}] b=[${b}] transposeA=${ta} transposeB=${tb}${
    fused ? ` bias=${bias ? `[${bias}]` : 'none'} activation=${activation}` : ''
  }`;
  return {
    op: fused ? 'fused.matMul' : 'matMul',
    description: describe,
    inputs,
    fn: fused
      ? (x) =>
          tf.fused.matMul({
            a: x.a!,
            b: x.b!,
            transposeA: ta,
            transposeB: tb,
            bias: x.bias,
            activation: activation as tf.fused.Activation,
          })
      : (x) => tf.matMul(x.a!, x.b!, ta, tb),
    wrt: Object.keys(inputs),
    // tfjs's fused matMul gradient is a customGrad (not twice differentiable through activations).
    secondOrder: !fused && m * k * n <= 4000,
  };
}

type Pad = 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]];

function convGeometry(rng: Rng, depthwise: boolean) {
  for (;;) {
    const n = rng.pick(SMALL);
    const h = rng.pick([1, 2, 3, 4, 5, 7, 8, 13, 16]);
    const w = rng.pick([1, 2, 3, 4, 5, 7, 8, 13, 16]);
    const cin = rng.pick(DIMS);
    const cout = depthwise ? rng.pick([1, 1, 2, 3]) : rng.pick(DIMS);
    const kh = rng.pick([1, 1, 2, 3, 5]);
    const kw = rng.pick([1, 1, 2, 3, 5]);
    const stride: [number, number] = [rng.pick([1, 1, 2, 3]), rng.pick([1, 1, 2, 3])];
    // tfjs's conv gradients refuse dilation > 1 together with stride > 1.
    const dilation: [number, number] =
      stride[0] === 1 && stride[1] === 1 && rng.chance(0.3)
        ? [rng.pick([1, 2]), rng.pick([1, 2, 3])]
        : [1, 1];
    const pad: Pad = rng.pick<'valid' | 'same' | 'explicit'>(['valid', 'same', 'explicit']) as Pad;
    const padding: Pad =
      (pad as string) === 'explicit'
        ? [
            [0, 0],
            [rng.int(0, 2), rng.int(0, 2)],
            [rng.int(0, 2), rng.int(0, 2)],
            [0, 0],
          ]
        : pad;
    const effH = (kh - 1) * dilation[0] + 1;
    const effW = (kw - 1) * dilation[1] + 1;
    const padH = Array.isArray(padding) ? padding[1][0] + padding[1][1] : 0;
    const padW = Array.isArray(padding) ? padding[2][0] + padding[2][1] : 0;
    // A valid (or explicit) convolution needs the filter to fit.
    if (padding !== 'same' && (effH > h + padH || effW > w + padW)) continue;
    const work = n * h * w * cin * cout * kh * kw;
    if (n * h * w * cin > 20_000 || work > (depthwise ? 200_000 : 400_000)) continue;
    return { n, h, w, cin, cout, kh, kw, stride, dilation, padding };
  }
}

const padText = (p: Pad) => (Array.isArray(p) ? JSON.stringify(p) : p);

function convCase(rng: Rng, depthwise: boolean): Case {
  const g = convGeometry(rng, depthwise);
  const x = [g.n, g.h, g.w, g.cin];
  const f = [g.kh, g.kw, g.cin, g.cout];
  const chunk = rng.chance(0.5) ? rng.pick([1, 7, 64, 500, 4096]) : undefined;
  return {
    op: depthwise ? 'depthwiseConv2d' : 'conv2d',
    description: `x=[${x}] filter=[${f}] strides=[${g.stride}] pad=${padText(g.padding)} dilations=[${g.dilation}]${chunk ? ` chunk=${chunk}` : ''}`,
    inputs: { x: { shape: x }, filter: { shape: f } },
    fn: (t) =>
      (depthwise ? tf.depthwiseConv2d : tf.conv2d)(
        t.x as tf.Tensor4D,
        t.filter as tf.Tensor4D,
        g.stride,
        g.padding,
        'NHWC',
        g.dilation,
      ),
    wrt: ['x', 'filter'],
    secondOrder: g.n * g.h * g.w * g.cin * g.cout * g.kh * g.kw <= 60_000,
    chunk,
  };
}

function poolCase(rng: Rng, max: boolean): Case {
  for (;;) {
    const x = [rng.pick(SMALL), rng.pick(DIMS), rng.pick(DIMS), rng.pick(DIMS)];
    if (size(x) > 20_000) continue;
    const filter: [number, number] = [rng.pick([1, 2, 3, 4]), rng.pick([1, 2, 3, 4])];
    const strides: [number, number] = [rng.pick([1, 2, 3]), rng.pick([1, 2, 3])];
    const pad = rng.pick(['valid', 'same'] as const);
    if (pad === 'valid' && (filter[0] > x[1]! || filter[1] > x[2]!)) continue;
    return {
      op: max ? 'maxPool' : 'avgPool',
      description: `x=[${x}] filterSize=[${filter}] strides=[${strides}] pad=${pad}`,
      inputs: { x: { shape: x } },
      fn: (t) => (max ? tf.maxPool : tf.avgPool)(t.x as tf.Tensor4D, filter, strides, pad),
      wrt: ['x'],
      secondOrder: size(x) <= 4000,
    };
  }
}

function reduceCase(rng: Rng, mean: boolean): Case {
  const rank = rng.int(1, 4);
  const x = shapeOf(rng, rank, 20_000);
  if (rng.chance(0.03)) x[rng.int(0, rank - 1)] = 0;
  const axes = [...Array(rank).keys()].filter(() => rng.chance(0.5));
  // Leading axes (the fast path) half the time.
  const axis = rng.chance(0.5) ? [...Array(rng.int(1, rank)).keys()] : axes;
  const keepDims = rng.chance(0.3);
  const negative = axis.map((a) => (rng.chance(0.2) ? a - rank : a));
  return {
    op: mean ? 'mean' : 'sum',
    description: `x=[${x}] axis=[${negative}] keepDims=${keepDims}`,
    inputs: { x: { shape: x } },
    fn: (t) => (mean ? tf.mean : tf.sum)(t.x!, negative, keepDims),
    wrt: ['x'],
    secondOrder: size(x) <= 4000 && size(x) > 0,
  };
}

function addCase(rng: Rng): Case {
  const rank = rng.int(1, 4);
  const x = shapeOf(rng, rank, 20_000);
  if (rng.chance(0.03)) x[0] = 0;
  // A bias ([C] or [1, …, 1, C]) most of the time, otherwise any broadcast.
  let y: number[];
  if (rng.chance(0.7)) {
    y = [...Array(rng.int(0, rank - 1)).fill(1), x[rank - 1]!];
  } else {
    y = x.map((d) => (rng.chance(0.5) ? 1 : d));
    if (rng.chance(0.3)) y.unshift(rng.pick([1, 2]));
  }
  const swap = rng.chance(0.5);
  const [a, b] = swap ? [y, x] : [x, y];
  return {
    op: 'add',
    description: `a=[${a}] b=[${b}]`,
    inputs: { a: { shape: a }, b: { shape: b } },
    fn: (t) => tf.add(t.a!, t.b!),
    wrt: ['a', 'b'],
    secondOrder: false,
  };
}

function sliceCase(rng: Rng): Case {
  const rank = rng.int(1, 4);
  const x = shapeOf(rng, rank, 20_000);
  if (rng.chance(0.5)) {
    const begin = x.map((d) => rng.int(0, d));
    const sizes = x.map((d, i) => (rng.chance(0.2) ? -1 : rng.int(0, d - begin[i]!)));
    return {
      op: 'slice',
      description: `x=[${x}] begin=[${begin}] size=[${sizes}]`,
      inputs: { x: { shape: x } },
      fn: (t) => tf.slice(t.x!, begin, sizes),
      wrt: ['x'],
      secondOrder: false,
    };
  }
  const axis = rng.int(0, rank - 1);
  const d = x[axis]!;
  const parts: number[] = [];
  let left = d;
  while (left > 0) {
    const p = rng.int(1, left);
    parts.push(p);
    left -= p;
  }
  if (parts.length === 0) parts.push(0);
  return {
    op: 'split',
    description: `x=[${x}] sizes=[${parts}] axis=${axis}`,
    inputs: { x: { shape: x } },
    // Weighted so every part's gradient matters.
    // (tfjs's concat gradient throws for a single part.)
    fn: (t) => {
      const split = tf.split(t.x!, parts, axis).map((p, i) => tf.mul(p, i + 1));
      return split.length === 1 ? split[0]! : tf.concat(split, axis);
    },
    wrt: ['x'],
    secondOrder: false,
  };
}

function batchNormCase(rng: Rng): Case {
  for (;;) {
    const rank = rng.pick([2, 4, 4]);
    const x = shapeOf(rng, rank, 8000);
    const c = x[rank - 1]!;
    const axes = [...Array(rank - 1).keys()];
    if (size(x) / c < 2) continue;
    // Without a scale, tfjs's FusedBatchNorm gradient (and ours) cannot save the missing
    // input: tf.batchNorm without one is not differentiable on any backend (docs/kernels.md).
    const scale = rng.chance(0.8);
    const epsilon = rng.pick([1e-3, 1e-5]);
    return {
      op: 'moments+batchNorm',
      description: `x=[${x}] scale=${scale} epsilon=${epsilon}`,
      inputs: scale
        ? { x: { shape: x }, gamma: { shape: [c] }, beta: { shape: [c] } }
        : { x: { shape: x }, beta: { shape: [c] } },
      fn: (t) => {
        const { mean, variance } = tf.moments(t.x!, axes);
        return tf.batchNorm(t.x!, mean, variance, t.beta, t.gamma, epsilon);
      },
      wrt: scale ? ['x', 'gamma', 'beta'] : ['x', 'beta'],
      secondOrder: size(x) <= 2000,
      floors: (v) => batchNormFloors(v.x!, c, v.gamma, epsilon),
    };
  }
}

/**
 * Absolute tolerances for Σ r·batchNorm(x, moments(x), γ, β) (r, and the HVP's
 * direction v, the harness's weights in [−1, 1)), from the sizes of the terms its
 * outputs are sums of. Per channel of n rows, with s = √(σ² + ε), x̂ = (x − μ)/s and
 * X = max |x̂|:
 *
 *     ∂/∂x_j = (γ/s)·[r_j − mean(r) − x̂_j·mean(r·x̂)]            Σ|terms| ≤ |γ|(2 + X²)/s
 *     (Hv)_γ = Σ_j (1/s)·[r_j − mean(r) − x̂_j·mean(r·x̂)]·v_j      Σ|terms| ≤ n(2 + X²)/s
 *     (Hv)_x = γ Σ_ij r_i v_j ∂²x̂_i/∂x_j∂x_k + v_γ ∂²L/∂γ∂x_k     Σ|terms| ≤ |γ|(6X + 3X³)/s²
 *                                                                          + (2 + X²)/s
 * (∂²x̂_i/∂x_j∂x_k = [3x̂_i x̂_j x̂_k/n − Σ_cyclic (δ_ij − 1/n) x̂_k]/(n s²)). With few rows
 * the terms cancel almost exactly (two rows: x̂ = ±1 up to ε, and the exact ∂/∂x is
 * O(ε/σ²)), so the result is far smaller than its terms and its float32 rounding error
 * can exceed TOLERANCE of the result (fuzz seeds 21 and 2026: rounding, shown against
 * float64 in kernel-regressions.test.ts). A float32 sum of n terms errs by at most
 * n·2⁻²⁴ of the sum of their sizes; each path here has at most two nested n-term sums
 * (the statistics, then the gradient's reduction) and fewer than 16 other roundings,
 * and both backends err: the floor is 2·(2n + 16)·2⁻²⁴·Σ|terms|. A missing or
 * misindexed term still errs by the size of a term, far above it.
 */
export function batchNormFloors(
  x: Float32Array,
  channels: number,
  gamma: Float32Array | undefined,
  epsilon: number,
): Record<string, number> {
  const rows = x.length / channels;
  let dx = 0;
  let hvGamma = 0;
  let hvX = 0;
  for (let c = 0; c < channels; c++) {
    let mean = 0;
    for (let i = 0; i < rows; i++) mean += x[i * channels + c]!;
    mean /= rows;
    let variance = 0;
    for (let i = 0; i < rows; i++) variance += (x[i * channels + c]! - mean) ** 2;
    const s = Math.sqrt(variance / rows + epsilon);
    let big = 0;
    for (let i = 0; i < rows; i++) big = Math.max(big, Math.abs(x[i * channels + c]! - mean) / s);
    const g = Math.abs(gamma?.[c] ?? 1);
    dx = Math.max(dx, (g * (2 + big ** 2)) / s);
    hvGamma = Math.max(hvGamma, (rows * (2 + big ** 2)) / s);
    hvX = Math.max(hvX, (g * (6 * big + 3 * big ** 3)) / s ** 2 + (2 + big ** 2) / s);
  }
  const bound = batchNormRounding(rows);
  return gamma
    ? { 'd/dx': bound * dx, 'Hv/dgamma': bound * hvGamma, 'Hv/dx': bound * hvX }
    : { 'd/dx': bound * dx };
}

/** The floor's factor on Σ|terms| for n rows per channel (see batchNormFloors). */
export const batchNormRounding = (rows: number) => 2 * (2 * rows + 16) * 2 ** -24;

const ELEMENTWISE: Record<string, (x: Record<string, Tensor>) => Tensor> = {
  exp: (t) => tf.exp(t.x!),
  tanh: (t) => tf.tanh(t.x!),
  sigmoid: (t) => tf.sigmoid(t.x!),
  elu: (t) => tf.elu(t.x!),
  softmax: (t) => tf.softmax(t.x!),
  pow: (t) => tf.pow(t.base!, t.x!),
  lrn: (t) =>
    tf.localResponseNormalization(tf.reshape(t.x!, [1, 1, -1, t.x!.shape.at(-1)!]) as tf.Tensor4D),
};

function elementwiseCase(rng: Rng): Case {
  const op = rng.pick(Object.keys(ELEMENTWISE));
  const x = shapeOf(rng, rng.int(1, 3), 2000);
  const inputs: Record<string, Input> = { x: { shape: x } };
  if (op === 'pow') inputs.base = { shape: x, kind: 'positive' };
  return {
    op,
    description: `x=[${x}]`,
    inputs,
    fn: ELEMENTWISE[op]!,
    wrt: Object.keys(inputs),
    secondOrder: true,
  };
}

function castCase(rng: Rng): Case {
  const x = shapeOf(rng, rng.int(1, 3), 5000);
  const to = rng.pick(['float32', 'int32', 'bool'] as const);
  return {
    op: 'cast/clone',
    description: `x=[${x}] dtype=${to}`,
    inputs: { x: { shape: x } },
    // Scaled so that int32 and bool casts see values of both signs and zeros.
    fn: (t) => tf.add(tf.cast(tf.cast(tf.mul(t.x!, 3), to), 'float32'), tf.clone(t.x!)) as Tensor,
    wrt: [],
    secondOrder: false,
  };
}

/** Two dense layers (often with one output, as a regression head), plain or fused. */
function mlpCase(rng: Rng): Case {
  const [b, d0, d1] = [rng.pick(DIMS), rng.pick(DIMS), rng.pick(DIMS)];
  const d2 = rng.pick([1, 1, ...DIMS]);
  const fused = rng.chance(0.5);
  const activation = rng.pick(['relu', 'elu', 'sigmoid'] as const);
  const act = { relu: tf.relu, elu: tf.elu, sigmoid: tf.sigmoid }[activation];
  return {
    op: 'mlp',
    description: `x=[${b},${d0}] w1=[${d0},${d1}] w2=[${d1},${d2}] ${fused ? 'fused ' : ''}${activation}`,
    inputs: {
      x: { shape: [b, d0] },
      w1: { shape: [d0, d1] },
      b1: { shape: [d1] },
      w2: { shape: [d1, d2] },
      b2: { shape: [d2] },
    },
    fn: (t) => {
      const h = fused
        ? tf.fused.matMul({ a: t.x!, b: t.w1!, bias: t.b1, activation })
        : act(tf.add(tf.matMul(t.x!, t.w1!), t.b1!));
      return fused
        ? tf.fused.matMul({ a: h, b: t.w2!, bias: t.b2 })
        : tf.add(tf.matMul(h, t.w2!), t.b2!);
    },
    wrt: ['x', 'w1', 'b1', 'w2', 'b2'],
    // tfjs's fused matMul gradient is a customGrad, which is not twice differentiable.
    secondOrder: !fused && b * d0 * d1 <= 8000 && b * d1 * d2 <= 8000,
  };
}

/** conv → relu → max pool → dense: a small CNN's step. */
function cnnCase(rng: Rng): Case {
  for (;;) {
    const [n, h, w, c] = [
      rng.pick(SMALL),
      rng.pick([2, 3, 4, 5, 7, 8]),
      rng.pick([2, 3, 4, 5, 7, 8]),
      rng.pick(DIMS),
    ];
    const c2 = rng.pick([1, 2, 3, 4, 5, 8, 16]);
    const k = rng.pick([1, 2, 3]);
    const stride = rng.pick([1, 1, 2]);
    const out = rng.pick([1, 1, 3, 10]);
    const [ho, wo] = [Math.ceil(h / stride), Math.ceil(w / stride)];
    if (ho < 2 || wo < 2 || n * h * w * c * c2 * k * k > 300_000) continue;
    const flat = Math.floor(ho / 2) * Math.floor(wo / 2) * c2;
    return {
      op: 'cnn',
      description: `x=[${n},${h},${w},${c}] filter=[${k},${k},${c},${c2}] stride=${stride} dense=[${flat},${out}]`,
      inputs: {
        x: { shape: [n, h, w, c] },
        f: { shape: [k, k, c, c2] },
        w: { shape: [flat, out] },
      },
      fn: (t) => {
        const y = tf.relu(tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, stride, 'same'));
        const p = tf.maxPool(y, 2, 2, 'valid');
        return tf.matMul(tf.reshape(p, [n, flat]), t.w!);
      },
      wrt: ['x', 'f', 'w'],
      secondOrder: n * h * w * c * c2 * k * k <= 30_000,
    };
  }
}

function fusedConvCase(rng: Rng): Case {
  const g = convGeometry(rng, false);
  const x = [g.n, g.h, g.w, g.cin];
  const f = [g.kh, g.kw, g.cin, g.cout];
  const activation = rng.pick(['linear', 'relu', 'relu6', 'elu', 'sigmoid'] as const);
  const bias = rng.chance(0.7);
  return {
    op: 'fused.conv2d',
    description: `x=[${x}] filter=[${f}] strides=[${g.stride}] pad=${padText(g.padding)} dilations=[${g.dilation}] bias=${bias} activation=${activation}`,
    inputs: bias
      ? { x: { shape: x }, filter: { shape: f }, bias: { shape: [g.cout] } }
      : { x: { shape: x }, filter: { shape: f } },
    fn: (t) =>
      tf.fused.conv2d({
        x: t.x as tf.Tensor4D,
        filter: t.filter as tf.Tensor4D,
        strides: g.stride,
        pad: g.padding,
        dilations: g.dilation,
        bias: t.bias,
        activation,
      }),
    // tfjs's fused conv gradient takes linear or relu only, and never dilations.
    wrt:
      ['linear', 'relu'].includes(activation) && g.dilation.join() === '1,1'
        ? Object.keys(bias ? { x, filter: f, bias } : { x, filter: f })
        : [],
    secondOrder: false,
  };
}

/** int32 values through the kernels that take any dtype (values only). */
function int32Case(rng: Rng): Case {
  const rank = rng.int(1, 4);
  const x = shapeOf(rng, rank, 10_000);
  const which = rng.pick(['sum', 'add', 'slice', 'cast'] as const);
  const axis = [...Array(rng.int(1, rank)).keys()];
  const bias = [...Array(rank - 1).fill(1), x[rank - 1]!];
  const begin = x.map((d) => rng.int(0, d - 1));
  return {
    op: `int32 ${which}`,
    description: `x=[${x}]${which === 'sum' ? ` axis=[${axis}]` : which === 'add' ? ` bias=[${bias}]` : which === 'slice' ? ` begin=[${begin}]` : ''}`,
    inputs:
      which === 'add'
        ? { x: { shape: x, dtype: 'int32' }, y: { shape: bias, dtype: 'int32' } }
        : { x: { shape: x, dtype: 'int32' } },
    fn: (t) => {
      const out =
        which === 'sum'
          ? tf.sum(t.x!, axis)
          : which === 'add'
            ? tf.add(t.x!, t.y!)
            : which === 'slice'
              ? tf.slice(t.x!, begin)
              : tf.cast(t.x!, 'int32');
      return tf.cast(out, 'float32');
    },
    wrt: [],
    secondOrder: false,
  };
}

/**
 * Stride-1, undilated 3×3 convolutions, the shapes our Winograd kernels take
 * (conv-winograd.ts): conv2d, or fused.conv2d with a bias or none and a linear
 * or ReLU activation; paddings 'valid', 'same' and explicit up to 3 (the input
 * gradient's padding 2 − top is then negative); channels mostly at or above the
 * Winograd threshold (8), some below (the fallbacks). Outside KINDS, so that the
 * fuzz runs' case indices stay as they were: drawn by conv-winograd.test.ts.
 */
export function winogradCase(rng: Rng): Case {
  for (;;) {
    const n = rng.pick(SMALL);
    const h = rng.pick([1, 2, 3, 4, 5, 6, 7, 9, 13, 16]);
    const w = rng.pick([1, 2, 3, 4, 5, 6, 7, 9, 13, 16]);
    const channels = [1, 3, 7, 8, 8, 9, 13, 16, 16, 17, 31, 32, 64, 65] as const;
    const cin = rng.pick(channels);
    const cout = rng.pick(channels);
    const kind = rng.pick(['valid', 'same', 'explicit'] as const);
    const padding: Pad =
      kind === 'explicit'
        ? [
            [0, 0],
            [rng.int(0, 3), rng.int(0, 3)],
            [rng.int(0, 3), rng.int(0, 3)],
            [0, 0],
          ]
        : kind;
    const padH = Array.isArray(padding) ? padding[1][0] + padding[1][1] : 0;
    const padW = Array.isArray(padding) ? padding[2][0] + padding[2][1] : 0;
    if (padding !== 'same' && (3 > h + padH || 3 > w + padW)) continue;
    const work = n * h * w * cin * cout * 9;
    if (work > 3_000_000) continue;
    const fused = rng.chance(0.4);
    const bias = fused && rng.chance(0.7);
    const activation = rng.pick(['linear', 'relu'] as const);
    const chunk = rng.chance(0.5) ? rng.pick([1, 100, 700, 5000]) : undefined;
    const x = [n, h, w, cin];
    const f = [3, 3, cin, cout];
    const inputs: Record<string, Input> = { x: { shape: x }, filter: { shape: f } };
    if (bias) inputs.bias = { shape: [cout] };
    return {
      op: fused ? 'winograd fused.conv2d' : 'winograd conv2d',
      description: `x=[${x}] filter=[${f}] pad=${padText(padding)}${fused ? ` bias=${bias} activation=${activation}` : ''}${chunk ? ` chunk=${chunk}` : ''}`,
      inputs,
      fn: (t) =>
        fused
          ? tf.fused.conv2d({
              x: t.x as tf.Tensor4D,
              filter: t.filter as tf.Tensor4D,
              strides: 1,
              pad: padding,
              bias: t.bias,
              activation,
            })
          : tf.conv2d(t.x as tf.Tensor4D, t.filter as tf.Tensor4D, 1, padding),
      wrt: Object.keys(inputs),
      // tfjs's fused conv gradient is a customGrad (not twice differentiable).
      secondOrder: !fused && work <= 300_000,
      chunk,
    };
  }
}

/**
 * The optimizer's list kernels (wasm-optimizer-kernels.ts) where the backend has
 * them, tfjs's ops (what @usam/measures' tensorList falls back to) elsewhere:
 * Σ_j w_j·t_j per tensor, the count of non-finite entries, Σ t², a ⊙ b, |a| + c
 * and the momentum and Adam updates (against tfjs-core's optimizers' ops). Outside
 * KINDS, so that the fuzz runs' case indices stay as they were: drawn by
 * wasm-optimizer-kernels.test.ts.
 */
export function listCase(rng: Rng): Case {
  const count = rng.int(1, 4);
  const terms = rng.int(1, 3);
  const shapes = Array.from({ length: count }, () => shapeOf(rng, rng.int(1, 3), 5000));
  const weights = Array.from({ length: terms }, () => rng.pick([1, -1, 0.9, 5e-4, 2.5]));
  const which = rng.pick([
    'linearCombination',
    'nonFinite',
    'squaredNorm',
    'mul',
    'absAdd',
    'adam',
    'momentum',
    'adaptiveDirection',
    'adaptiveSquares',
  ] as const);
  const special = !['squaredNorm', 'adam', 'adaptiveSquares'].includes(which) && rng.chance(0.5);
  const inputs: Record<string, Input> = {};
  const n =
    {
      linearCombination: terms,
      mul: 2,
      adam: 4,
      momentum: 3,
      adaptiveDirection: 2,
      adaptiveSquares: 2,
    }[which as string] ?? 1;
  for (let j = 0; j < n; j++) {
    shapes.forEach((shape, k) => {
      // Adam's second moment is ≥ 0 (a square's running mean).
      const kind = special ? 'special' : which === 'adam' && j === 3 ? 'positive' : 'signed';
      inputs[`t${j}_${k}`] = { shape, kind };
    });
  }
  const shift = rng.pick([0.01, 0.5, 1e-7]);
  // The engine's final g: the combination and its count of NaN or ±∞ entries in one pass.
  const counted = which === 'linearCombination' && rng.chance(0.5);
  // Adam's constants: the default betas or others, 1 − βᵢᵗ at steps 1 to 10⁴ as float32.
  const [beta1, beta2] = rng.pick([
    [0.9, 0.999],
    [0.5, 0.9],
  ]);
  const t = rng.pick([1, 2, 37, 10_000]);
  const momentumAttrs = {
    m: Math.fround(rng.pick([0.9, 0, 0.99])),
    c: Math.fround(-rng.pick([0.1, 0.01, 1])),
    nesterov: rng.chance(0.5),
  };
  const adamAttrs = {
    learningRate: rng.pick([0.001, 0.1]),
    beta1,
    beta2,
    epsilon: rng.pick([1e-7, 1e-3]),
    a1: Math.fround(1 - Math.fround(beta1 ** t)),
    a2: Math.fround(1 - Math.fround(beta2 ** t)),
  };
  const fused = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined;
  const list = (x: Record<string, Tensor>, j: number) => shapes.map((_, k) => x[`t${j}_${k}`]!);
  const flat = (ts: Tensor[]) => tf.concat(ts.map((t) => tf.reshape(t, [-1])));
  return {
    op: `list ${which}`,
    description: `shapes=${JSON.stringify(shapes)}${which === 'linearCombination' ? ` weights=[${weights}]${counted ? ' counted' : ''}` : ''}${['absAdd', 'adaptiveDirection', 'adaptiveSquares'].includes(which) ? ` c=${shift}` : ''}${which === 'adam' ? ` ${JSON.stringify(adamAttrs)}` : ''}${which === 'momentum' ? ` ${JSON.stringify(momentumAttrs)}` : ''}${special ? ' special' : ''}`,
    inputs,
    fn: (x) => {
      if (which === 'mul' || which === 'absAdd') {
        const [a, b] = [list(x, 0), which === 'mul' ? list(x, 1) : []];
        if (fused('UsamEntrywise')) {
          const named: Record<string, Tensor> = {};
          a.forEach((t, k) => {
            named[`a${k}`] = t;
            if (which === 'mul') named[`b${k}`] = b[k]!;
          });
          const attrs: tf.NamedAttrMap =
            which === 'mul' ? { op: 'mul' } : { op: 'absAdd', c: shift };
          const out = tf.engine().runKernel('UsamEntrywise', named, attrs) as unknown as Tensor[];
          return flat(out);
        }
        return flat(
          a.map((t, k) => (which === 'mul' ? tf.mul(t, b[k]!) : tf.add(tf.abs(t), shift))),
        );
      }
      if (which === 'adaptiveDirection' || which === 'adaptiveSquares') {
        // ASAM's T²g and ‖Tg‖², T = |x| + c, against tfjs's ops.
        const [xs, gs] = [list(x, 0), list(x, 1)];
        const kernel = which === 'adaptiveDirection' ? 'UsamEntrywise' : 'UsamFiniteSquares';
        if (fused(kernel)) {
          const named: Record<string, Tensor> = {};
          xs.forEach((t, k) => {
            named[which === 'adaptiveDirection' ? `a${k}` : `t${k}`] = t;
            named[which === 'adaptiveDirection' ? `b${k}` : `g${k}`] = gs[k]!;
          });
          const attrs: tf.NamedAttrMap =
            which === 'adaptiveDirection'
              ? { op: 'adaptiveDirection', c: shift }
              : { which: 'adaptiveSquares', c: shift };
          const out = tf.engine().runKernel(kernel, named, attrs) as Tensor | Tensor[];
          return Array.isArray(out) ? flat(out) : out;
        }
        const tg = xs.map((t, k) => tf.mul(tf.add(tf.abs(t), shift), gs[k]!));
        return which === 'adaptiveDirection'
          ? flat(tg.map((p, k) => tf.mul(tf.add(tf.abs(xs[k]!), shift), p)))
          : tf.addN(tg.map((p) => tf.sum(tf.square(p))));
      }
      if (which === 'momentum') {
        const [xs, gs, as] = [0, 1, 2].map((j) => list(x, j)) as [Tensor[], Tensor[], Tensor[]];
        if (fused('UsamMomentum')) {
          const named: Record<string, Tensor> = {};
          shapes.forEach((_, k) => {
            named[`x${k}`] = xs[k]!;
            named[`g${k}`] = gs[k]!;
            named[`a${k}`] = as[k]!;
          });
          const out = tf
            .engine()
            .runKernel('UsamMomentum', named, momentumAttrs) as unknown as Tensor[];
          return flat(out);
        }
        // tfjs-core 4.22's MomentumOptimizer.applyGradients, op for op.
        const { m, c, nesterov } = momentumAttrs;
        const out = shapes.map((_, k) => {
          const a = tf.add(tf.mul(as[k]!, tf.scalar(m)), gs[k]!);
          const step = nesterov ? tf.add(gs[k]!, tf.mul(a, tf.scalar(m))) : a;
          return [tf.add(tf.mul(tf.scalar(c), step), xs[k]!), a];
        });
        return flat([...out.map((o) => o[0]!), ...out.map((o) => o[1]!)]);
      }
      if (which === 'adam') {
        const [xs, gs, ms, vs] = [0, 1, 2, 3].map((j) => list(x, j)) as [
          Tensor[],
          Tensor[],
          Tensor[],
          Tensor[],
        ];
        if (fused('UsamAdam')) {
          const named: Record<string, Tensor> = {};
          shapes.forEach((_, k) => {
            named[`x${k}`] = xs[k]!;
            named[`g${k}`] = gs[k]!;
            named[`m${k}`] = ms[k]!;
            named[`v${k}`] = vs[k]!;
          });
          const out = tf.engine().runKernel('UsamAdam', named, adamAttrs) as unknown as Tensor[];
          return flat(out);
        }
        // tfjs-core 4.22's AdamOptimizer.applyGradients, op for op.
        const { learningRate, beta1: b1, beta2: b2, epsilon, a1, a2 } = adamAttrs;
        const out = shapes.map((_, k) => {
          const m = tf.add(tf.mul(ms[k]!, b1), tf.mul(gs[k]!, 1 - b1));
          const v = tf.add(tf.mul(vs[k]!, b2), tf.mul(tf.square(gs[k]!), 1 - b2));
          const mHat = tf.div(m, tf.scalar(a1));
          const vHat = tf.div(v, tf.scalar(a2));
          const step = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), -learningRate);
          return [tf.add(step, xs[k]!), m, v];
        });
        return flat([...out.map((o) => o[0]!), ...out.map((o) => o[1]!), ...out.map((o) => o[2]!)]);
      }
      if (which === 'linearCombination') {
        if (fused('UsamLinearCombination')) {
          const named: Record<string, Tensor> = {};
          for (let j = 0; j < terms; j++)
            list(x, j).forEach((t, k) => {
              named[`t${j}_${k}`] = t;
            });
          const out = tf.engine().runKernel('UsamLinearCombination', named, {
            weights,
            countNonFinite: counted,
          }) as unknown as Tensor[];
          return flat(out);
        }
        const sums = shapes.map((_, k) =>
          tf.addN(weights.map((w, j) => tf.mul(x[`t${j}_${k}`]!, tf.scalar(w)))),
        );
        const count = tf.addN(
          sums.map((t) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(t)), 'float32'))),
        );
        return flat(counted ? [...sums, count] : sums);
      }
      const ts = list(x, 0);
      if (fused('UsamFiniteSquares')) {
        const named = Object.fromEntries(ts.map((t, k) => [`t${k}`, t]));
        return tf.engine().runKernel('UsamFiniteSquares', named, { which }) as Tensor;
      }
      return which === 'nonFinite'
        ? tf.addN(ts.map((t) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(t)), 'float32'))))
        : tf.addN(ts.map((t) => tf.sum(tf.square(t))));
    },
    wrt: [],
    secondOrder: false,
  };
}

const KINDS: [weight: number, make: (rng: Rng) => Case][] = [
  [2, mlpCase],
  [2, cnnCase],
  [1, fusedConvCase],
  [1, int32Case],
  [5, (r) => matMulCase(r, false)],
  [3, (r) => matMulCase(r, true)],
  [4, (r) => convCase(r, false)],
  [2, (r) => convCase(r, true)],
  [2, (r) => poolCase(r, true)],
  [1, (r) => poolCase(r, false)],
  [2, (r) => reduceCase(r, false)],
  [1, (r) => reduceCase(r, true)],
  [2, addCase],
  [2, sliceCase],
  [2, batchNormCase],
  [1, elementwiseCase],
  [1, castCase],
];
const TOTAL = KINDS.reduce((s, [w]) => s + w, 0);

/** The case with this index under this seed. */
export function makeCase(seed: number, index: number): Case {
  const rng = new Rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  let pick = rng.next() * TOTAL;
  for (const [weight, make] of KINDS) {
    pick -= weight;
    if (pick < 0) return make(rng);
  }
  return KINDS[0]![1](rng);
}

/** Input values, the same on every backend: a function of the case's seed, index and name. */
export function inputValues(input: Input, seed: number, index: number, name: string): Float32Array {
  let h = Math.imul(seed ^ 0x2545f491, index + 7);
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  const rng = new Rng(h);
  const out = new Float32Array(size(input.shape));
  for (let i = 0; i < out.length; i++) {
    out[i] = input.kind === 'positive' ? 0.5 + 1.5 * rng.next() : 2 * rng.next() - 1;
    if (input.kind === 'special' && rng.chance(0.02)) {
      out[i] = rng.pick([
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        3e38,
        -3e38,
      ]);
    }
  }
  return out;
}

/** One stage of a case (value, gradients, second order): labelled outputs, or why it threw. */
export type Stage = { ok: true; outputs: [string, Float32Array][] } | { ok: false; error: string };

const message = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/** Reads the tensors `body` returns (inside a tidy), or the error it throws. */
function stage(body: () => [string, Tensor][]): Stage {
  try {
    let labels: string[] = [];
    const tensors = tf.tidy(() => {
      const named = body();
      labels = named.map(([label]) => label);
      return named.map(([, t]) => t);
    });
    const outputs = tensors.map(
      (t, i) => [labels[i]!, Float32Array.from(t.dataSync())] as [string, Float32Array],
    );
    tf.dispose(tensors);
    return { ok: true, outputs };
  } catch (error) {
    return { ok: false, error: message(error) };
  }
}

/**
 * Runs a case on the current backend, in three stages: the value; the
 * gradient of Σ y·r (r fixed random weights) with respect to each input in
 * `wrt`; and where `secondOrder`, the gradient of Σ_i ⟨gradient_i, v_i⟩ (a
 * Hessian-vector product). Each stage is compared on its own, so that an op
 * whose tfjs gradient refuses a shape still has its value compared.
 */
export function runCase(c: Case, seed: number, index: number): Stage[] {
  const saved = CONV_CHUNKING.floats;
  if (c.chunk !== undefined) CONV_CHUNKING.floats = c.chunk;
  const xs = (): Record<string, Tensor> => {
    const out: Record<string, Tensor> = {};
    for (const [name, input] of Object.entries(c.inputs)) {
      const v = inputValues(input, seed, index, name);
      out[name] =
        input.dtype === 'int32'
          ? tf.tensor(
              Int32Array.from(v, (e) => Math.round(10 * e)),
              input.shape,
              'int32',
            )
          : tf.tensor(v, input.shape);
    }
    return out;
  };
  const fixed = (name: string, shape: number[]) =>
    tf.tensor(inputValues({ shape }, seed, index, name), shape);
  /** Σ f(x)·r as a function of the `wrt` inputs, the others held at `x`. */
  const loss =
    (x: Record<string, Tensor>, r: Tensor) =>
    (...ts: Tensor[]) => {
      const named = { ...x };
      c.wrt.forEach((name, i) => {
        named[name] = ts[i]!;
      });
      return tf.sum(tf.mul(c.fn(named), r));
    };
  try {
    const stages: Stage[] = [stage(() => [['value', c.fn(xs())]])];
    const first = stages[0]!;
    const outSize = first.ok ? first.outputs[0]![1].length : 0;
    if (!first.ok || c.wrt.length === 0 || outSize === 0) return stages;
    stages.push(
      stage(() => {
        const x = xs();
        const y = c.fn(x);
        const grads = tf.grads(loss(x, fixed('#r', y.shape)))(c.wrt.map((n) => x[n]!));
        return grads.map((g, i) => [`d/d${c.wrt[i]}`, g]);
      }),
    );
    if (c.secondOrder) {
      stages.push(
        stage(() => {
          const x = xs();
          const y = c.fn(x);
          const l = loss(x, fixed('#r', y.shape));
          const wrt = c.wrt.map((n) => x[n]!);
          const vs = wrt.map((t, i) => fixed(`#v${i}`, t.shape));
          const hvp = tf.grads((...ts: Tensor[]) =>
            tf.addN([
              ...tf
                .grads(l)(ts)
                .map((g, i) => tf.sum(tf.mul(g, vs[i]!))),
              // 0·Σ x keeps every input on the path where the gradient is constant in it.
              ...ts.map((t) => tf.mul(tf.sum(t), 0)),
            ]),
          )(wrt);
          return hvp.map((h, i) => [`Hv/d${c.wrt[i]}`, h]);
        }),
      );
    }
    return stages;
  } finally {
    CONV_CHUNKING.floats = saved;
  }
}

/**
 * Tolerance, relative to the largest entry of the reference: both backends
 * sum in float32 in different orders (wasm's blocks, XNNPACK's, the cpu's
 * loops). A sum of K terms of size ≤ s errs by at most about K·2⁻²⁴·s on each
 * side; with K ≤ 10⁴ terms (the largest reductions drawn) that is 6·10⁻⁴·s, and
 * the largest entry is at least s·√K/… in these random cases; 2·10⁻³ of the
 * largest entry leaves margin, while a wrong index, a missed term or garbage
 * from outside a buffer is of the order of the entries themselves.
 */
export const TOLERANCE = 2e-3;

/** A case's absolute tolerances by output label (`Case.floors`), from its input values. */
export function floorsOf(c: Case, seed: number, index: number): Record<string, number> {
  if (c.floors === undefined) return {};
  const x: Record<string, Float32Array> = {};
  for (const [name, input] of Object.entries(c.inputs)) {
    x[name] = inputValues(input, seed, index, name);
  }
  return c.floors(x);
}

/**
 * How `got` differs from `want` (the cpu's), or undefined when every stage cpu
 * runs agrees: within TOLERANCE of the largest entry, or within the case's
 * absolute floor for that output (`floorsOf`) where it has one.
 */
export function compare(
  got: Stage[],
  want: Stage[],
  floors: Record<string, number> = {},
): string | undefined {
  for (let s = 0; s < want.length; s++) {
    const w = want[s]!;
    const g = got[s];
    // The reference refuses (a tfjs limitation, e.g. its gradient of a broadcast): nothing to compare.
    if (!w.ok) return undefined;
    if (g === undefined) return 'stops where cpu goes on';
    if (!g.ok) return `throws where cpu does not: ${g.error}`;
    const d = compareOutputs(g.outputs, w.outputs, floors);
    if (d !== undefined) return d;
  }
  return undefined;
}

function compareOutputs(
  got: [string, Float32Array][],
  want: [string, Float32Array][],
  floors: Record<string, number>,
) {
  if (got.length !== want.length) return `gives ${got.length} outputs, cpu ${want.length}`;
  for (let o = 0; o < want.length; o++) {
    const [label, w] = want[o]!;
    const g = got[o]![1];
    if (g.length !== w.length) return `${label}: ${g.length} entries, cpu ${w.length}`;
    let scale = 0;
    for (const v of w) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    let at = -1;
    for (let i = 0; i < w.length; i++) {
      const [a, b] = [g[i]!, w[i]!];
      if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
      const err = Math.abs(a - b);
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
        at = i;
      }
    }
    const floor = floors[label] ?? 0;
    if (worst > Math.max(TOLERANCE * scale, floor) || (scale === 0 && floor === 0 && worst > 0)) {
      return `${label}: entry ${at} is ${g[at]}, cpu ${w[at]} (error ${(worst / (scale || 1)).toExponential(1)} of the largest entry, ${scale.toPrecision(3)}${floor > 0 ? `; floor ${floor.toPrecision(3)}` : ''})`;
    }
  }
  return undefined;
}

/** A case's one-line reproduction. */
export const reproduction = (c: Case, seed: number, index: number) =>
  `${c.op} ${c.description} — pnpm --filter @usam/backend fuzz --seed ${seed} --from ${index} --cases 1`;
