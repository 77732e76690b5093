import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from './rng';
import {
  absPlus,
  adam,
  adaptiveDirection,
  adaptiveSquaredNorm,
  add,
  axpy,
  checkedCombination,
  countNonFinite,
  LIST_KERNELS,
  linearCombination,
  momentum,
  mul,
  norm,
  scale,
  sizeOf,
  squaredNorm,
  sub,
  sum,
} from './tensor-list';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('countNonFinite: per entry, not through a sum', () => {
  const count = (values: number[][]) => {
    const list = values.map((v) => tf.tensor1d(v));
    const c = countNonFinite(list);
    const out = c.dataSync()[0];
    tf.dispose([...list, c]);
    return out;
  };

  it('large finite entries of one sign: 0, where their sum overflows', () => {
    const big = [
      [3e38, 3e38],
      [3e38, 1],
    ];
    expect(count(big)).toBe(0);
    const list = big.map((v) => tf.tensor1d(v));
    const s = sum(list);
    expect(s.dataSync()[0]).toBe(Number.POSITIVE_INFINITY); // what the old check read
    tf.dispose([...list, s]);
  });

  it('counts NaN, +∞ and −∞ over every tensor of the list; an empty tensor adds 0', () => {
    expect(
      count([[Number.NaN, 1], [Number.POSITIVE_INFINITY], [], [Number.NEGATIVE_INFINITY, 0]]),
    ).toBe(3);
    expect(count([[0], [-3.4e38, 3.4e38]])).toBe(0);
  });

  it('a NaN behind a larger entry (where a max may skip it) is still counted', () => {
    expect(count([[5, Number.NaN, -7]])).toBe(1);
  });
});

/**
 * The list kernels @usam/backend registers on wasm (docs/optimizer-kernels.md),
 * as tensorList runs them, against tensorList's tfjs ops (what every other
 * backend runs) on cpu: random lists with every dimension 1 included, with and
 * without NaN, ±∞, ±3e38 and −0 entries. Bit for bit where the kernel rounds as
 * the ops do; ‖a‖² within a tolerance derived below.
 */
describe('tensorList on wasm (list kernels) against its tfjs ops on cpu', () => {
  const SPECIAL = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3e38, -3e38, -0];
  const WEIGHTS = [1, -1, 0, 0.9, 5e-4, 2.5, 1 / 3];

  /** A seeded random list of shapes, with dimensions of 1. */
  function shapesFrom(rng: ReturnType<typeof createRng>): number[][] {
    const dim = () => (rng.next() < 0.35 ? 1 : 1 + Math.floor(rng.next() * 40));
    const count = 1 + Math.floor(rng.next() * 5);
    return Array.from({ length: count }, () =>
      Array.from({ length: 1 + Math.floor(rng.next() * 3) }, dim),
    );
  }
  function valuesFor(rng: ReturnType<typeof createRng>, shapes: number[][], special: boolean) {
    return shapes.map((shape) =>
      Float32Array.from({ length: sizeOf(shape) }, () =>
        special && rng.next() < 0.05
          ? SPECIAL[Math.floor(rng.next() * SPECIAL.length)]!
          : (rng.next() * 2 - 1) * 10 ** Math.floor(rng.next() * 6 - 3),
      ),
    );
  }

  type Op = (lists: tf.Tensor[][], weights: number[]) => tf.Tensor | tf.Tensor[];
  const OPS: Record<string, Op> = {
    linearCombination: (lists, w) =>
      linearCombination(
        lists.map((tensors, j) => ({ tensors, weight: w[j]! })),
        lists[0]!,
      ),
    checkedCombination: (lists, w) => {
      const { sum, nonFinite } = checkedCombination(
        lists.map((tensors, j) => ({ tensors, weight: w[j]! })),
        lists[0]!,
      );
      return [...sum, nonFinite];
    },
    scale: ([a], [w]) => scale(a!, w!),
    add: ([a, b]) => add(a!, b!),
    sub: ([a, b]) => sub(a!, b!),
    axpy: ([x, y], [w]) => axpy(w!, x!, y!),
    countNonFinite: ([a]) => countNonFinite(a!),
    squaredNorm: ([a]) => squaredNorm(a!),
    norm: ([a]) => norm(a!),
    mul: ([a, b]) => mul(a!, b!),
    adaptiveDirection: ([x, g], [w]) => adaptiveDirection(x!, g!, Math.abs(w!) + 0.01),
    adaptiveSquaredNorm: ([x, g], [w]) => adaptiveSquaredNorm(x!, g!, Math.abs(w!) + 0.01),
    absPlus: ([a], [w]) => absPlus(a!, w!),
    'scale by a scalar tensor': ([a], [w]) => scale(a!, tf.scalar(w!)),
    momentum: ([x, g, a], [w]) => {
      const next = momentum(x!, g!, a!, {
        m: Math.fround(Math.abs(w!)),
        c: Math.fround(-0.1),
        nesterov: w! < 0.5,
      });
      return [...next.x, ...next.a];
    },
    adam: ([x, g, m, v], [w]) => {
      const next = adam(
        x!,
        g!,
        m!,
        v!.map((t) => tf.abs(t)), // a second moment is ≥ 0
        {
          learningRate: 0.001 + Math.abs(w!),
          beta1: 0.9,
          beta2: 0.999,
          epsilon: 1e-7,
          a1: Math.fround(1 - Math.fround(0.9 ** 3)),
          a2: Math.fround(1 - Math.fround(0.999 ** 3)),
        },
      );
      return [...next.x, ...next.m, ...next.v];
    },
  };
  /** The kernel each op must run on wasm (checked with tf.profile, so the comparison is not vacuous). */
  const KERNEL: Record<string, string> = {
    linearCombination: LIST_KERNELS.linearCombination,
    checkedCombination: LIST_KERNELS.linearCombination,
    scale: LIST_KERNELS.linearCombination,
    add: LIST_KERNELS.linearCombination,
    sub: LIST_KERNELS.linearCombination,
    axpy: LIST_KERNELS.linearCombination,
    countNonFinite: LIST_KERNELS.finiteSquares,
    squaredNorm: LIST_KERNELS.finiteSquares,
    norm: LIST_KERNELS.finiteSquares,
    mul: LIST_KERNELS.entrywise,
    adaptiveDirection: LIST_KERNELS.entrywise,
    adaptiveSquaredNorm: LIST_KERNELS.finiteSquares,
    absPlus: LIST_KERNELS.entrywise,
    'scale by a scalar tensor': LIST_KERNELS.linearCombination,
    adam: LIST_KERNELS.adam,
    momentum: LIST_KERNELS.momentum,
  };

  async function run(
    backend: string,
    op: Op,
    values: Float32Array[][],
    shapes: number[][],
    w: number[],
  ) {
    await tf.setBackend(backend);
    const lists = values.map((list) => list.map((v, k) => tf.tensor(v, shapes[k]!, 'float32')));
    let kernels: string[] = [];
    let out: Float32Array[] = [];
    const profile = await tf.profile(() => {
      const result = op(lists, w);
      const ts = Array.isArray(result) ? result : [result];
      out = ts.map((t) => t.dataSync() as Float32Array);
      tf.dispose(ts);
    });
    kernels = profile.kernelNames;
    tf.dispose(lists);
    return { out, kernels };
  }

  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of Object.keys(OPS)) {
    it(`${name}: 120 random lists`, async () => {
      const rng = createRng(`tensor-list-kernels:${name}`);
      const failures: string[] = [];
      for (let index = 0; index < 120; index++) {
        const shapes = shapesFrom(rng);
        const terms =
          name === 'linearCombination' || name === 'checkedCombination'
            ? 1 + Math.floor(rng.next() * 3)
            : name === 'adam'
              ? 4
              : name === 'momentum'
                ? 3
                : 2;
        // The ‖a‖² inputs stay finite in half the cases, so a tolerance is tested, not only NaN = NaN.
        const special = rng.next() < 0.5;
        const values = Array.from({ length: terms }, () => valuesFor(rng, shapes, special));
        const w = Array.from(
          { length: terms },
          () => WEIGHTS[Math.floor(rng.next() * WEIGHTS.length)]!,
        );
        const want = await run('cpu', OPS[name]!, values, shapes, w);
        const got = await run('wasm', OPS[name]!, values, shapes, w);
        const live =
          !['linearCombination', 'checkedCombination'].includes(name) || w.some((x) => x !== 0);
        if (live && !got.kernels.includes(KERNEL[name]!)) {
          failures.push(`case ${index}: ran ${got.kernels.join(', ')}, not ${KERNEL[name]}`);
        }
        got.out.forEach((g, t) => {
          const e = want.out[t]!;
          for (let i = 0; i < e.length; i++) {
            const [a, b] = [g[i]!, e[i]!];
            if (Object.is(a, b)) continue;
            if (name === 'squaredNorm' || name === 'norm' || name === 'adaptiveSquaredNorm') {
              // cpu rounds each tensor's float64 sum to float32, then adds the k sums in float32
              // (k − 1 roundings); the kernel rounds one float64 sum once. Every partial sum is of
              // non-negative terms, so each rounding moves it by ≤ 2⁻²⁴ of the total: ≤ (2k)·2⁻²⁴
              // apart (the square root halves that for the norm).
              const tolerance = 2 * shapes.length * 2 ** -24 * Math.abs(b);
              if (Math.abs(a - b) <= tolerance) continue;
            }
            failures.push(
              `case ${index} shapes ${JSON.stringify(shapes)} weights [${w}]: output ${t} entry ${i} is ${a}, cpu ${b}`,
            );
            break;
          }
        });
      }
      expect(failures).toEqual([]);
    });
  }

  it('adaptiveSquaredNorm on wasm is squaredNorm of (|x| + c) ⊙ g bit for bit, in one kernel', async () => {
    await tf.setBackend('wasm');
    const rng = createRng('adaptive-squares');
    for (let index = 0; index < 60; index++) {
      const shapes = shapesFrom(rng);
      const [xs, gs] = [0, 1].map(() =>
        valuesFor(rng, shapes, rng.next() < 0.3).map((v, k) => tf.tensor(v, shapes[k]!)),
      );
      const c = [0.01, 0.5, 1e-7][index % 3]!;
      const fusedValue = adaptiveSquaredNorm(xs!, gs!, c);
      const steps = tf.tidy(() => squaredNorm(mul(absPlus(xs!, c), gs!)));
      expect(Object.is(fusedValue.dataSync()[0], steps.dataSync()[0]), `case ${index}`).toBe(true);
      tf.dispose([...xs!, ...gs!, fusedValue, steps]);
    }
  });

  it('leaks no tensor over many steps, and differentiates (through tfjs ops) under a tape', async () => {
    await tf.setBackend('wasm');
    const x = [tf.randomNormal([7, 1]), tf.randomNormal([1]), tf.randomNormal([3, 5])];
    const v = x.map((t) => tf.onesLike(t));
    const before = tf.memory().numTensors;
    for (let step = 0; step < 50; step++) {
      const size = norm(v);
      const outs = [
        size,
        ...linearCombination(
          [
            { tensors: x, weight: 0.5 },
            { tensors: v, weight: 2 },
          ],
          x,
        ),
        ...axpy(0.1, v, x),
        ...sub(x, v),
        countNonFinite(x),
        norm(x),
        ...mul(x, v),
        ...absPlus(x, 0.01),
        ...adaptiveDirection(x, v, 0.01),
        adaptiveSquaredNorm(x, v, 0.01),
        ...scale(x, size),
        ...Object.values(momentum(x, v, x, { m: 0.9, c: -0.1, nesterov: true })).flat(),
        ...Object.values(
          adam(x, v, x, v, {
            learningRate: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            a1: 0.1,
            a2: 0.001,
          }),
        ).flat(),
      ];
      tf.dispose(outs);
    }
    expect(tf.memory().numTensors).toBe(before);
    // ∇ ½‖x‖² = x: the kernel has no gradient, so under a tape tensorList runs tfjs's ops.
    const grad = tf.grad((t: tf.Tensor) => tf.mul(squaredNorm([t]), 0.5))(x[2]!);
    expect(Array.from(grad.dataSync())).toEqual(Array.from(x[2]!.dataSync()));
    tf.dispose([grad, ...x, ...v]);
  });
});
