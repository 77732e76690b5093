import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../cli/files';
import type { PlannedRun } from '../reproduce/plan';
import { RUNS_DIR } from './collect';

/**
 * Writes a run directory in the `usam train` schema (config.json, metrics.jsonl,
 * summary.json when `completed`) with the given per-epoch test accuracies and
 * ‖H‖_F² values: an input for testing the report without training.
 * summary.json is written atomically, as `usam train` writes it: concurrent
 * readers (runs.test.ts's processes) must never see it half-written.
 */
export async function writeRunDir(
  root: string,
  run: PlannedRun,
  epochs: readonly { testAccuracy: number; frobenius?: number }[],
  completed = true,
): Promise<void> {
  const dir = join(root, RUNS_DIR, run.id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...run.settings, out: dir }));
  const lines = epochs.map((e, i) =>
    JSON.stringify({
      epoch: i + 1,
      trainLoss: 1 / (i + 2),
      trainAccuracy: e.testAccuracy + 0.01,
      testLoss: 1.1 / (i + 2),
      testAccuracy: e.testAccuracy,
      learningRate: run.settings.lr,
      seconds: 1,
      gradientEvaluations: 100,
      refusedSteps: 0,
      ...(e.frobenius !== undefined
        ? { hessian: { frobenius: { estimate: e.frobenius, standardError: e.frobenius / 20 } } }
        : {}),
    }),
  );
  await writeFile(join(dir, 'metrics.jsonl'), lines.map((l) => `${l}\n`).join(''));
  if (completed) {
    const last = JSON.parse(lines.at(-1)!);
    await writeJsonAtomic(join(dir, 'summary.json'), {
      completed: true,
      epochs: epochs.length,
      finalTestAccuracy: last.testAccuracy,
      finalTestLoss: last.testLoss,
      finalTrainLoss: last.trainLoss,
      seconds: epochs.length,
      gradientEvaluations: 100 * epochs.length,
      backend: 'cpu',
      out: dir,
    });
  }
}
