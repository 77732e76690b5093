import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { firstExamples } from '@usam/datasets';
import { AbortError, hessian, MAX_COUNT } from '@usam/estimators';
import { loadModel } from '@usam/models/node';
import { Command, Option } from 'commander';
import { UsageError } from '../cli/errors';
import { makeOutputDirectory, pathKind, writeFileAtomic, writeJsonAtomic } from '../cli/files';
import { createTable, fmt, type ProgramOutput, printJson } from '../cli/output';
import { densitySvg } from '../cli/plot';
import { catalogueMeasure, MEASURE_NAMES } from '../measures';
import { integer, listArg } from '../options';
import { checkpointDir, checkpointModelDir, readProgress } from '../train/checkpoint';
import type { Estimated } from '../train/hessian';
import { BACKEND_CHOICES, type TrainOptions } from '../train/options';
import { CONFIG, readRunConfig } from '../train/run-dir';
import { flattens, loadData } from '../train/train';

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** One quantity of `sharpness.json`: its value, error and the seconds it took. */
export interface SharpnessRow extends Estimated {
  readonly quantity: string;
  readonly seconds: number;
  /** Hessian-vector products spent. */
  readonly products: number;
  /** Eigenvalues: whether power iteration met its tolerance (if not, a Rayleigh quotient only). */
  readonly converged?: boolean;
  /** Importance-weighted measures: why the standard error cannot be trusted, where the draws say so. */
  readonly warning?: string;
}

export interface SharpnessReport {
  readonly run: string;
  /** Where the checkpoint stood: 0-based epoch and step. */
  readonly epoch: number;
  readonly step: number;
  readonly examples: number;
  readonly parameters: number;
  readonly backend: string;
  readonly rows: SharpnessRow[];
  readonly eigenvalues: { values: number[]; residualNorms: number[]; converged: boolean[] };
  readonly density: {
    grid: number[];
    values: number[];
    nodes: number[][];
    weights: number[][];
  } | null;
  readonly seconds: number;
}

interface SharpnessFlags {
  examples?: number;
  probes?: number;
  topK?: number;
  lanczosSteps?: number;
  densityProbes?: number;
  measures?: string[];
  samples?: number;
  seed?: number;
  backend?: string;
  out?: string;
  json?: boolean;
  quiet?: boolean;
}

/** `usam sharpness RUN_DIR`: the Hessian of a run's checkpoint on its first training examples. */
export function sharpnessCommand(output: ProgramOutput): Command {
  return new Command('sharpness')
    .description(
      "Hessian trace, ‖H‖_F², top eigenvalues, spectral density and catalogue measures of a run's checkpoint, with standard errors",
    )
    .argument('<run-dir>', 'a `usam train` run directory')
    .option(
      '--examples <n>',
      'first training examples the Hessian is taken over (default: 1280)',
      integer(1),
    )
    .option('--probes <n>', 'probes for the trace and ‖H‖_F² (default: 100)', integer(2, MAX_COUNT))
    .option('--top-k <k>', 'top eigenvalues by power iteration (default: 3)', integer(1))
    .option(
      '--lanczos-steps <m>',
      'spectral density: Lanczos steps per probe, 0 to skip (default: 90)',
      integer(0, MAX_COUNT),
    )
    .option(
      '--density-probes <n>',
      'spectral density: probe vectors (default: 1)',
      integer(1, MAX_COUNT),
    )
    .option(
      '--measures <list>',
      `catalogue measures by Monte Carlo (${MEASURE_NAMES.join(', ')}) (default: none)`,
      listArg((s) => s),
    )
    .option('--samples <n>', 'draws per catalogue measure (default: 100)', integer(2, MAX_COUNT))
    .option('--seed <n>', 'seed of the probes (default: 0)', integer(0))
    .addOption(
      new Option('--backend <name>', "TensorFlow.js backend (default: the run's)").choices(
        BACKEND_CHOICES,
      ),
    )
    .option(
      '--out <dir>',
      'where sharpness.json and spectral-density.svg go (default: the run directory)',
    )
    .option('--json', 'print the report as one JSON document on stdout, nothing else there')
    .option('--quiet', 'no progress output')
    .action(async (run: string, flags: SharpnessFlags) => {
      const out = flags.out ?? run;
      const measures = flags.measures ?? [];
      for (const name of measures) catalogueMeasure(name, 1); // unknown names fail before any work
      if ((await pathKind(join(run, CONFIG)).catch(() => 'none')) !== 'other') {
        throw new UsageError(
          `'${run}' is not a usam run directory (no ${CONFIG}); pass the --out of a usam train run.`,
        );
      }
      // Checked (schema: file and field named) and --out made, before any work.
      const config = await readRunConfig(run);
      await makeOutputDirectory('--out', out);
      const checkpoint = await checkpointDir(run);
      if (checkpoint === undefined) {
        throw new UsageError(
          `'${run}' has no checkpoint yet; let usam train finish an epoch first.`,
        );
      }
      const options: TrainOptions = config.options;
      const log = (line: string) => {
        if (!flags.quiet) process.stderr.write(`${line}\n`);
      };
      const start = performance.now();
      // commander's .choices() has checked the flag; a config's value was checked when the run started
      const { name: backend } = await initBackend(
        (flags.backend ?? config.backend) as TrainOptions['backend'],
      );
      const progress = await readProgress(checkpoint);
      const model = await loadModel(checkpointModelDir(checkpoint));
      const data = await loadData(options);
      const { xs, ys, count } = firstExamples(data.train, flags.examples ?? 1280, {
        flatten: flattens(options),
      });
      const H = hessian(model, { data: { xs, ys } });
      const rows: SharpnessRow[] = [];
      const seed = flags.seed ?? 0;
      const probes = flags.probes ?? 100;
      // Ctrl-C (SIGINT) or SIGTERM aborts the estimator in progress (docs/long-estimators.md):
      // nothing is written, so an earlier sharpness.json stays as it was. A second one exits now.
      const controller = new AbortController();
      const { signal } = controller;
      let stoppedBy: keyof typeof SIGNAL_EXIT | undefined;
      let current = 'loading';
      const stop = (name: keyof typeof SIGNAL_EXIT) => {
        if (stoppedBy) process.exit(SIGNAL_EXIT[name]);
        stoppedBy = name;
        controller.abort(new Error(`stopped by ${name}`));
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt).on('SIGTERM', onTerm);
      const timed = async <T>(quantity: string, f: () => Promise<T>) => {
        current = quantity;
        log(`usam sharpness: ${quantity}…`);
        const t = performance.now();
        const before = H.operator.products;
        const result = await f();
        return {
          result,
          seconds: (performance.now() - t) / 1000,
          products: H.operator.products - before,
        };
      };
      let report: SharpnessReport;
      try {
        for (const [quantity, f] of [
          ['trace', () => H.trace({ probes, seed, signal })],
          ['frobenius', () => H.frobenius({ probes, seed, signal })],
        ] as const) {
          const { result, seconds, products } = await timed(quantity, f);
          rows.push({ quantity, ...result, seconds, products });
        }
        const k = flags.topK ?? 3;
        const top = await timed(`top ${k} eigenvalues`, () => H.eigenvalues({ k, seed, signal }));
        top.result.eigenvalues.forEach((value, i) => {
          rows.push({
            quantity: `λ${i + 1}`,
            estimate: value,
            // The residual ‖Hv − λv‖ bounds the distance to H's spectrum.
            standardError: top.result.residualNorms[i]!,
            seconds: i === 0 ? top.seconds : 0,
            products: i === 0 ? top.products : 0,
            converged: top.result.converged[i]!,
          });
        });
        let density: SharpnessReport['density'] = null;
        const steps = flags.lanczosSteps ?? 90;
        if (steps > 0) {
          const slq = await timed('spectral density', () =>
            H.density({ iterations: steps, probes: flags.densityProbes ?? 1, seed, signal }),
          );
          const { grid, values, nodes, weights } = slq.result;
          density = { grid, values, nodes, weights };
          rows.push({
            quantity: 'trace (SLQ)',
            estimate: slq.result.estimate,
            standardError: slq.result.standardError,
            seconds: slq.seconds,
            products: slq.products,
          });
        }
        for (const name of measures) {
          const { result, seconds, products } = await timed(name, () =>
            H.measure(catalogueMeasure(name, H.dimension), {
              samples: flags.samples ?? 100,
              seed,
              signal,
            }),
          );
          rows.push({ quantity: `measure ${name}`, ...result, seconds, products });
        }
        current = 'writing';
        signal.throwIfAborted();
        report = {
          run,
          epoch: progress.epoch,
          step: progress.step,
          examples: count,
          parameters: H.dimension,
          backend,
          rows,
          eigenvalues: {
            values: top.result.eigenvalues,
            residualNorms: top.result.residualNorms,
            converged: top.result.converged,
          },
          density,
          seconds: (performance.now() - start) / 1000,
        };
        await writeJsonAtomic(join(out, 'sharpness.json'), report);
        if (density) {
          const title = `Hessian spectral density, ${run} (epoch ${progress.epoch}, step ${progress.step})`;
          await writeFileAtomic(
            join(out, 'spectral-density.svg'),
            await densitySvg(density.grid, density.values, title),
          );
        }
      } catch (error) {
        if (!stoppedBy || !(AbortError.isInstance(error) || signal.aborted)) throw error;
        const done = rows.length === 0 ? '' : `, after ${rows.map((r) => r.quantity).join(', ')}`;
        output.err(
          `usam sharpness: stopped by ${stoppedBy} during ${current}${done}; nothing was written to ${out} (sharpness.json is written only when every quantity is done). Run the same command again to compute it.\n`,
        );
        process.exitCode = SIGNAL_EXIT[stoppedBy];
        return;
      } finally {
        process.off('SIGINT', onInt).off('SIGTERM', onTerm);
        H.dispose();
        tf.dispose([xs, ys]);
        model.dispose();
      }
      if (flags.json) {
        printJson(output, report);
        return;
      }
      const table = createTable(['quantity', 'estimate ± error', 'seconds', 'HVPs']);
      for (const r of report.rows) {
        table.push([
          r.converged === false ? `${r.quantity} (not converged)` : r.quantity,
          // One probe (SLQ's default) has no spread to estimate an error from.
          Number.isFinite(r.standardError)
            ? `${fmt(r.estimate)} ± ${fmt(r.standardError)}${r.warning ? ' (se untrusted, see below)' : ''}`
            : `${fmt(r.estimate)} (one probe: no error estimate)`,
          // λ₂, λ₃ come from λ₁'s run: its time and HVPs are all of theirs.
          /^λ[2-9]/.test(r.quantity) ? '(in λ1)' : r.seconds.toFixed(1),
          /^λ[2-9]/.test(r.quantity) ? '(in λ1)' : r.products,
        ]);
      }
      output.out(
        `Hessian of ${run} (epoch ${report.epoch}${report.step ? `, step ${report.step}` : ''}) on its first ${count} training examples, d = ${report.parameters}, ${backend}:\n${table.toString()}\n`,
      );
      for (const r of report.rows) {
        if (r.warning) output.out(`warning: ${r.quantity}: ${r.warning}\n`);
      }
      output.out(
        `(± is a standard error; for λ_i it is the residual ‖Hv − λv‖, which bounds the distance to H's spectrum.) ${report.seconds.toFixed(1)} s in all; written to ${join(out, 'sharpness.json')}${report.density ? ` and ${join(out, 'spectral-density.svg')}` : ''}\n`,
      );
    });
}
