import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../cli/errors';
import type { Plan, PlannedRun } from '../reproduce/plan';
import { type EpochMetrics, readMetrics, type TrainSummary } from '../train/index';
import { type Divergence, readDivergence, readSummary } from '../train/run-dir';

/** `diverged`: stopped where its loss blew up (`diverged.json`), never averaged in. */
export type RunStatus = 'done' | 'diverged' | 'partial' | 'missing';

/** One planned run and what its directory holds, wherever it was found. */
export interface RunResult {
  readonly run: PlannedRun;
  readonly status: RunStatus;
  /** The run directory read (absent for a run no directory has started). */
  readonly dir?: string;
  readonly epochs: readonly EpochMetrics[];
  readonly summary?: TrainSummary;
  /** Where it diverged (status `diverged`). */
  readonly divergence?: Divergence;
}

/** The name of the file in an output directory that lists its planned runs. */
export const PLAN_FILE = 'plan.json';
/** Where run directories live inside an output directory. */
export const RUNS_DIR = 'runs';

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new UsageError(
      `${path} cannot be read (${code ?? String(error)}); check the path and its permissions.`,
      {
        cause: error,
      },
    );
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON (${(error as Error).message}).`, {
      cause: error,
    });
  }
}

/** Whether a run directory holds a finished run (`summary.json` with `completed: true`). */
export async function isCompleted(dir: string): Promise<boolean> {
  return (await readSummary(dir))?.completed === true;
}

/** Reads the plan of one output directory. */
export async function readPlan(dir: string): Promise<Plan> {
  const plan = await readJson<Plan>(join(dir, PLAN_FILE));
  if (!plan) {
    throw new UsageError(
      `${dir} has no ${PLAN_FILE}: it is not a \`usam reproduce\` output directory (pass the directory given to --out).`,
    );
  }
  return plan;
}

/**
 * Merges the plans of several output directories (shards of one sweep, or parts
 * run on different machines): they must be of one profile, and a run id that
 * appears in two plans must have the same settings.
 */
export function mergePlans(plans: readonly { dir: string; plan: Plan }[]): Plan {
  const [first, ...rest] = plans;
  if (!first) throw new UsageError('report: give at least one result directory.');
  const runs = new Map(first.plan.runs.map((run) => [run.id, run]));
  const experiments = new Set(first.plan.experiments);
  for (const { dir, plan } of rest) {
    if (plan.profile !== first.plan.profile) {
      throw new UsageError(
        `${dir} is profile '${plan.profile}' but ${first.dir} is '${first.plan.profile}': report one profile at a time.`,
      );
    }
    for (const experiment of plan.experiments) experiments.add(experiment);
    for (const run of plan.runs) {
      const known = runs.get(run.id);
      if (known && JSON.stringify(known.settings) !== JSON.stringify(run.settings)) {
        throw new UsageError(
          `run ${run.id} has different settings in ${dir} and ${first.dir}: they are not one sweep.`,
        );
      }
      runs.set(run.id, run);
    }
  }
  return { profile: first.plan.profile, experiments: [...experiments], runs: [...runs.values()] };
}

/**
 * Every planned run of one or more output directories with its results: a
 * finished copy wins over an unfinished one, and among unfinished copies the
 * one with the most epochs.
 */
export async function collectResults(
  dirs: readonly string[],
): Promise<{ plan: Plan; results: RunResult[] }> {
  const plan = mergePlans(
    await Promise.all(dirs.map(async (dir) => ({ dir, plan: await readPlan(dir) }))),
  );
  const results: RunResult[] = [];
  for (const run of plan.runs) {
    let best: RunResult = { run, status: 'missing', epochs: [] };
    for (const root of dirs) {
      const dir = join(root, RUNS_DIR, run.id);
      const summary = await readSummary(dir);
      const epochs = await readMetrics(dir);
      if (summary?.completed) {
        best = { run, status: 'done', dir, epochs, summary };
        break;
      }
      const divergence = await readDivergence(dir);
      if (divergence) {
        best = { run, status: 'diverged', dir, epochs, divergence };
        break;
      }
      if (epochs.length > best.epochs.length) best = { run, status: 'partial', dir, epochs };
    }
    results.push(best);
  }
  return { plan, results };
}
