// The coverage table of docs/scale-invariant.md ("Trusting a Monte Carlo standard error"):
// ∫e^{−½|v|²}dv = 2π in d = 2 by importance sampling through N(0, s²I), whose terms have a
// Pareto tail of shape k = 1 − s². For each s and n, 200 seeds: how often the ±2 SE interval
// holds 2π, and how often @usam/measures' diagnostics warn. Build @usam/measures first
// (pnpm --filter @usam/measures build), then: node docs/scripts/importance-coverage.mjs
import {
  createRng,
  importanceDiagnostics,
  MIN_EFFECTIVE_SAMPLES,
  tailShapeLimit,
} from '../../packages/measures/dist/index.js';

const R = 200;
const truth = 2 * Math.PI;
console.log('| s | k | n | interval holds the truth | mean ESS/n | mean k̂ | warned |');
console.log('|---|---|---|---|---|---|---|');
for (const s of [0.4, 0.6, 0.75, 1.5]) {
  const cells = { cover: [], ess: [], k: [], warned: [] };
  for (const n of [100, 1000, 10000]) {
    const rng = createRng(`coverage:${s}:${n}`);
    const normal = () =>
      Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    let cover = 0,
      ess = 0,
      k = 0,
      warned = 0;
    for (let r = 0; r < R; r++) {
      const logTerms = [];
      for (let i = 0; i < n; i++) {
        const r2 = (normal() * s) ** 2 + (normal() * s) ** 2;
        // log(w·ψ) = log(2πs²) + |v|²/(2s²) − |v|²/2
        logTerms.push(Math.log(2 * Math.PI * s * s) + r2 / (2 * s * s) - r2 / 2);
      }
      const y = logTerms.map(Math.exp);
      const mean = y.reduce((a, b) => a + b, 0) / n;
      const se = Math.sqrt(y.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
      if (Math.abs(mean - truth) < 2 * se) cover++;
      const d = importanceDiagnostics(logTerms);
      ess += d.effectiveSampleSize / n;
      k += d.tailShape;
      if (d.effectiveSampleSize < MIN_EFFECTIVE_SAMPLES || d.tailShape > tailShapeLimit(n))
        warned++;
    }
    cells.cover.push(`${Math.round((100 * cover) / R)}%`);
    cells.ess.push((ess / R).toFixed(2));
    cells.k.push((k / R).toFixed(2));
    cells.warned.push(`${Math.round((100 * warned) / R)}%`);
  }
  console.log(
    `| ${s} | ${(1 - s * s).toFixed(2)} | 100 / 1000 / 10⁴ | ${cells.cover.join(' / ')} | ${cells.ess.join(' / ')} | ${cells.k.join(' / ')} | ${cells.warned.join(' / ')} |`,
  );
}
