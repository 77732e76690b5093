import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from './rng';
import {
  fixed,
  gaussian,
  hypercube,
  lebesgue,
  rademacher,
  randomDirection,
  sphere,
} from './samplers';
import { LIST_KERNELS } from './tensor-list';
import type { Sampler } from './types';

beforeAll(async () => {
  await initBackend('cpu');
});

/** v split like a small model's parameters: d = 6 + 4 + 1 = 11. */
const shapes = [[2, 3], [4], []] as const;

/** Draws once and returns the concatenated vector (disposing the tensors). */
function draw(sampler: Sampler, rng = createRng(1), s: readonly (readonly number[])[] = shapes) {
  const v = sampler.sample(s, rng);
  const flat = v.flatMap((t) => Array.from(t.dataSync()));
  const out = { shapes: v.map((t) => t.shape), flat };
  for (const t of v) t.dispose();
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const meanSquare = (xs: readonly number[]) => mean(xs.map((x) => x * x));

describe('samplers', () => {
  const all: Sampler[] = [
    gaussian(),
    sphere(),
    rademacher(),
    hypercube(0.5),
    lebesgue(),
    lebesgue({ proposal: 'hypercube', halfWidth: 2 }),
  ];

  it('return float32 tensors of the requested shapes, repeatably for a seed', () => {
    for (const sampler of all) {
      const a = draw(sampler, createRng(4));
      expect(a.shapes).toEqual([[2, 3], [4], []]);
      expect(draw(sampler, createRng(4)).flat).toEqual(a.flat);
      expect(draw(sampler, createRng(5)).flat).not.toEqual(a.flat);
    }
  });

  it('sphere: unit norm over the whole concatenated vector', () => {
    for (let seed = 0; seed < 20; seed++) {
      const { flat } = draw(sphere(), createRng(seed));
      expect(Math.hypot(...flat)).toBeCloseTo(1, 5);
    }
  });

  it('have the right moments: E v = 0 and E v_i² = 1, 1, 1, h²/3', () => {
    // 20 000 coordinates each. The sample second moment of N(0,1) has sd √(2/n) = 0.01,
    // of a uniform far less; 5 sd bounds. The sphere's coordinates have E v_i² = 1/d.
    const big = [[20_000]];
    const g = draw(gaussian(), createRng(1), big).flat;
    expect(Math.abs(mean(g))).toBeLessThan(5 * Math.sqrt(1 / 20_000));
    expect(Math.abs(meanSquare(g) - 1)).toBeLessThan(0.05);
    expect(Math.abs(meanSquare(draw(gaussian(2), createRng(1), big).flat) - 4)).toBeLessThan(0.2);
    const r = draw(rademacher(), createRng(1), big).flat;
    expect(r.every((x) => x === 1 || x === -1)).toBe(true);
    expect(Math.abs(mean(r))).toBeLessThan(5 * Math.sqrt(1 / 20_000));
    const h = draw(hypercube(0.5), createRng(1), big).flat;
    expect(h.every((x) => x >= -0.5 && x <= 0.5)).toBe(true);
    expect(Math.abs(meanSquare(h) - 0.25 / 3)).toBeLessThan(0.005);
    expect(Math.abs(meanSquare(draw(sphere(), createRng(1), big).flat) - 1 / 20_000)).toBeLessThan(
      1e-9,
    );
  });

  it('lebesgue: log w = log 1/q(v), the proposal density inverted', () => {
    const s = 1.5;
    const sampler = lebesgue({ scale: s });
    const v = sampler.sample(shapes, createRng(2));
    const flat = v.flatMap((t) => Array.from(t.dataSync()));
    const d = flat.length;
    const logQ =
      -(d / 2) * Math.log(2 * Math.PI * s * s) - flat.reduce((a, x) => a + x * x, 0) / (2 * s * s);
    expect(sampler.logWeight!(v, d)).toBeCloseTo(-logQ, 4);
    const cube = lebesgue({ proposal: 'hypercube', halfWidth: 2 });
    expect(cube.logWeight!(v, d)).toBeCloseTo(d * Math.log(4), 10);
    for (const t of v) t.dispose();
    expect(gaussian().logWeight).toBeUndefined();
  });

  it('fixed: returns the given vectors in turn, from flat arrays or tensors', () => {
    const a = Array.from({ length: 11 }, (_, i) => i);
    const b = a.map((x) => -x);
    const sampler = fixed([a, new Float64Array(b)]);
    expect(draw(sampler).flat).toEqual(a);
    expect(draw(sampler).flat).toEqual(b);
    expect(draw(sampler).flat).toEqual(a);
    const tensors = [
      tf.tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]),
      tf.tensor([7, 8, 9, 10]),
      tf.scalar(11),
    ];
    const fromTensors = fixed([tensors]);
    for (const t of tensors) t.dispose(); // copied at construction
    expect(draw(fromTensors)).toEqual({ shapes: [[2, 3], [4], []], flat: a.map((x) => x + 1) });
  });

  it('randomDirection: one fixed unit vector per seed, whatever the rng', () => {
    const u = draw(randomDirection(3), createRng(1)).flat;
    expect(draw(randomDirection(3), createRng(99)).flat).toEqual(u);
    expect(draw(randomDirection(4), createRng(1)).flat).not.toEqual(u);
    expect(Math.hypot(...u)).toBeCloseTo(1, 5);
  });

  it('leak no tensors', () => {
    const before = tf.memory().numTensors;
    for (const sampler of all) for (let i = 0; i < 10; i++) draw(sampler, createRng(i));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reject bad parameters and shapes with one-line fixes', () => {
    expect(() => gaussian(0)).toThrow(/standard deviation must be a finite number > 0/);
    expect(() => hypercube(-1)).toThrow(/half-width h must be a finite number > 0/);
    expect(() => lebesgue({ scale: Number.NaN })).toThrow(/proposal scale s must be/);
    expect(() => gaussian().sample([], createRng())).toThrow(/shapes must be a non-empty list/);
    expect(() => sphere().sample([[2, 1.5]], createRng())).toThrow(/non-negative integers/);
    expect(() => fixed([])).toThrow(/at least one vector/);
    expect(() => fixed([[1, 2], [1]])).toThrow(/vector 1 has 1 entries but vector 0 has 2/);
    expect(() => fixed([[1, Number.NaN]])).toThrow(/non-finite/);
    expect(() => fixed([[1, 2]]).sample([[3]], createRng())).toThrow(
      /vectors have 2 entries but the shapes hold 3; dimension mismatch/,
    );
  });
});

/**
 * The draw kernel @usam/backend registers on wasm (LIST_KERNELS.draws,
 * docs/optimizer-kernels.md) against the samplers' JavaScript draws on cpu:
 * the same values bit for bit, and the rng moved on alike, over random lists
 * of shapes (dimensions of 1, empty tensors), seeds and parameters; with the
 * SIMD module and with `kernels: 'tfjs'` (the kernel's JavaScript fallback).
 */
describe('draws on wasm against the JavaScript draws on cpu', () => {
  const draw = async (backend: string, sampler: Sampler, shapes: number[][], seed: string) => {
    await tf.setBackend(backend);
    const rng = createRng(seed);
    let kernels: string[] = [];
    let values: Float32Array[] = [];
    kernels = (
      await tf.profile(() => {
        const v = sampler.sample(shapes, rng);
        values = v.map((t) => t.dataSync() as Float32Array);
        tf.dispose(v);
      })
    ).kernelNames;
    return { values, kernels, after: rng.next() };
  };

  for (const kernels of ['usam', 'tfjs'] as const) {
    it(`gaussian, sphere, hypercube, rademacher: 45 random lists each (${kernels === 'usam' ? 'SIMD module' : 'fallback'})`, async () => {
      await initBackend('wasm', { kernels });
      const rng = createRng(`draw-kernel:${kernels}`);
      const failures: string[] = [];
      for (let index = 0; index < 180; index++) {
        const dim = () =>
          rng.next() < 0.3 ? 1 : rng.next() < 0.05 ? 0 : Math.ceil(rng.next() * 60);
        const shapes = Array.from({ length: 1 + Math.floor(rng.next() * 4) }, () =>
          Array.from({ length: 1 + Math.floor(rng.next() * 3) }, dim),
        );
        if (shapes.every((s) => s.includes(0))) shapes.push([1]);
        const kind = index % 4;
        const sampler =
          kind === 0
            ? gaussian(rng.next() < 0.5 ? 1 : 0.01 + rng.next())
            : kind === 1
              ? hypercube(0.001 + rng.next())
              : kind === 2
                ? rademacher()
                : sphere();
        const seed = `draw-kernel:${index}`;
        const want = await draw('cpu', sampler, shapes, seed);
        const before = tf.memory().numTensors;
        const got = await draw('wasm', sampler, shapes, seed);
        if (tf.memory().numTensors !== before) failures.push(`case ${index}: leaks`);
        if (!got.kernels.includes(LIST_KERNELS.draws))
          failures.push(`case ${index}: ran ${got.kernels}`);
        if (got.after !== want.after) failures.push(`case ${index}: the rng moved on differently`);
        got.values.forEach((g, t) => {
          const i = g.findIndex((x, j) => !Object.is(x, want.values[t]![j]));
          if (i >= 0 || g.length !== want.values[t]!.length) {
            failures.push(
              `case ${index} ${sampler.name} ${JSON.stringify(shapes)}: tensor ${t} entry ${i}: ${g[i]} vs ${want.values[t]![i]}`,
            );
          }
        });
      }
      expect(failures).toEqual([]);
    });
  }

  it('a large draw (2·10⁶ normals: the ziggurat’s wedge and tail paths many times) is bit for bit', async () => {
    await initBackend('wasm', { kernels: 'usam' });
    const shapes = [[1000, 1000], [1], [999, 1001]];
    const want = await draw('cpu', gaussian(), shapes, 'large');
    const got = await draw('wasm', gaussian(), shapes, 'large');
    const tail = want.values
      .flatMap((v) => Array.from(v))
      .filter((x) => Math.abs(x) > 3.442619855899);
    expect(tail.length).toBeGreaterThan(500); // the tail path ran (P(|z| > R) ≈ 5.8e-4)
    got.values.forEach((g, t) => {
      expect(g.findIndex((x, j) => !Object.is(x, want.values[t]![j]))).toBe(-1);
    });
    // The sphere: the same normals, their float64 norm and the float64 scaling.
    const wantSphere = await draw('cpu', sphere(), shapes, 'large');
    const gotSphere = await draw('wasm', sphere(), shapes, 'large');
    expect(gotSphere.kernels).toContain(LIST_KERNELS.draws);
    gotSphere.values.forEach((g, t) => {
      expect(g.findIndex((x, j) => !Object.is(x, wantSphere.values[t]![j]))).toBe(-1);
    });
    await tf.setBackend('cpu');
  });
});
