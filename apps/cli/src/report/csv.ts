import { stringify } from 'csv-stringify/sync';
import { NUMERIC_VARIANT_KEYS } from '../train/run-names';
import type { RunResult } from './collect';

/** The columns of `results.csv`, in order: the run, its settings, its final metrics. */
export const CSV_COLUMNS = [
  'id',
  'experiment',
  'dataset',
  'method',
  'seed',
  'status',
  'model',
  ...NUMERIC_VARIANT_KEYS,
  'epochs',
  'batchSize',
  'lr',
  'lrSchedule',
  'momentum',
  'weightDecay',
  'epochsDone',
  'finalTestAccuracy',
  'finalTestLoss',
  'finalTrainLoss',
  'finalFrobenius',
  'finalFrobeniusStandardError',
  'seconds',
  'dir',
] as const;

/** `results.csv`: one row per planned run, empty cells where a value does not apply. */
export function resultsCsv(results: readonly RunResult[]): string {
  const rows = results.map(({ run, status, dir, epochs, summary }) => {
    const s = run.settings;
    const last = epochs.at(-1);
    const frobenius = [...epochs].reverse().find((e) => e.hessian?.frobenius)?.hessian?.frobenius;
    const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
      id: run.id,
      experiment: run.experiment,
      dataset: run.dataset,
      method: run.method,
      seed: run.seed,
      status,
      model: s.model,
      rho: s.rho,
      lambda: s.lambda,
      samples: s.samples,
      eta: s.eta,
      halfWidth: s.halfWidth,
      sparsity: s.sparsity,
      epochs: s.epochs,
      batchSize: s.batchSize,
      lr: s.lr,
      lrSchedule: s.lrSchedule,
      momentum: s.momentum,
      weightDecay: s.weightDecay,
      epochsDone: epochs.length,
      finalTestAccuracy: summary?.finalTestAccuracy ?? last?.testAccuracy,
      finalTestLoss: summary?.finalTestLoss ?? last?.testLoss,
      finalTrainLoss: summary?.finalTrainLoss ?? last?.trainLoss,
      finalFrobenius: frobenius?.estimate,
      finalFrobeniusStandardError: frobenius?.standardError,
      seconds: summary?.seconds,
      dir,
    };
    return CSV_COLUMNS.map((column) => row[column] ?? '');
  });
  return stringify([[...CSV_COLUMNS], ...rows]);
}
