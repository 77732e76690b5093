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
  'stepMs',
] as const;
const HESSIAN = ['trace', 'frobenius', 'topEigenvalue'] as const;

/** CSV with a header; Hessian columns (estimate and standard error) empty where not measured. */
export function metricsCsv(metrics: readonly EpochMetrics[]): string {
  const header = [...COLUMNS, ...HESSIAN.flatMap((q) => [q, `${q}StandardError`])];
  const rows = metrics.map((m) => [
    ...COLUMNS.map((c) => String(m[c])),
    ...HESSIAN.flatMap((q) => {
      const e = m.hessian?.[q];
      return e ? [String(e.estimate), String(e.standardError)] : ['', ''];
    }),
  ]);
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
