/**
 * A run, taken away: its metrics as CSV (one row per epoch) or JSON (the
 * settings, the backend, the `usam train` command and the metrics, whose
 * fields are those of `usam train`'s metrics.jsonl).
 */
import type { EpochMetrics } from './protocol';
import { type ExperimentSettings, runLabel, trainCommand } from './settings';

const COLUMNS = [
  'epoch',
  'trainLoss',
  'trainAccuracy',
  'testLoss',
  'testAccuracy',
  'learningRate',
  'seconds',
  'gradientEvaluations',
  'refusedSteps',
  'stepMs',
] as const;

/**
 * CSV with a header; Hessian columns empty where not measured. tr H and
 * ‖H‖_F² have standard errors; the eigenvalue's error bar is the residual
 * ‖Hv − λv‖ (its `standardError` in metrics.jsonl), named for what it is here.
 */
export function metricsCsv(metrics: readonly EpochMetrics[]): string {
  const header = [
    ...COLUMNS,
    'trace',
    'traceStandardError',
    'frobenius',
    'frobeniusStandardError',
    'topEigenvalue',
    'topEigenvalueResidual',
    'topEigenvalueConverged',
  ];
  const pair = (e: { estimate: number; standardError: number } | undefined) =>
    e ? [String(e.estimate), String(e.standardError)] : ['', ''];
  const rows = metrics.map((m) => {
    const top = m.hessian?.topEigenvalue;
    return [
      ...COLUMNS.map((c) => String(m[c])),
      ...pair(m.hessian?.trace),
      ...pair(m.hessian?.frobenius),
      ...pair(top),
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
  return `${JSON.stringify(
    {
      run: runLabel(runs[run]!),
      settings: { ...experiment, ...runs[run]! },
      backend,
      command: trainCommand(settings, run, backend),
      metrics,
    },
    null,
    2,
  )}\n`;
}
