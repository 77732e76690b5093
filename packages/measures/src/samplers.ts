import * as tf from '@tensorflow/tfjs-core';
import { normals, type StreamSeed, streamSeed, uniforms, ZIGGURAT_TABLES } from './draws';
import { MeasureError, show } from './errors';
import { createRng } from './rng';
import {
  checkShapes,
  concatenate,
  fromFlat,
  LIST_KERNELS,
  type Shapes,
  squaredNorm,
} from './tensor-list';
import type { Rng, Sampler } from './types';

/**
 * The distributions μ of Table 1 (and of the variants,
 * docs/sharpness-aware-step.md), as `Sampler`s. Every sampler
 * draws v as a list of float32 tensors with the requested shapes; the caller
 * owns them. Norms ("sphere", ‖v‖²) are over the whole concatenated vector.
 */

const positive = (x: unknown, what: string, where: string) => {
  if (!(typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new MeasureError(`${where}: ${what} must be a finite number > 0, got ${show(x)}.`);
  }
};

/** ‖v‖² read back as a number. */
function normSquared(v: readonly tf.Tensor[]): number {
  const n2 = squaredNorm(v);
  const value = n2.dataSync()[0]!;
  n2.dispose();
  return value;
}

/** Multiplies in place and returns the array. */
function scale(values: Float32Array, factor: number): Float32Array {
  if (factor !== 1) for (let i = 0; i < values.length; i++) values[i]! *= factor;
  return values;
}

/**
 * A draw shaped like `shapes` from `rng`'s next stream seed: written straight
 * into the tensors by the backend's draw kernel where it has one
 * (LIST_KERNELS.draws, @usam/backend on wasm: the same values, bit for bit,
 * docs/optimizer-kernels.md), else `js`'s values uploaded. Either way `rng`
 * moves on by the same four numbers, so a checkpoint's rng resumes alike.
 */
function drawn(
  shapes: Shapes,
  rng: Rng,
  which: 'normal' | 'sphere' | 'hypercube' | 'rademacher',
  scale: number,
  js: (seed: StreamSeed) => Float32Array,
): tf.Tensor[] {
  const seed = streamSeed(rng);
  if (tf.getKernel(LIST_KERNELS.draws, tf.getBackend()) === undefined) {
    return fromFlat(js(seed), shapes);
  }
  const attrs = {
    which,
    seed,
    shapes: shapes.map((s) => [...s]),
    scale,
    tables: ZIGGURAT_TABLES,
    fallback: () => js(seed),
  };
  const out = tf.engine().runKernel(LIST_KERNELS.draws, {}, attrs as unknown as tf.NamedAttrMap) as
    | tf.Tensor
    | tf.Tensor[];
  return Array.isArray(out) ? out : [out]; // tfjs returns a lone output unwrapped
}

/** μ = N(0, std²·I); Table 1's Gaussian rows use std = 1. */
export function gaussian(std = 1): Sampler {
  positive(std, 'the standard deviation', 'gaussian');
  return {
    name: std === 1 ? 'gaussian' : `gaussian(std=${show(std)})`,
    sample: (shapes, rng) => {
      const d = checkShapes(shapes, 'gaussian');
      return drawn(shapes, rng, 'normal', std, (seed) => scale(normals(d, seed), std));
    },
  };
}

/**
 * μ = Uniform(S^{d−1}), the unit sphere of the whole concatenated vector
 * (Table 1, trace and polynomial rows): a normalised Gaussian, whose direction
 * is uniform by rotation invariance.
 */
export function sphere(): Sampler {
  return {
    name: 'sphere',
    sample: (shapes, rng) => {
      const d = checkShapes(shapes, 'sphere');
      return drawn(shapes, rng, 'sphere', 1, (seed) => {
        const z = normals(d, seed);
        let norm2 = 0; // accumulated in float64, in order (the draw kernel sums alike)
        for (let i = 0; i < d; i++) norm2 += z[i]! * z[i]!;
        return scale(z, 1 / Math.sqrt(norm2));
      });
    },
  };
}

/** μ = uniform on {−1, +1}^d (Hutchinson probes: E[vvᵀ] = I with the least variance). */
export function rademacher(): Sampler {
  return {
    name: 'rademacher',
    sample: (shapes, rng) => {
      const d = checkShapes(shapes, 'rademacher');
      return drawn(shapes, rng, 'rademacher', 1, (seed) => {
        const v = uniforms(d, seed);
        for (let i = 0; i < d; i++) v[i] = v[i]! <= 0.5 ? -1 : 1;
        return v;
      });
    },
  };
}

/**
 * μ = uniform on the hypercube [−h, h]^d (Det-SAM's perturbations,
 * docs/sharpness-aware-step.md).
 */
export function hypercube(halfWidth: number): Sampler {
  positive(halfWidth, 'the half-width h', 'hypercube');
  return {
    name: `hypercube(h=${show(halfWidth)})`,
    sample: (shapes, rng) => {
      const d = checkShapes(shapes, 'hypercube');
      // In [−h, h], mapped while drawing.
      return drawn(shapes, rng, 'hypercube', halfWidth, (seed) => uniforms(d, seed, halfWidth));
    },
  };
}

/** How `lebesgue` draws its points; see there. */
export type LebesgueOptions =
  | { readonly proposal?: 'gaussian'; readonly scale?: number | ArrayLike<number> }
  | { readonly proposal: 'hypercube'; readonly halfWidth: number };

/**
 * μ = the Lebesgue measure on R^d (Table 1, determinant row), which no sampler
 * can draw from: v is drawn from a proposal q and carries the weight
 * w(v) = 1/q(v) (`logWeight`), so E_q[w·ψ(½vᵀHv)] = ∫ ψ(½vᵀHv) dv.
 *
 * - `proposal: 'gaussian'` (default), q = N(0, s²I) with s = `scale` (default 1):
 *   unbiased. For ψ = exp(−t) and H ≻ 0 with eigenvalues λ_i, the relative
 *   variance of one weighted sample is Π_i a_i/√(2a_i − 1) − 1 with a_i = s²λ_i:
 *   zero when s²λ_i = 1 for all i (q ∝ ψ), growing like √(a/2) per dimension
 *   when s is too large, and infinite once s² ≤ 1/(2λ_min) (the weights' tails
 *   are then too heavy for any standard error to mean anything). Pick s ≈ λ^{−1/2}
 *   for the typical eigenvalue λ. The weights contain (2πs²)^{d/2}, so doubles
 *   overflow past d ≈ 700/log(2πs²); this is for small d. `scale` may also be
 *   one s_i per coordinate (length d, q = N(0, diag(s_i²))): a proposal that
 *   follows a diagonal rescaling v → Dv (s_i → D_i·s_i) draws exactly Dv from
 *   the same seed, with the same weight when det D = 1 (docs/scale-invariant.md).
 * - `proposal: 'hypercube'`, q = Uniform([−h, h]^d), w = (2h)^d: the
 *   truncated integral over the cube (docs/measures.md), biased low unless the cube
 *   covers where ψ(½vᵀHv) is not negligible (h ≫ λ_min^{−1/2}).
 */
export function lebesgue(options: LebesgueOptions = {}): Sampler {
  if (typeof options !== 'object' || options === null) {
    throw new MeasureError(
      `lebesgue: options must be an object { proposal, scale } or { proposal: 'hypercube', halfWidth }, got ${show(options)}.`,
    );
  }
  const proposal = options.proposal ?? 'gaussian';
  if (proposal !== 'gaussian' && proposal !== 'hypercube') {
    throw new MeasureError(
      `lebesgue: proposal must be 'gaussian' or 'hypercube', got ${show(proposal)}.`,
    );
  }
  const known = proposal === 'hypercube' ? ['proposal', 'halfWidth'] : ['proposal', 'scale'];
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new MeasureError(
      `lebesgue: unknown option ${unknown.map((k) => `'${k}'`).join(', ')} for proposal '${proposal}'; valid options are ${known.join(', ')}.`,
    );
  }
  if (options.proposal === 'hypercube') {
    const { halfWidth } = options;
    positive(halfWidth, "the half-width h (proposal 'hypercube' needs halfWidth)", 'lebesgue');
    const cube = hypercube(halfWidth);
    return {
      name: `lebesgue(hypercube h=${show(halfWidth)})`,
      sample: cube.sample,
      logWeight: (_v, d) => d * Math.log(2 * halfWidth),
    };
  }
  const scale = options.scale ?? 1;
  if (typeof scale === 'object' && scale !== null) return perCoordinateLebesgue(scale);
  positive(scale, 'the proposal scale s', 'lebesgue');
  const normal = gaussian(scale);
  return {
    name: `lebesgue(gaussian s=${show(scale)})`,
    sample: normal.sample,
    // log 1/q(v) for q = N(0, s²I).
    logWeight: (v, d) =>
      (d / 2) * Math.log(2 * Math.PI * scale * scale) + normSquared(v) / (2 * scale * scale),
  };
}

/** `lebesgue` with q = N(0, diag(s_i²)), one scale per coordinate. */
function perCoordinateLebesgue(scales: ArrayLike<number>): Sampler {
  const s = Array.from(scales ?? []);
  if (s.length === 0 || !s.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new MeasureError(
      `lebesgue: scale must be a finite number > 0 or a non-empty list of them (one per coordinate), got ${show(scales)}.`,
    );
  }
  const d = s.length;
  const check = (total: number) => {
    if (total !== d) {
      throw new MeasureError(
        `lebesgue: the proposal has ${d} per-coordinate scales but the shapes hold ${total} entries; give one scale per coordinate.`,
      );
    }
  };
  // log 1/q(v) = Σ log(√(2π)·s_i) + Σ v_i²/(2s_i²).
  const logNormaliser = s.reduce((a, si) => a + 0.5 * Math.log(2 * Math.PI * si * si), 0);
  return {
    name: `lebesgue(gaussian s=[${s.slice(0, 3).map(show).join(', ')}${d > 3 ? ', …' : ''}])`,
    sample: (shapes, rng) => {
      const total = checkShapes(shapes, 'lebesgue');
      check(total);
      const z = normals(d, rng);
      for (let i = 0; i < d; i++) z[i]! *= s[i];
      return fromFlat(z, shapes);
    },
    logWeight: (v, dimension) => {
      check(dimension);
      const x = concatenate(v.map((t) => t.dataSync() as Float32Array));
      let quadratic = 0;
      for (let i = 0; i < d; i++) quadratic += (x[i]! * x[i]!) / (2 * s[i]! * s[i]!);
      return logNormaliser + quadratic;
    },
  };
}

/** A perturbation for `fixed`: one flat vector of length d, or one tensor per shape. */
export type FixedVector = ArrayLike<number> | readonly tf.Tensor[];

/**
 * μ = the empirical measure of known vectors, returned in turn (cycling) on
 * each call; the rng is not used. This is how tests and users inject known
 * perturbations (docs/measures.md). The vectors are copied at construction, so the
 * caller may dispose tensors passed in. The position in the cycle is state:
 * build a fresh sampler to start again from the first vector.
 */
export function fixed(vectors: readonly FixedVector[]): Sampler {
  if (!Array.isArray(vectors) || vectors.length === 0) {
    throw new MeasureError(
      'fixed: give at least one vector (a list of vectors, each flat or per-shape tensors).',
    );
  }
  const flat = vectors.map((vector, i) => {
    const isTensors =
      Array.isArray(vector) && vector.length > 0 && vector.every((t) => t instanceof tf.Tensor);
    const data = isTensors
      ? concatenate((vector as readonly tf.Tensor[]).map((t) => t.dataSync() as Float32Array))
      : Float32Array.from(vector as ArrayLike<number>);
    if (data.length === 0) throw new MeasureError(`fixed: vector ${i} is empty.`);
    if (!data.every(Number.isFinite)) {
      throw new MeasureError(
        `fixed: vector ${i} has non-finite entries; give finite perturbations.`,
      );
    }
    return data;
  });
  const d = flat[0]!.length;
  const bad = flat.findIndex((v) => v.length !== d);
  if (bad >= 0) {
    throw new MeasureError(
      `fixed: vector ${bad} has ${flat[bad]!.length} entries but vector 0 has ${d}; all must have the same d.`,
    );
  }
  let next = 0;
  return {
    name: `fixed(${flat.length})`,
    sample: (shapes) => {
      const total = checkShapes(shapes, 'fixed');
      if (total !== d) {
        throw new MeasureError(
          `fixed: the vectors have ${d} entries but the shapes hold ${total}; dimension mismatch between v and the shapes.`,
        );
      }
      const v = flat[next]!;
      next = (next + 1) % flat.length;
      // A copy: a backend may keep the array it is given (cpu does).
      return fromFlat(v.slice(), shapes);
    },
  };
}

/**
 * μ = δ_u, the point mass at one unit vector u drawn from Uniform(S^{d−1})
 * with its own `seed` (the rng passed to `sample` is ignored: μ is one fixed
 * direction, not a distribution). The same seed and shapes always give the
 * same u. `maxEigenvalue` uses m of these, one per direction of Table 1's
 * ⊗_{‖v‖=1} δ_v.
 */
export function randomDirection(seed: number | string): Sampler {
  const uniform = sphere();
  return {
    name: `direction(${seed})`,
    sample: (shapes) => uniform.sample(shapes, createRng(`direction:${seed}`)),
  };
}
