import * as tf from '@tensorflow/tfjs-core';
import { defineMeasure, fixed, frobenius, type OuterFunction, psi } from '@usam/measures';
import { describe, expect, it } from 'vitest';
import { detSam, frobSam, traceSam, universalSam } from './instances';
import { add, flat, type Problem, problemFactory, relativeError, split } from './test-helpers';

/**
 * Each (φ, ψ, μ) variant's update against the formula in
 * docs/sharpness-aware-step.md, computed by hand
 * in float64 from L and ∇L at the injected points x + ρv_i, after one SGD
 * step x ← x − η·g (so this also checks that nothing of the perturbation
 * remains: the result is base_optimizer(x, g) exactly).
 *
 * Tolerance 1e-5 relative: the optimizer works in float32 (ε = 1.2e-7); the
 * d_i = (L_i − L)/ρ² it forms lose |L|/|L_i − L| ≈ 10–100 of that to
 * cancellation at the radii below, and the update carries it at most once more.
 */
const TOLERANCE = 1e-5;
const LR = 0.1;

const make = problemFactory();

/** Seeded-free, fixed perturbation vectors of length d. */
const vectors = (d: number, n: number, scale = 1) =>
  Array.from({ length: n }, (_, i) =>
    Array.from({ length: d }, (_, j) => scale * Math.sin(1.7 * (i + 1) * (j + 1) + i)),
  );

/** Runs one step and returns x before, x after, and the stats. */
async function stepOnce(
  p: Problem,
  build: (
    params: tf.Variable[],
    base: tf.Optimizer,
  ) => {
    step: (l: () => tf.Scalar) => Promise<{ applied: boolean; clipped: number }>;
  },
) {
  const x = flat(p.variables);
  const opt = build(p.variables, tf.train.sgd(LR));
  const stats = await opt.step(p.loss);
  return { x, after: flat(p.variables), stats };
}

/** x − η·g for the hand-computed g. */
const sgd = (x: number[], g: number[]) => add(x, g, -LR);

/** Hand formula pieces: L, ∇L at x and at each x + ρv. */
function points(p: Problem, x: number[], vs: number[][], rho: number) {
  const clean = p.at(x);
  const perturbed = vs.map((v) => p.at(add(x, v, rho)));
  const d = perturbed.map((q) => (q.loss - clean.loss) / rho ** 2);
  const delta = perturbed.map((q) => add(q.gradient, clean.gradient, -1));
  return { clean, perturbed, d, delta };
}

/** ∇L + λ·Σ c_i Δ_i. */
const combine = (g0: number[], delta: number[][], c: number[], lambda: number) =>
  g0.map((g, j) => g + lambda * delta.reduce((s, di, i) => s + c[i]! * di[j]!, 0));

describe.each(['quadratic', 'mlp'] as const)('the step formulas on the %s', (kind) => {
  it('Frob-SAM: g = ∇L + λ(4/ρ²)·ĉov(L_i, ∇L_i), unbiased', async () => {
    const p = make(kind);
    const d = flat(p.variables).length;
    const rho = 0.1;
    const lambda = 0.3;
    const vs = vectors(d, 3);
    const { x, after } = await stepOnce(p, (params, base) =>
      frobSam({ params, base, rho, lambda, samples: 3, sampler: fixed(vs) }),
    );
    const { clean, perturbed, delta } = points(p, x, vs, rho);
    const Lbar = perturbed.reduce((s, q) => s + q.loss, 0) / 3;
    const c = perturbed.map((q) => (4 / rho ** 2) * ((q.loss - Lbar) / 2));
    expect(relativeError(after, sgd(x, combine(clean.gradient, delta, c, lambda)))).toBeLessThan(
      TOLERANCE,
    );
  });

  it('Frob-SAM under momentum and weight decay: the base steps on g + wd·x, twice', async () => {
    // Momentum is linear in g, so two steps pin down exactly what the base received:
    // b₁ = g₁ + wd·x₀, x₁ = x₀ − ηb₁; b₂ = 0.9b₁ + g₂ + wd·x₁, x₂ = x₁ − ηb₂.
    const p = make(kind);
    const d = flat(p.variables).length;
    const [rho, lambda, wd] = [0.1, 0.3, 0.02];
    const vs = vectors(d, 4);
    const opt = frobSam({
      params: p.variables,
      base: tf.train.momentum(LR, 0.9),
      rho,
      lambda,
      samples: 2,
      weightDecay: wd,
      sampler: fixed(vs),
    });
    const hand = (x: number[], draws: number[][]) => {
      const { clean, perturbed, delta } = points(p, x, draws, rho);
      const Lbar = (perturbed[0]!.loss + perturbed[1]!.loss) / 2;
      const c = perturbed.map((q) => (4 / rho ** 2) * (q.loss - Lbar));
      return add(combine(clean.gradient, delta, c, lambda), x, wd);
    };
    const x0 = flat(p.variables);
    const b1 = hand(x0, vs.slice(0, 2));
    const x1 = add(x0, b1, -LR);
    await opt.step(p.loss);
    expect(relativeError(flat(p.variables), x1)).toBeLessThan(TOLERANCE);
    const b2 = add(hand(flat(p.variables), vs.slice(2, 4)), b1, 0.9);
    await opt.step(p.loss);
    expect(relativeError(flat(p.variables), add(x1, b2, -LR))).toBeLessThan(TOLERANCE);
    opt.dispose();
  });

  it.each(['gaussian', 'sphere'] as const)(
    'Trace-SAM (%s): g = ∇L + λ(1/n)Σ(∇L(x + ρv_i) − ∇L(x))',
    async (mu) => {
      const p = make(kind);
      const d = flat(p.variables).length;
      const vs = vectors(d, 2);
      const { x, after } = await stepOnce(p, (params, base) =>
        traceSam({ params, base, mu, rho: 0.05, lambda: 2, samples: 2, sampler: fixed(vs) }),
      );
      const { clean, delta } = points(p, x, vs, 0.05);
      expect(
        relativeError(after, sgd(x, combine(clean.gradient, delta, [0.5, 0.5], 2))),
      ).toBeLessThan(TOLERANCE);
    },
  );

  it('Det-SAM: g = ∇L + λ(2/t̄³)(1/n)Σe^{−d_i}(∇L_i − ∇L)', async () => {
    const p = make(kind);
    const dim = flat(p.variables).length;
    const rho = 0.5;
    const vs = vectors(dim, 3, 0.8);
    const { x, after } = await stepOnce(p, (params, base) =>
      detSam({ params, base, rho, lambda: 0.7, samples: 3, sampler: fixed(vs) }),
    );
    const { clean, d, delta } = points(p, x, vs, rho);
    const tbar = d.reduce((s, di) => s + Math.exp(-di), 0) / 3;
    const c = d.map((di) => ((2 / tbar ** 3) * Math.exp(-di)) / 3);
    expect(relativeError(after, sgd(x, combine(clean.gradient, delta, c, 0.7)))).toBeLessThan(
      TOLERANCE,
    );
  });

  it('any measure, m = 2 unshared: g = ∇L + λΣ_ℓ ∂_ℓφ(t)(1/n)Σ_i ψ′_ℓ(d_iℓ)Δ_iℓ (eq. 94)', async () => {
    const p = make(kind);
    const dim = flat(p.variables).length;
    const rho = 0.2;
    const [v1, v2, v3, v4] = vectors(dim, 4);
    // φ(t) = t₁ + t₂², ψ₁ = t, ψ₂ = exp(t/2): nothing in the catalogue.
    const phi: OuterFunction = {
      name: 't1 + t2^2',
      value: (t) => t[0]! + t[1]! ** 2,
      gradient: (t) => [1, 2 * t[1]!],
    };
    const measure = defineMeasure({
      name: 'custom',
      components: [
        { mu: fixed([v1!, v2!]), psi: psi.identity },
        { mu: fixed([v3!, v4!]), psi: psi.exp(0.5) },
      ],
      phi,
    });
    const { x, after, stats } = await stepOnce(p, (params, base) =>
      universalSam({ params, base, measure, rho, lambda: 0.4, samples: 2 }),
    );
    const { clean, d, delta } = points(p, x, [v1!, v2!, v3!, v4!], rho);
    const t1 = (d[0]! + d[1]!) / 2;
    const t2 = (Math.exp(d[2]! / 2) + Math.exp(d[3]! / 2)) / 2;
    const c = [
      0.5,
      0.5,
      2 * t2 * 0.5 * 0.5 * Math.exp(d[2]! / 2),
      2 * t2 * 0.5 * 0.5 * Math.exp(d[3]! / 2),
    ];
    expect(relativeError(after, sgd(x, combine(clean.gradient, delta, c, 0.4)))).toBeLessThan(
      TOLERANCE,
    );
    expect((stats as unknown as { gradientEvaluations: number }).gradientEvaluations).toBe(5);
    expect((stats as unknown as { sharpness: number }).sharpness).toBeCloseTo(t1 + t2 ** 2, 3);
  });
});

describe('a measure given as a copy', () => {
  it('a spread copy of frobenius() keeps its covariance form: the same step as frobSam', async () => {
    const vs = vectors(flat(make('quadratic').variables).length, 3);
    const after = async (measure?: object) => {
      const p = make('quadratic');
      const o = { rho: 0.1, lambda: 0.3, samples: 3, sampler: fixed(vs) };
      const { after } = await stepOnce(p, (params, base) =>
        measure === undefined
          ? frobSam({ ...o, params, base })
          : universalSam({ ...o, params, base, measure: measure as never }),
      );
      return after;
    };
    const reference = await after();
    expect(await after({ ...frobenius() })).toEqual(reference);
    // A measure built by defineMeasure from the same parts runs Algorithm 3: another step
    // (its coefficients are (n − 1)/n of the covariance form's).
    expect(await after(defineMeasure(frobenius()))).not.toEqual(reference);
  });
});

describe('Det-SAM stability (docs/det-sam-stability.md)', () => {
  /**
   * L = ½‖x‖² at x = (20, 0): the point x + v with v = (s, 0) has the gap
   * d = 20s + s²/2 (ρ = 1), so s = −20 + √(400 + 2d) hits any d > −200.
   */
  const gapVector = (gap: number) => [-20 + Math.sqrt(400 + 2 * gap), 0];

  async function detStep(gaps: number[]) {
    const x = tf.variable(tf.tensor1d([20, 0]));
    const loss = () => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square(x))) as tf.Scalar);
    const opt = detSam({
      params: [x],
      base: tf.train.sgd(LR),
      rho: 1,
      lambda: 1,
      samples: gaps.length,
      sampler: fixed(gaps.map(gapVector)),
    });
    const stats = await opt.step(loss);
    const after = Array.from(x.dataSync());
    x.dispose();
    return { stats, after };
  }

  it('gaps from −100 to +100 give a finite update equal to the log-space formula', async () => {
    const gaps = [-100, -50, 0, 50, 100];
    const { stats, after } = await detStep(gaps);
    expect(stats.applied).toBe(true);
    expect(stats.nonFinite).toBe(false);
    expect(after.every(Number.isFinite)).toBe(true);
    // By hand: M = 100, w_i = e^{−d_i − 100}, c_i = (2/n)e^{−200}w_i/w̄³; Δ_i = v_i.
    const w = gaps.map((g) => Math.exp(-g - 100));
    const wbar = w.reduce((a, b) => a + b, 0) / 5;
    const g = [20, 0].map((g0, j) =>
      gaps.reduce(
        (s, gap, i) => s + ((0.4 * Math.exp(-200) * w[i]!) / wbar ** 3) * gapVector(gap)[j]!,
        g0,
      ),
    );
    expect(relativeError(after, sgd([20, 0], g))).toBeLessThan(TOLERANCE);
  });

  it.each([[[100, 100]], [[100]], [[60, 80, 100]]])(
    'all gaps large (%j): coefficients beyond float32 are clipped, counted, and the step stays finite',
    async (gaps) => {
      const { stats, after } = await detStep(gaps);
      expect(stats.applied).toBe(true);
      expect(stats.clipped).toBeGreaterThan(0);
      expect(after.every(Number.isFinite)).toBe(true);
    },
  );

  it.each([35, 40, 43])(
    'gap %d: the exact step, not clipped (|λc·Δ| ≤ 2e^{86}·2.1 ≈ 1e38 still fits float32)',
    async (gap) => {
      const { stats, after } = await detStep([gap]);
      // One draw: c = (2/1)·e^{−d}/e^{−3d} = 2e^{2d}; g = ∇L + c·Δ with Δ = v = (s, 0).
      const s = gapVector(gap)[0]!;
      const expected = 20 - LR * (20 + 2 * Math.exp(2 * gap) * s);
      expect(stats.clipped).toBe(0);
      // float32 rounding of c (ε = 6e-8) and of the float32 gap d read back (|d|·ε·2 in 2d).
      expect(Math.abs(after[0]! / expected - 1)).toBeLessThan(1e-4);
    },
  );

  /**
   * L = ½‖x‖² in R⁴ at x = 0 with one draw v = a·signs (ρ = 1, λ = 1): the gap is
   * d = 2a², Δ = v, c = 2e^{2d}, so g = 2e^{2d}·v with every |g_i| = 2e^{2d}·a.
   * SGD with η = 1e-30 keeps x − ηg inside float32, so g = −x/η is read back.
   */
  async function detStepR4(gap: number, signs: number[]) {
    const eta = 1e-30;
    const x = tf.variable(tf.zeros([4]));
    const loss = () => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square(x))) as tf.Scalar);
    const a = Math.sqrt(gap / 2);
    const opt = detSam({
      params: [x],
      base: tf.train.sgd(eta),
      lambda: 1,
      sampler: fixed([signs.map((s) => s * a)]),
    });
    const stats = await opt.step(loss);
    const g = Array.from(x.dataSync(), (xi) => -xi / Math.fround(eta));
    x.dispose();
    opt.dispose();
    return { stats, g, entry: 2 * Math.exp(2 * gap) * a };
  }
  const FLOAT32_MAX = 3.4028234663852886e38;
  const same = [1, 1, 1, 1];
  const alternating = [1, -1, 1, -1];
  /** The gap at which |g_i| = 2e^{2d}·√(d/2) equals `entry` (bisection in float64). */
  const gapFor = (entry: number) => {
    let [lo, hi] = [1, 100];
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (2 * Math.exp(2 * mid) * Math.sqrt(mid / 2) < entry) lo = mid;
      else hi = mid;
    }
    return lo;
  };

  it.each([
    ['of one sign', same],
    ['alternating', alternating],
  ])(
    'x ∈ R⁴, gap 100, signs %s: applied with λr scaled to float32 (its sum would overflow, no entry does)',
    async (_name, signs) => {
      const { stats, g } = await detStepR4(100, signs);
      expect(stats.applied).toBe(true);
      expect(stats.clipped).toBe(1);
      // Scaled so that max|g| is float32's largest value (less 1e-6), along −v's signs.
      g.forEach((gi, i) => {
        expect(Math.sign(gi)).toBe(signs[i]);
        expect(Math.abs(gi) / FLOAT32_MAX).toBeGreaterThan(0.9999);
        expect(Number.isFinite(gi)).toBe(true);
      });
    },
  );

  it.each([
    // The old check summed g: 4·1.2e38 overflowed and the exact step was refused.
    [1.2e38, same],
    // The old per-term cap F32MAX/((J + 1)·max|Δ|) clipped 2.5e38 to 1.7e38 though g fits float32.
    [2.5e38, alternating],
  ])('x ∈ R⁴, every |g_i| = %d: the exact step, not clipped', async (entry, signs) => {
    const { stats, g, entry: want } = await detStepR4(gapFor(entry), signs);
    expect(want / entry).toBeCloseTo(1, 9);
    expect(stats.applied).toBe(true);
    expect(stats.clipped).toBe(0);
    // float32 rounding of the gap read back (|d|·ε·2 in 2d ≈ 1e-5 at d ≈ 43) and of η.
    g.forEach((gi, i) => {
      expect(Math.abs(gi / (signs[i]! * entry) - 1)).toBeLessThan(1e-4);
    });
  });

  it.each([[[-100, -100]], [[-150]]])('all gaps very negative (%j): finite', async (gaps) => {
    const { stats, after } = await detStep(gaps);
    expect(stats.applied).toBe(true);
    expect(after.every(Number.isFinite)).toBe(true);
  });
});

describe('the samplers of each instance', () => {
  /** Records the perturbation e = x_pass − x of every perturbed pass. */
  async function perturbations(
    build: (
      params: tf.Variable[],
      base: tf.Optimizer,
    ) => {
      step: (l: () => tf.Scalar) => Promise<unknown>;
    },
    d = 2000,
  ) {
    const x = tf.variable(tf.zeros([d]));
    const seen: Float32Array[] = [];
    const loss = () => {
      seen.push((x.dataSync() as Float32Array).slice());
      return tf.sum(tf.mul(x, 1e-3)) as tf.Scalar;
    };
    // λ > 0 but lr = 0 keeps x = 0, so each pass sees e itself.
    await build([x], tf.train.sgd(0)).step(loss);
    x.dispose();
    return seen.slice(1);
  }
  const moments = (e: Float32Array) => {
    const mean = e.reduce((a, b) => a + b, 0) / e.length;
    const variance = e.reduce((a, b) => a + (b - mean) ** 2, 0) / e.length;
    return { mean, variance, norm: Math.hypot(...e) };
  };

  // With d = 2000 draws, the sample variance of N(0, s²) has relative sd √(2/d) = 3.2%; 5 sd = 16%.
  it('traceSam gaussian: e = ρv, v ~ N(0, I)', async () => {
    const [e] = await perturbations((params, base) => traceSam({ params, base, rho: 0.01 }));
    const { mean, variance } = moments(e!);
    expect(Math.abs(mean)).toBeLessThan((5 * 0.01) / Math.sqrt(2000));
    expect(variance / 1e-4).toBeGreaterThan(0.84);
    expect(variance / 1e-4).toBeLessThan(1.16);
  });

  it('traceSam sphere: ‖e‖ = ρ over the whole parameter vector', async () => {
    const [e] = await perturbations((params, base) =>
      traceSam({ params, base, rho: 0.01, mu: 'sphere' }),
    );
    expect(moments(e!).norm).toBeCloseTo(0.01, 6);
  });

  it('frobSam: n = 2 Gaussian draws (variance ρ²), 1 + n gradients', async () => {
    const es = await perturbations((params, base) => frobSam({ params, base, rho: 0.005 }));
    expect(es).toHaveLength(2);
    for (const e of es) {
      const { variance } = moments(e);
      expect(variance / 0.005 ** 2).toBeGreaterThan(0.84);
      expect(variance / 0.005 ** 2).toBeLessThan(1.16);
    }
  });

  it('detSam: e = ρv, v uniform on [−h, h]^d (variance ρ²h²/3)', async () => {
    const [e] = await perturbations((params, base) =>
      detSam({ params, base, rho: 2, halfWidth: 0.01 }),
    );
    const { variance } = moments(e!);
    expect(Math.max(...e!.map(Math.abs))).toBeLessThanOrEqual(0.02 + 1e-9);
    expect(variance / (0.02 ** 2 / 3)).toBeGreaterThan(0.84);
    expect(variance / (0.02 ** 2 / 3)).toBeLessThan(1.16);
  });

  it('a different seed draws different perturbations, the same seed the same', async () => {
    const draw = (seed: number) =>
      perturbations((params, base) => traceSam({ params, base, seed }), 50);
    const [a] = await draw(1);
    const [b] = await draw(1);
    const [c] = await draw(2);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(Array.from(a!)).not.toEqual(Array.from(c!));
  });
});

it('split and flat invert each other (test helper sanity)', () => {
  const p = make('mlp');
  const x = flat(p.variables);
  const parts = split(x, p.variables);
  expect(parts.flatMap((t) => Array.from(t.dataSync()))).toEqual(x);
  for (const t of parts) t.dispose();
});
