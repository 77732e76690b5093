import { readFile } from 'node:fs/promises';
import { initBackend } from '@usam/backend';
import { MAX_COUNT } from '@usam/estimators';
import {
  divergenceOf,
  exact,
  explicitHvp,
  type MeasureEstimate,
  monteCarlo,
  proposalScale,
  quadraticLoss,
  symmetricEigenvalues,
  zerothOrder,
} from '@usam/measures';
import { Command, Option } from 'commander';
import { parse as parseCsv } from 'csv-parse/sync';
import { UsageError } from '../cli/errors';
import { createTable, fmt, type ProgramOutput, printJson } from '../cli/output';
import { catalogueMeasure, MEASURE_NAMES } from '../measures';
import { integer, listArg, numberArg } from '../options';
import { BACKEND_CHOICES, type TrainOptions } from '../train/options';

/** The paper's toy losses by name, and their Hessians. */
export const EXAMPLES = ['example1', 'example2'] as const;

/**
 * Example 1: L = ½(x₁² − x₂²), H = diag(1, −1) everywhere (tr H = 0,
 * ‖H‖_F² = 2, det H = −1). Example 2: L = x₁²x₂² − 2x₁x₂ + 1 at (k, 1/k),
 * H = [[2x₂², 4x₁x₂ − 2], [4x₁x₂ − 2, 2x₁²]] (det H the same for every k).
 */
export function exampleHessian(name: string, k: number): number[][] {
  if (name === 'example1') {
    return [
      [1, 0],
      [0, -1],
    ];
  }
  const [x1, x2] = [k, 1 / k];
  return [
    [2 * x2 * x2, 4 * x1 * x2 - 2],
    [4 * x1 * x2 - 2, 2 * x1 * x1],
  ];
}

/** A Hessian from a JSON (array of rows, or { "hessian": rows }) or CSV file. */
export async function readMatrix(path: string): Promise<number[][]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(
      `'${path}' is neither a file nor a toy example; pass a JSON or CSV matrix file, or one of ${EXAMPLES.join(', ')}.`,
    );
  }
  let rows: unknown;
  if (path.toLowerCase().endsWith('.csv')) {
    try {
      rows = (
        parseCsv(text, { comment: '#', skip_empty_lines: true, trim: true }) as string[][]
      ).map((row) => row.map(Number));
    } catch (error) {
      throw new UsageError(
        `'${path}' is not valid CSV (${(error as Error).message}); fix the file.`,
      );
    }
  } else {
    try {
      const json = JSON.parse(text) as unknown;
      rows = Array.isArray(json) ? json : (json as { hessian?: unknown })?.hessian;
    } catch (error) {
      throw new UsageError(
        `'${path}' is not valid JSON (${(error as Error).message}); pass rows as [[1, 0], [0, -1]] (or a .csv file).`,
      );
    }
  }
  const square =
    Array.isArray(rows) &&
    rows.length > 0 &&
    rows.every(
      (r) =>
        Array.isArray(r) &&
        r.length === rows.length &&
        r.every((x) => typeof x === 'number' && Number.isFinite(x)),
    );
  if (!square) {
    throw new UsageError(
      `'${path}' does not hold a square matrix of finite numbers; write d rows of d numbers (JSON [[…], …] or CSV).`,
    );
  }
  return rows as number[][];
}

/** A sampled estimate; `warning` where its draws say the standard error cannot be trusted. */
export interface Sampled {
  readonly estimate: number;
  readonly standardError: number;
  readonly warning?: string;
}

/**
 * One catalogue measure of H three ways (docs/measures.md); a divergent one has
 * no sampled values.
 */
export interface MeasureRow {
  readonly measure: string;
  /**
   * The closed form, or the quadrature of a measure without one (the scale-invariant
   * family, d ≤ 3); null where neither exists (such a measure at a divergent H, or d > 3).
   */
  readonly exact: number | null;
  readonly monteCarlo: Sampled | null;
  readonly zerothOrder: Sampled | null;
  /** Why the measure has no (φ, ψ, μ) value at this H (the closed form is still given). */
  readonly divergent?: string;
}

export interface MeasureReport {
  readonly hessian: number[][];
  readonly eigenvalues: number[];
  readonly traceH: number;
  readonly frobeniusSquared: number;
  readonly detH: number;
  readonly samples: number;
  readonly rho: number;
  readonly seed: number;
  readonly rows: MeasureRow[];
}

const pick = (e: MeasureEstimate): Sampled => ({
  estimate: e.value,
  standardError: e.standardError,
  ...(e.warning && { warning: e.warning }),
});

/** Every requested catalogue measure of H: exact, Monte Carlo (HVPs) and zeroth order (losses). */
export async function measureHessianMatrix(
  H: number[][],
  options: { measures: readonly string[]; samples: number; rho: number; seed: number },
): Promise<MeasureReport> {
  const eigenvalues = symmetricEigenvalues(H);
  const d = H.length;
  const shapes = [[d]];
  const rows: MeasureRow[] = [];
  // The Lebesgue part's proposal fits H (bounded weights where H ≻ 0) and follows any
  // rescaling D⁻¹HD⁻¹ exactly; N(0, I) has infinite variance once an eigenvalue is below ½
  // (docs/scale-invariant.md).
  const scale = proposalScale(H);
  for (const name of options.measures) {
    const measure = catalogueMeasure(name, d, scale);
    const divergent = divergenceOf(measure, H);
    // A measure without a closed form in the eigenvalues is integrated (d ≤ 3) where it converges.
    const closed = measure.closedForm
      ? exact(measure, H, { allowDivergent: true })
      : divergent || d > 3
        ? null
        : exact(measure, H);
    if (divergent) {
      rows.push({ measure: name, exact: closed, monteCarlo: null, zerothOrder: null, divergent });
      continue;
    }
    const { samples, seed, rho } = options;
    const mc = await monteCarlo(measure, explicitHvp(H), { shapes, samples, seed });
    const zo = await zerothOrder(measure, quadraticLoss(H), {
      shapes,
      samples,
      seed: seed + 1,
      rho,
    });
    rows.push({ measure: name, exact: closed, monteCarlo: pick(mc), zerothOrder: pick(zo) });
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    hessian: H,
    eigenvalues,
    traceH: sum(eigenvalues),
    frobeniusSquared: sum(eigenvalues.map((l) => l * l)),
    detH: eigenvalues.reduce((a, b) => a * b, 1),
    ...options,
    rows,
  };
}

/** Six significant digits, no trailing zeros (and no −0). */
const short = (x: number) => String(Number(x.toPrecision(6)) + 0);

const pm = (e: Sampled | null) =>
  e === null
    ? '—'
    : `${fmt(e.estimate)} ± ${fmt(e.standardError)}${e.warning ? ' (se untrusted, see below)' : ''}`;

/** `usam measure`: the catalogue of a Hessian given as a matrix or a toy example. */
export function measureCommand(output: ProgramOutput): Command {
  return new Command('measure')
    .description(
      'every catalogue measure of a Hessian (a JSON/CSV matrix file, or example1, example2): exact, Monte Carlo and zeroth order',
    )
    .argument('<hessian>', `a matrix file (.json rows or .csv), or ${EXAMPLES.join(', ')}`)
    .option('--k <k>', 'example2: the point (k, 1/k) (default: 1)', numberArg)
    .option(
      '--measures <list>',
      `catalogue measures (default: ${MEASURE_NAMES.join(',')})`,
      listArg((s) => s),
    )
    .option(
      '--samples <n>',
      'draws per Monte Carlo and zeroth-order estimate (default: 2000)',
      // The estimators' cap (docs/long-estimators.md): a typo is a range error, not a hang.
      integer(2, MAX_COUNT),
    )
    .option(
      '--rho <ρ>',
      'zeroth order: perturbation radius (exact on a quadratic for any ρ) (default: 0.05)',
      numberArg,
    )
    .option('--seed <n>', 'seed of the draws (default: 0)', integer(0))
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend (default: cpu)').choices(
        BACKEND_CHOICES,
      ),
    )
    .option('--json', 'print the report as one JSON document on stdout, nothing else there')
    .action(
      async (
        source: string,
        flags: {
          k?: number;
          measures?: string[];
          samples?: number;
          rho?: number;
          seed?: number;
          backend?: string;
          json?: boolean;
        },
      ) => {
        const isExample = (EXAMPLES as readonly string[]).includes(source);
        if (flags.k !== undefined && source !== 'example2') {
          throw new UsageError('--k applies to example2 only; drop it or measure example2.');
        }
        const k = flags.k ?? 1;
        if (k === 0) throw new UsageError('--k must not be 0: example2 is measured at (k, 1/k).');
        const rho = flags.rho ?? 0.05;
        if (!(rho > 0)) throw new UsageError(`--rho must be > 0, got ${rho}.`);
        const measures = flags.measures ?? [...MEASURE_NAMES];
        for (const name of measures) catalogueMeasure(name, 1); // unknown names fail before any work
        const H = isExample ? exampleHessian(source, k) : await readMatrix(source);
        await initBackend((flags.backend ?? 'cpu') as TrainOptions['backend']); // checked by .choices()
        const report = await measureHessianMatrix(H, {
          measures,
          samples: flags.samples ?? 2000,
          rho,
          seed: flags.seed ?? 0,
        });
        if (flags.json) {
          printJson(output, report);
          return;
        }
        const what = isExample
          ? `${source}${source === 'example2' ? ` at (${k}, 1/${k})` : ''}`
          : source;
        output.out(
          `${what}: d = ${H.length}, tr H = ${short(report.traceH)}, ‖H‖_F² = ${short(report.frobeniusSquared)}, det H = ${short(report.detH)}\n`,
        );
        const table = createTable(['measure', 'exact', 'Monte Carlo ± se', 'zeroth order ± se']);
        for (const row of report.rows) {
          table.push([
            row.measure,
            row.exact === null ? '—' : fmt(row.exact),
            row.divergent ? 'diverges' : pm(row.monteCarlo),
            row.divergent ? 'diverges' : pm(row.zerothOrder),
          ]);
        }
        output.out(`${table.toString()}\n`);
        const notes = report.rows.filter((r) => r.divergent);
        for (const r of notes) output.out(`${r.divergent}.\n`);
        for (const r of report.rows) {
          for (const e of [r.monteCarlo, r.zerothOrder]) {
            if (e?.warning) output.out(`warning: ${r.measure}: ${e.warning}\n`);
          }
        }
        output.out(
          `(${report.samples} draws per estimate, zeroth order at ρ = ${rho}; sampled max eigenvalue is a lower bound over 64 directions.)\n`,
        );
      },
    );
}
