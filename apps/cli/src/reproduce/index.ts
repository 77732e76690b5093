import { join } from 'node:path';
import { initBackend } from '@usam/backend';
import { RunError, UsageError } from '../cli/errors';
import { claimsText } from '../report/claims';
import { RUNS_DIR } from '../report/collect';
import type { Figure2Point, figure2Data } from '../report/figures';
import { buildReport, type ReportSummary } from '../report/index';
import { formatMeanSe, tableMarkdown } from '../report/tables';
import type { TrainOptions } from '../train/options';
import { type ChecksReport, checks } from './checks';
import {
  createPlan,
  defaultExperiments,
  type Experiment,
  type Plan,
  type PlannedRun,
  type Profile,
  type RunSettings,
} from './plan';
import {
  type RunOutcome,
  type RunShardOptions,
  runShard,
  type Trainer,
  usamTrain,
  withOutputLock,
  writePlan,
} from './runs';
import { type Shard, shardRuns, WHOLE } from './shard';
import { divergenceWarnings } from './warnings';

export type Step = Experiment | 'checks';

export interface ReproduceOptions {
  readonly profile: Profile;
  /** What to run; default: the checks and the profile's experiments. */
  readonly experiments?: readonly Step[];
  readonly backend: TrainOptions['backend'];
  /** Seed of the checks and the first seed of the experiments. */
  readonly seed: number;
  /** Seeds per setting (default: the profile's). */
  readonly seeds?: number;
  /** Output directory (default `results/<profile>`). */
  readonly out?: string;
  /** Draws per Monte Carlo estimate in the checks (Table 1). */
  readonly samples: number;
  /** Where the datasets' official files are (`usam train --data-dir`). */
  readonly dataDir?: string;
  readonly shard?: Shard;
  /**
   * Runs trained at once, each in a worker process with one wasm thread
   * (default 1: in this process); more than this shard's runs is cut to them.
   */
  readonly jobs?: number;
  /** Print the run matrix and stop. */
  readonly dryRun?: boolean;
  /** What trains a run (default: `usam train`'s `train()`). */
  readonly trainer?: Trainer;
  readonly signal?: AbortSignal;
  /** Where the run matrix, the check tables and the summary go. */
  readonly log?: (line: string) => void;
  /** Each run's training hooks and the shard's live progress. */
  readonly hooks?: RunShardOptions['hooks'];
}

export interface ReproduceResult {
  readonly out: string;
  readonly plan: Plan;
  /** This shard's runs. */
  readonly runs: readonly PlannedRun[];
  readonly checks?: ChecksReport;
  readonly outcomes?: ReadonlyMap<string, RunOutcome>;
  readonly report?: ReportSummary;
}

/** The default output directory of a profile, relative to the working directory. */
export const defaultOut = (profile: Profile) => join('results', profile);

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A run's settings as the `usam train` command line that makes the same run. */
export function trainCommand(settings: RunSettings, out: string): string {
  const flags = Object.entries(settings).map(([key, value]) => {
    if (typeof value === 'boolean') return value ? `--${kebab(key)}` : `--no-${kebab(key)}`;
    return `--${kebab(key)} ${Array.isArray(value) ? value.join(',') : value}`;
  });
  return ['usam train', ...flags, `--out ${out}`].join(' ');
}

/**
 * `usam reproduce`: the paper's Figure 2 and Tables 2–3 (and the checks that
 * need no training) under a profile, each training run an ordinary `usam train`
 * run directory under `out/runs/`, then the report (`usam report out`).
 */
export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const out = options.out ?? defaultOut(options.profile);
  const steps = options.experiments ?? ['checks', ...defaultExperiments(options.profile)];
  const experiments = steps.filter((s): s is Experiment => s !== 'checks');
  const plan = createPlan(options.profile, experiments, options.seed, options.seeds);
  const shard = options.shard ?? WHOLE;
  const runs = shardRuns(plan.runs, shard);
  const shardText =
    shard.count > 1 ? `, shard ${shard.index}/${shard.count} (${shard.source})` : '';
  const cost = runs.reduce((a, r) => a + r.cost, 0);
  log(
    `usam reproduce --profile ${options.profile}: ${runs.length} of ${plan.runs.length} runs${shardText} (modelled cost ${cost.toExponential(2)} example-gradients), results in ${out}`,
  );

  if (options.dryRun) {
    for (const run of runs) {
      log(`${run.id}\t${trainCommand(run.settings, join(out, RUNS_DIR, run.id))}`);
    }
    return { out, plan, runs };
  }

  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(
      `reproduce: jobs must be an integer ≥ 1, got ${String(jobs)}; pass e.g. --jobs 2 (the default is the number of cores).`,
    );
  }
  const { name: backend } = await initBackend(options.backend);
  const runChecks = () =>
    checks({ backend, seed: options.seed, out, samples: options.samples, log });
  const wantChecks = steps.includes('checks') && shard.index === 0;
  if (steps.includes('checks') && !wantChecks) {
    // The checks need no training, so one shard runs them; saying so beats a silent exit 0.
    if (experiments.length === 0) {
      throw new UsageError(
        `reproduce: the checks run on shard 0 only, and this is shard ${shard.index}/${shard.count} (${shard.source}); run --experiments checks with --shard 0/${shard.count} or without sharding.`,
      );
    }
    log(`(checks: run by shard 0 of ${shard.count}, not this one.)`);
  }
  if (experiments.length === 0) {
    return { out, plan, runs, checks: wantChecks ? await runChecks() : undefined };
  }
  const workers = Math.min(jobs, Math.max(1, runs.length));
  if (workers < jobs) {
    log(`(--jobs ${jobs}, but this shard has ${runs.length} run(s): ${workers} worker(s).)`);
  }
  for (const warning of divergenceWarnings(runs)) log(`Warning: ${warning}`);
  await writePlan(out, plan);
  const training = () => {
    log(
      `\nTraining ${runs.length} runs (${experiments.join(', ')}) with backend ${backend}${workers > 1 ? `, ${workers} at once in worker processes` : ''}:`,
    );
    return runShard({
      out,
      plan,
      shard,
      jobs: workers,
      trainer: options.trainer ?? usamTrain,
      backend: backend as RunShardOptions['backend'],
      dataDir: options.dataDir,
      signal: options.signal,
      hooks: options.hooks,
    });
  };
  let checksReport: ChecksReport | undefined;
  let outcomes: Map<string, RunOutcome>;
  if (workers > 1 && wantChecks) {
    // The workers train while this process runs the checks: every core stays busy.
    const trained = training();
    const checked = runChecks();
    const [a, b] = await Promise.allSettled([trained, checked]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    outcomes = a.value;
    checksReport = b.value;
  } else {
    if (wantChecks) checksReport = await runChecks();
    outcomes = await training();
  }
  // From the merged plan, one invocation at a time (another may share this --out).
  const report = await withOutputLock(out, 'the report', () => buildReport([out], out));
  log(
    `\n${report.done} of ${report.runs} runs finished; wrote ${report.files.length} files in ${out}:`,
  );
  log(
    report.files
      .filter((f) => !f.startsWith('curves/'))
      .map((f) => `  ${join(out, f)}`)
      .join('\n'),
  );
  for (const [id, table] of Object.entries(report.tables)) {
    log(
      `\n${id === 'table2' ? 'Table 2' : 'Table 3'} (final test accuracy %, mean ± standard error over seeds; bold: within two standard errors of the best):\n`,
    );
    log(tableMarkdown(table, options.profile === 'paper'));
  }
  if (report.figure2) log(`\n${figure2Summary(report.figure2)}`);
  if (report.claims.length > 0) {
    log(`\nThe paper's claims, checked (details in ${join(out, 'report.html')}):\n`);
    log(claimsText(report.claims));
  }
  const diverged = [...outcomes].filter(([, o]) => o === 'diverged').map(([id]) => id);
  if (diverged.length > 0) {
    log(
      `\n${diverged.length} run(s) diverged and are reported as such, not averaged in: ${diverged.join(', ')}.`,
    );
  }
  const failed = [...outcomes].filter(([, outcome]) => outcome === 'failed').map(([id]) => id);
  const busy = [...outcomes].filter(([, outcome]) => outcome === 'busy').map(([id]) => id);
  // Never exit 0 having skipped work: a run another process holds is not in this report.
  const skipped =
    busy.length === 0
      ? ''
      : `${busy.length} run(s) skipped because another live process is training them (${busy.join(', ')}; who, in the progress above), so the report leaves them out; rerun this command when it has finished`;
  if (failed.length > 0) {
    throw new RunError(
      `${failed.length} run(s) failed (${failed.join(', ')}); their errors are in the progress above, the report covers the others; rerun to retry them.${skipped ? ` Also ${skipped}.` : ''}`,
    );
  }
  if (skipped) throw new RunError(`${skipped}.`);
  return { out, plan, runs, checks: checksReport, outcomes, report };
}

/** Figure 2 in words: ‖H‖_F² at the first and last epoch, and the final accuracy, per λ. */
export function figure2Summary(data: ReturnType<typeof figure2Data>): string {
  const lines = ['Figure 2 (‖H‖_F², mean ± standard error over seeds):'];
  for (const lambda of new Set(data.points.map((p) => p.lambda))) {
    const points = data.points.filter((p) => p.lambda === lambda);
    const first = points[0]!;
    const last = points.at(-1)!;
    const accuracy = data.accuracy.find((a) => a.lambda === lambda);
    const show = (p: Figure2Point) => `${formatMeanSe(p, 1)} (epoch ${p.epoch})`;
    lines.push(
      `  λ = ${lambda}: ${show(first)} → ${show(last)}${accuracy ? `; final test accuracy ${formatMeanSe(accuracy)}%` : ''}`,
    );
  }
  return lines.join('\n');
}
