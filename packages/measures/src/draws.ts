import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { Rng } from './types';

/**
 * Bulk draws for the samplers, in JavaScript, so a seed gives the same values
 * on every backend. Why not tfjs's seeded ops: they call alea once per entry
 * (and Box–Muller's cos/sin run at ~26 ns an entry on wasm); drawing N(0, I)
 * for a 168k-parameter MLP took 6.6 ms on wasm, a quarter of a gradient
 * evaluation, in every SAM-family step. These take 0.5 ms (uniform) and
 * 1.7 ms (normal).
 */

/** A draw's stream seed: the 128-bit xoroshiro128+ state (four int32, as pure-rand takes it), from `rng`. */
export type StreamSeed = [number, number, number, number];

/** The next stream seed from `rng` (four of its numbers: what a draw consumes of a checkpointed rng). */
export function streamSeed(rng: Rng): StreamSeed {
  const word = () => (rng.next() * 2 ** 32) | 0;
  // `| 1` keeps the state non-zero, xoroshiro's one fixed point.
  return [word(), word(), word(), word() | 1];
}

/** A xoroshiro128+ stream (pure-rand) from a seed, or from `rng`'s next seed. */
const streamFrom = (from: Rng | StreamSeed) =>
  xoroshiro128plusFromState(Array.isArray(from) ? [...from] : streamSeed(from));

type Stream = ReturnType<typeof streamFrom>;

/** (k + ½)·2⁻³² for a 32-bit k: in (0, 1), never 0, so log u is finite. */
const unit = (stream: Stream) => ((stream.next() >>> 0) + 0.5) * 2 ** -32;

/**
 * n uniforms u in (0, 1] as float32 (float32 rounds the top 2⁻²⁵ of (0, 1) up to 1);
 * with `halfWidth` h, each is mapped to h(2u − 1) ∈ [−h, h] in the same pass (u
 * rounded to float32 first, so the values are those of a second pass over the array).
 */
export function uniforms(n: number, rng: Rng | StreamSeed, halfWidth?: number): Float32Array {
  const stream = streamFrom(rng);
  const out = new Float32Array(n);
  if (halfWidth === undefined) {
    for (let i = 0; i < n; i++) out[i] = unit(stream);
  } else {
    for (let i = 0; i < n; i++) out[i] = halfWidth * (2 * Math.fround(unit(stream)) - 1);
  }
  return out;
}

// Marsaglia & Tsang's ziggurat ("The Ziggurat Method for Generating Random
// Variables", J. Stat. Softw. 5(8), 2000), 128 layers: layer i covers
// |x| < K[i]·W[i]; a draw inside it is accepted at once (98.8% of draws).
const R = 3.442619855899; // right edge of the base layer
const V = 9.91256303526217e-3; // area of each layer
const M = 2 ** 31;
const K = new Float64Array(128);
const W = new Float64Array(128);
const F = new Float64Array(128);
/** K, W and F end to end: the tables a backend's draw kernel is given (LIST_KERNELS.draws). */
export const ZIGGURAT_TABLES = new Float64Array(3 * 128);
{
  let d = R;
  let t = R;
  const q = V / Math.exp(-0.5 * d * d);
  K[0] = Math.floor((d / q) * M);
  W[0] = q / M;
  W[127] = d / M;
  F[0] = 1;
  F[127] = Math.exp(-0.5 * d * d);
  for (let i = 126; i >= 1; i--) {
    d = Math.sqrt(-2 * Math.log(V / d + Math.exp(-0.5 * d * d)));
    K[i + 1] = Math.floor((d / t) * M);
    t = d;
    F[i] = Math.exp(-0.5 * d * d);
    W[i] = d / M;
  }
  ZIGGURAT_TABLES.set(K, 0);
  ZIGGURAT_TABLES.set(W, 128);
  ZIGGURAT_TABLES.set(F, 256);
}

/**
 * n standard normals as float32, by the ziggurat. The layer index comes from
 * bits of its own, not from the 32-bit value it scales (Doornik, "An Improved
 * Ziggurat Method to Generate Normal Random Samples", 2005: sharing them
 * correlates the two).
 */
export function normals(n: number, rng: Rng | StreamSeed): Float32Array {
  const stream = streamFrom(rng);
  const out = new Float32Array(n);
  let bits = 0;
  let left = 0;
  for (let k = 0; k < n; k++) {
    for (;;) {
      const hz = stream.next() | 0; // signed 32-bit: sign and magnitude
      if (left === 0) {
        bits = stream.next();
        left = 4;
      }
      const iz = bits & 127; // four 7-bit indices per 32-bit word
      bits >>>= 8;
      left--;
      const x = hz * W[iz]!;
      if (Math.abs(hz) < K[iz]!) {
        out[k] = x;
        break;
      }
      if (iz === 0) {
        // The tail beyond R (Marsaglia 1964).
        let a: number;
        let b: number;
        do {
          a = -Math.log(unit(stream)) / R;
          b = -Math.log(unit(stream));
        } while (b + b < a * a);
        out[k] = hz > 0 ? R + a : -R - a;
        break;
      }
      // The wedge between layers: accept under the density.
      if (F[iz]! + unit(stream) * (F[iz - 1]! - F[iz]!) < Math.exp(-0.5 * x * x)) {
        out[k] = x;
        break;
      }
    }
  }
  return out;
}
