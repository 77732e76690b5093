import { markdownTable } from 'markdown-table';
import { METHOD_LABELS, METHODS, type Method } from '../reproduce/plan';
import type { RunResult } from './collect';
import { PAPER_RESULTS } from './paper-results';

/** Mean and standard error of the mean (sample standard deviation / √n; NaN for n < 2). */
export interface MeanSe {
  readonly mean: number;
  readonly standardError: number;
  readonly n: number;
}

export function meanSe(values: readonly number[]): MeanSe {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, standardError: Number.NaN, n };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, standardError: Math.sqrt(variance / n), n };
}

/** One table cell: final test accuracy in percent over the finished seeds. */
export interface Cell extends MeanSe {
  /** Within two standard errors (the best entry's) of the column's best mean. */
  readonly bold: boolean;
  /** Seeds planned for the cell (n counts the finished ones). */
  readonly planned: number;
  /** Seeds that diverged (not in the mean). */
  readonly diverged: number;
}

export interface AccuracyTable {
  readonly datasets: readonly string[];
  readonly methods: readonly Method[];
  /** `cells[method][dataset]`, undefined where no seed has finished. */
  readonly cells: Record<string, Record<string, Cell | undefined>>;
}

/**
 * Marks the entries within two standard errors of the best, as the paper's
 * Tables 2–3: an entry is bold when best mean − mean ≤ 2 × the best entry's
 * standard error (with one seed there is no error bar, so only the best is bold).
 */
export function markBest(cells: readonly (MeanSe | undefined)[]): boolean[] {
  const present = cells.filter((c): c is MeanSe => c !== undefined);
  if (present.length === 0) return cells.map(() => false);
  const best = present.reduce((a, b) => (b.mean > a.mean ? b : a));
  const margin = Number.isFinite(best.standardError) ? 2 * best.standardError : 0;
  return cells.map((c) => c !== undefined && best.mean - c.mean <= margin);
}

/** Table 2 or 3 from the finished runs of one experiment. */
export function accuracyTable(results: readonly RunResult[]): AccuracyTable {
  const datasets = [...new Set(results.map((r) => r.run.dataset))];
  const methods = METHODS.filter((m) => results.some((r) => r.run.method === m));
  const cells: AccuracyTable['cells'] = Object.fromEntries(methods.map((m) => [m, {}]));
  for (const dataset of datasets) {
    const stats = methods.map((method) => {
      const runs = results.filter((r) => r.run.dataset === dataset && r.run.method === method);
      const done = runs
        .filter((r) => r.status === 'done')
        .map((r) => 100 * r.summary!.finalTestAccuracy);
      const diverged = runs.filter((r) => r.status === 'diverged').length;
      return {
        stats: done.length > 0 ? meanSe(done) : undefined,
        planned: runs.length,
        diverged,
      };
    });
    const bold = markBest(stats.map((s) => s.stats));
    methods.forEach((method, i) => {
      const { stats: s, planned, diverged } = stats[i]!;
      cells[method]![dataset] = s
        ? { ...s, bold: bold[i]!, planned, diverged }
        : diverged > 0
          ? { mean: Number.NaN, standardError: Number.NaN, n: 0, bold: false, planned, diverged }
          : undefined;
    });
  }
  return { datasets, methods, cells };
}

/** `94.96 ± 0.05` (no ± with one seed). */
export function formatMeanSe(cell: MeanSe, digits = 2): string {
  const mean = cell.mean.toFixed(digits);
  return Number.isFinite(cell.standardError)
    ? `${mean} ± ${cell.standardError.toFixed(digits)}`
    : mean;
}

/**
 * The dataset name as the paper's column headers write it (`CIFAR10-S`, `MNIST-C`).
 * The official MNIST (`mnist-full-*`) is the paper's MNIST, so it takes the paper's
 * name; the embedded 8,569-digit stand-in (`mnist-*`, tiny profile) says so, so the
 * two are never confused in one report.
 */
export function columnTitle(dataset: string): string {
  if (dataset === 'mnist-full' || dataset.startsWith('mnist-full-')) {
    return dataset.replace(/^mnist-full/, 'mnist').toUpperCase();
  }
  if (dataset === 'mnist' || dataset.startsWith('mnist-'))
    return `${dataset.toUpperCase()} (embedded)`;
  return dataset.toUpperCase();
}

/**
 * A Markdown table in the paper's layout: methods as rows, datasets as columns,
 * mean ± standard error, bold within two standard errors of the best; a cell
 * with unfinished seeds says how many finished (`n = 2/4`); for the paper's
 * datasets, the published number follows in parentheses.
 */
export function tableMarkdown(table: AccuracyTable, withPaper: boolean): string {
  const head = ['', ...table.datasets.map(columnTitle)];
  const rows = table.methods.map((method) => [
    METHOD_LABELS[method],
    ...table.datasets.map((dataset) => {
      const cell = table.cells[method]![dataset];
      let text = cell && cell.n > 0 ? formatMeanSe(cell) : '—';
      if (cell?.bold) text = `**${text}**`;
      if (cell && cell.n < cell.planned) {
        text += ` (n = ${cell.n}/${cell.planned}${cell.diverged ? `, ${cell.diverged} diverged` : ''})`;
      }
      const published = withPaper ? PAPER_RESULTS[dataset]?.[method] : undefined;
      if (published) text += ` (paper ${published})`;
      return text;
    }),
  ]);
  return `${markdownTable([head, ...rows], { align: ['l', ...table.datasets.map(() => 'r' as const)] })}\n`;
}
