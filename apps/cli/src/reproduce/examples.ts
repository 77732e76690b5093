import { determinant, exact, frobenius, trace } from '@usam/measures';

/** A measure's exact value at one point of one of the paper's examples. */
export interface ExampleRow {
  readonly example: string;
  readonly point: string;
  readonly traceH: number;
  readonly frobeniusSquared: number;
  readonly detH: number;
}

const evaluate = (example: string, point: string, H: number[][]): ExampleRow => ({
  example,
  point,
  // trace(gaussian) is tr(H)/2 (Table 1), so double it for tr H.
  traceH: 2 * exact(trace('gaussian'), H),
  frobeniusSquared: exact(frobenius(), H),
  // det's closed form is Π λ for any H; Example 1 is indefinite on purpose.
  detH: exact(determinant(2), H, { allowDivergent: true }),
});

/**
 * Hessian of L = x₁²x₂² − 2x₁x₂ + 1 = (x₁x₂ − 1)² (Example 2):
 * [[2x₂², 4x₁x₂ − 2], [4x₁x₂ − 2, 2x₁²]].
 */
const example2Hessian = (x1: number, x2: number) => [
  [2 * x2 * x2, 4 * x1 * x2 - 2],
  [4 * x1 * x2 - 2, 2 * x1 * x1],
];

/**
 * The paper's Example 1 (L = ½(x₁² − x₂²): tr H = 0, ‖H‖_F² = 2, det H = −1)
 * and Example 2 (scale invariance, Theorem 4): along (k, c/k) the determinant
 * is the same for every k while the trace 2(c²/k² + k²) is not. On the
 * zero-loss manifold c = 1, det H = 0 (H is singular there); c = 0.6 gives
 * the same invariance with H ≻ 0 (det H = 4c² − (4c − 2)² = 1.28).
 */
export function paperExamples(): ExampleRow[] {
  const rows = [
    evaluate('1', 'any x', [
      [1, 0],
      [0, -1],
    ]),
  ];
  for (const c of [1, 0.6]) {
    for (const k of [0.5, 1, 2, 4]) {
      rows.push(evaluate('2', `(${k}, ${c}/${k})`, example2Hessian(k, c / k)));
    }
  }
  return rows;
}
