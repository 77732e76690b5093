/**
 * A run, taken away: its metrics as CSV (one row per epoch) or JSON (the
 * settings, the backend, the `usam train` command and the metrics). Both are
 * `usam train`'s metrics.jsonl lines, by the CLI's own schema
 * (`@usam/cli/run-files`): the columns are its fields, in its order.
 */
import { epochMetricsSchema, HESSIAN_QUANTITIES, toJson } from '@usam/cli/run-files';
import type { EpochMetrics } from './protocol';
import { type ExperimentSettings, runLabel, trainCommand } from './settings';

/** metrics.jsonl's scalar fields, in the schema's order (the Hessian's come after). */
const COLUMNS = Object.keys(epochMetricsSchema.properties).filter(
  (k) => k !== 'hessian',
) as (keyof Omit<EpochMetrics, 'hessian'>)[];

/**
 * CSV with a header; Hessian columns empty where not measured. tr H and
 * ‖H‖_F² have standard errors; the eigenvalue's error bar is the residual
 * ‖Hv − λv‖ (its `standardError` in metrics.jsonl), named for what it is here.
 */
export function metricsCsv(metrics: readonly EpochMetrics[]): string {
  const errorName = (q: string) => (q === 'topEigenvalue' ? 'Residual' : 'StandardError');
  const header = [
    ...COLUMNS,
    ...HESSIAN_QUANTITIES.flatMap((q) => [q, `${q}${errorName(q)}`]),
    'topEigenvalueConverged',
  ];
  const rows = metrics.map((m) => {
    const top = m.hessian?.topEigenvalue;
    return [
      ...COLUMNS.map((c) => String(m[c])),
      ...HESSIAN_QUANTITIES.flatMap((q) => {
        const e = m.hessian?.[q];
        return e ? [String(e.estimate), String(e.standardError)] : ['', ''];
      }),
      top?.converged === undefined ? '' : String(top.converged),
    ];
  });
  return `${[header, ...rows].map((r) => r.join(',')).join('\n')}\n`;
}

export function metricsJson(
  settings: ExperimentSettings,
  run: number,
  backend: string | undefined,
  metrics: readonly EpochMetrics[],
): string {
  const { runs, ...experiment } = settings;
  // Non-finite numbers as metrics.jsonl writes them ("NaN"), not JSON.stringify's null.
  return `${toJson(
    {
      run: runLabel(runs[run]!),
      settings: { ...experiment, ...runs[run]! },
      backend,
      command: trainCommand(settings, run, backend),
      metrics,
    },
    2,
  )}\n`;
}
