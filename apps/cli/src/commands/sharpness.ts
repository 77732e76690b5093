import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { firstExamples } from '@usam/datasets';
import { AbortError, hessian, MAX_COUNT, type ModelHessian } from '@usam/estimators';
import type { Measure } from '@usam/measures';
import { loadModel } from '@usam/models/node';
import { Command, Option } from 'commander';
import { UsageError } from '../cli/errors';
import { makeOutputDirectory, pathKind, writeFileAtomic, writeJsonAtomic } from '../cli/files';
import { createTable, fmt, type ProgramOutput, printJson } from '../cli/output';
import { densitySvg } from '../cli/plot';
import { catalogueMeasure, MEASURE_NAMES } from '../measures';
import { integer, listArg, numberArg } from '../options';
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
  /** Why this measure was not estimated here (estimate and error are then NaN): one line with the fix. */
  readonly refused?: string;
}

/** The same quantities at the layer-rescaled weights Dx (`--rescale`). */
export interface RescaledReport {
  /** Layer k (1-based) was multiplied by `factor`, weights and bias; layer k + 1's kernel by 1/factor. */
  readonly layer: number;
  readonly factor: number;
  /** log|det D| = (N_k − N_{k+1}) log factor: Theorem 1's invariance needs 0. */
  readonly logDetD: number;
  readonly rows: SharpnessRow[];
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
  readonly rescaled?: RescaledReport;
  readonly seconds: number;
}

interface SharpnessFlags {
  rescale?: number;
  rescaleLayer?: number;
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
    .option(
      '--rescale <c>',
      "also measure the checkpoint with layer k's weights and bias multiplied by c > 0 and layer k + 1's kernel by 1/c, the same function for a ReLU MLP (default: not rescaled)",
      numberArg,
    )
    .option('--rescale-layer <k>', '--rescale: the layer k (default: 1)', integer(1))
    .option('--json', 'print the report as one JSON document on stdout, nothing else there')
    .option('--quiet', 'no progress output')
    .action(async (run: string, flags: SharpnessFlags) => {
      const out = flags.out ?? run;
      const measures = flags.measures ?? [];
      for (const name of measures) catalogueMeasure(name, 1); // unknown names fail before any work
      const steps = flags.lanczosSteps ?? 90;
      const weighted = measures.filter((name) => importanceWeighted(catalogueMeasure(name, 1)));
      if (weighted.length > 0 && steps === 0) {
        throw new UsageError(
          `--measures ${weighted[0]} is importance-weighted, and its proposal is checked against the Hessian's smallest eigenvalues, which need Lanczos; drop --lanczos-steps 0.`,
        );
      }
      if (flags.rescaleLayer !== undefined && flags.rescale === undefined) {
        throw new UsageError('--rescale-layer needs --rescale c; pass both or neither.');
      }
      if (flags.rescale !== undefined && !(flags.rescale > 0 && Number.isFinite(flags.rescale))) {
        throw new UsageError(
          `--rescale must be a finite number > 0 (ReLU is positively homogeneous only for c > 0), got ${flags.rescale}.`,
        );
      }
      if ((await pathKind(join(run, CONFIG)).catch(() => 'none')) !== 'other') {
        throw new UsageError(
          `'${run}' is not a usam run directory (no ${CONFIG}); pass the --out of a usam train run.`,
        );
      }
      // Checked (schema: file and field named) and --out made, before any work.
      const config = await readRunConfig(run);
      const options: TrainOptions = config.options;
      if (flags.rescale !== undefined && options.model !== 'mlp') {
        throw new UsageError(
          `--rescale needs a ReLU MLP (dense layers only), but this run's model is ${options.model}: batch norm and convolutions change what a layer rescaling does; measure an --model mlp run.`,
        );
      }
      await makeOutputDirectory('--out', out);
      const checkpoint = await checkpointDir(run);
      if (checkpoint === undefined) {
        throw new UsageError(
          `'${run}' has no checkpoint yet; let usam train finish an epoch first.`,
        );
      }
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
      const rescaled =
        flags.rescale === undefined
          ? undefined
          : {
              model: await loadModel(checkpointModelDir(checkpoint)),
              layer: flags.rescaleLayer ?? 1,
              factor: flags.rescale,
            };
      // Ctrl-C (SIGINT) or SIGTERM aborts the estimator in progress (docs/long-estimators.md):
      // nothing is written, so an earlier sharpness.json stays as it was. A second one exits now.
      const controller = new AbortController();
      const { signal } = controller;
      let stoppedBy: keyof typeof SIGNAL_EXIT | undefined;
      const current = { quantity: 'loading' };
      const rowsDone: string[] = [];
      const stop = (name: keyof typeof SIGNAL_EXIT) => {
        if (stoppedBy) process.exit(SIGNAL_EXIT[name]);
        stoppedBy = name;
        controller.abort(new Error(`stopped by ${name}`));
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt).on('SIGTERM', onTerm);
      let report: SharpnessReport;
      try {
        const logDetD = rescaled && rescaleLayers(rescaled.model, rescaled.layer, rescaled.factor);
        const settings = { ...flags, measures, steps, log, signal, current, rowsDone };
        const H = hessian(model, { data: { xs, ys } });
        let atX: Quantities;
        try {
          atX = await quantities(H, settings);
        } finally {
          H.dispose();
        }
        let atDx: Quantities | undefined;
        if (rescaled) {
          const HD = hessian(rescaled.model, { data: { xs, ys } });
          try {
            log(
              `usam sharpness: at the rescaled weights Dx (layer ${rescaled.layer} ×${rescaled.factor})…`,
            );
            atDx = await quantities(HD, settings);
          } finally {
            HD.dispose();
          }
        }
        const { rows, top, density } = atX;
        current.quantity = 'writing';
        signal.throwIfAborted();
        report = {
          run,
          epoch: progress.epoch,
          step: progress.step,
          examples: count,
          parameters: atX.dimension,
          backend,
          rows,
          eigenvalues: {
            values: top.eigenvalues,
            residualNorms: top.residualNorms,
            converged: top.converged,
          },
          density,
          ...(rescaled &&
            atDx && {
              rescaled: {
                layer: rescaled.layer,
                factor: rescaled.factor,
                logDetD: logDetD!,
                rows: atDx.rows,
              },
            }),
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
        const done = rowsDone.length === 0 ? '' : `, after ${rowsDone.join(', ')}`;
        output.err(
          `usam sharpness: stopped by ${stoppedBy} during ${current.quantity}${done}; nothing was written to ${out} (sharpness.json is written only when every quantity is done). Run the same command again to compute it.\n`,
        );
        process.exitCode = SIGNAL_EXIT[stoppedBy];
        return;
      } finally {
        process.off('SIGINT', onInt).off('SIGTERM', onTerm);
        tf.dispose([xs, ys]);
        model.dispose();
        rescaled?.model.dispose();
      }
      if (flags.json) {
        printJson(output, report);
        return;
      }
      const cell = (r: SharpnessRow) =>
        r.refused
          ? 'refused (see below)'
          : Number.isFinite(r.standardError)
            ? `${fmt(r.estimate)} ± ${fmt(r.standardError)}${r.warning ? ' (se untrusted, see below)' : ''}`
            : // One probe (SLQ's default) has no spread to estimate an error from.
              `${fmt(r.estimate)} (one probe: no error estimate)`;
      const table = createTable(['quantity', 'estimate ± error', 'seconds', 'HVPs']);
      for (const r of report.rows) {
        table.push([
          r.converged === false ? `${r.quantity} (not converged)` : r.quantity,
          cell(r),
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
        if (r.refused) output.out(`refused: ${r.quantity}: ${r.refused}\n`);
      }
      const re = report.rescaled;
      if (re) {
        const both = createTable(['quantity', 'at x', 'at Dx', 'ratio Dx/x']);
        report.rows.forEach((r, i) => {
          const d = re.rows[i]!;
          both.push([
            r.quantity,
            cell(r),
            cell(d),
            r.refused || d.refused ? '—' : fmt(d.estimate / r.estimate),
          ]);
        });
        output.out(
          `The same weights rescaled, Dx: layer ${re.layer} (weights and bias) ×${re.factor}, layer ${re.layer + 1}'s kernel ×1/${re.factor}; the network computes the same function (ReLU), log|det D| = ${fmt(re.logDetD)}${re.logDetD === 0 ? '' : ' ≠ 0, so Theorem 1 promises no invariance here'}:\n${both.toString()}\n`,
        );
        for (const r of re.rows) {
          if (r.warning) output.out(`warning: ${r.quantity} at Dx: ${r.warning}\n`);
          if (r.refused) output.out(`refused: ${r.quantity} at Dx: ${r.refused}\n`);
        }
      }
      output.out(
        `(± is a standard error; for λ_i it is the residual ‖Hv − λv‖, which bounds the distance to H's spectrum.) ${report.seconds.toFixed(1)} s in all; written to ${join(out, 'sharpness.json')}${report.density ? ` and ${join(out, 'spectral-density.svg')}` : ''}\n`,
      );
    });
}

/** What `quantities` measures, from the flags. */
interface QuantitySettings extends Omit<SharpnessFlags, 'measures'> {
  readonly measures: readonly string[];
  readonly steps: number;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
  /** What is being computed, and the quantities done, for the stop message. */
  readonly current: { quantity: string };
  readonly rowsDone: string[];
}

interface Quantities {
  readonly rows: SharpnessRow[];
  readonly dimension: number;
  readonly top: { eigenvalues: number[]; residualNorms: number[]; converged: boolean[] };
  readonly density: SharpnessReport['density'];
}

/** Every quantity of the report at one Hessian (the checkpoint's, or its rescaled image's). */
async function quantities(H: ModelHessian, flags: QuantitySettings): Promise<Quantities> {
  const rows: SharpnessRow[] = [];
  const seed = flags.seed ?? 0;
  const probes = flags.probes ?? 100;
  const { signal } = flags;
  const timed = async <T>(quantity: string, f: () => Promise<T>) => {
    flags.current.quantity = quantity;
    flags.log(`usam sharpness: ${quantity}…`);
    const t = performance.now();
    const before = H.operator.products;
    const result = await f();
    flags.rowsDone.push(quantity);
    return {
      result,
      seconds: (performance.now() - t) / 1000,
      products: H.operator.products - before,
    };
  };
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
  if (flags.steps > 0) {
    const slq = await timed('spectral density', () =>
      H.density({ iterations: flags.steps, probes: flags.densityProbes ?? 1, seed, signal }),
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
  for (const name of flags.measures) {
    const measure = catalogueMeasure(name, H.dimension);
    const refused = importanceWeighted(measure) ? proposalRefusal(name, density!.nodes) : undefined;
    if (refused) {
      rows.push({
        quantity: `measure ${name}`,
        estimate: Number.NaN,
        standardError: Number.NaN,
        seconds: 0,
        products: 0,
        refused,
      });
      continue;
    }
    const { result, seconds, products } = await timed(name, () =>
      H.measure(measure, { samples: flags.samples ?? 100, seed, signal }),
    );
    rows.push({ quantity: `measure ${name}`, ...result, seconds, products });
  }
  return { rows, dimension: H.dimension, top: top.result, density };
}

/** Whether a measure's μ is sampled through a proposal with importance weights (Lebesgue parts). */
const importanceWeighted = (measure: Measure) =>
  measure.components.some((c) => typeof c.mu.logWeight === 'function');

/**
 * Why an importance-weighted catalogue measure cannot be estimated at a network's Hessian
 * through the proposal N(0, I), from Lanczos's Ritz values θ (each probe's k-th smallest
 * θ_k ≥ λ_k, Cauchy interlacing), or undefined where nothing rules it out. The
 * determinant needs λ₁ > 0 to converge and λ₁ > ½ for finite weight variance; the damped
 * determinants need every (H − ½I)_{−i} ≻ 0, which fails once two eigenvalues are ≤ ½.
 * Ritz values within 1e-3 of each other are counted once: lost orthogonality repeats a
 * converged one (docs/scale-invariant.md).
 */
function proposalRefusal(name: string, nodes: readonly (readonly number[])[]): string | undefined {
  const theta = [...new Set(nodes.flat())].sort((a, b) => a - b);
  const scale = Math.max(1, ...theta.map(Math.abs));
  const distinct: number[] = [];
  for (const t of theta) {
    if (distinct.length === 0 || t - distinct.at(-1)! > 1e-3 * scale) distinct.push(t);
  }
  const needed = name.startsWith('determinant') ? 1 : 2;
  const low = distinct.filter((t) => t <= 0.5);
  if (low.length < needed) return undefined;
  const shown = low
    .slice(0, needed)
    .map((t) => fmt(t))
    .join(', ');
  const diverges = distinct.filter((t) => t <= 0).length >= needed;
  const count = needed === 1 ? 'an eigenvalue' : 'two eigenvalues';
  return `${diverges ? `its integral diverges at this Hessian (H has ${count} ≤ 0: Lanczos's Ritz values ${shown} bound them from above)` : `its Monte Carlo proposal N(0, I) has infinite weight variance at this Hessian (H has ${count} ≤ ½: Ritz values ${shown}), so no standard error would mean anything`}; measure an explicit Hessian of small d with \`usam measure FILE\`, whose proposal is fitted to H and which integrates it exactly for d ≤ 3`;
}

/**
 * Multiplies dense layer k's kernel and bias by c and layer k + 1's kernel by 1/c, in place:
 * for ReLU between them the network's function is unchanged (relu(cz) = c·relu(z), c > 0).
 * Returns log|det D| = (N_k − N_{k+1}) log c, with N the parameters scaled each way.
 */
function rescaleLayers(model: tfl.LayersModel, layer: number, c: number): number {
  const dense = model.layers.filter((l) => l.getWeights().length === 2);
  if (layer >= dense.length) {
    throw new UsageError(
      `--rescale-layer ${layer}: this MLP has ${dense.length} dense layers, so k + 1 must be ≤ ${dense.length}; pass 1 ≤ k ≤ ${dense.length - 1}.`,
    );
  }
  const [first, second] = [dense[layer - 1]!, dense[layer]!];
  const [kernel, bias] = first.getWeights();
  const [nextKernel, nextBias] = second.getWeights();
  const scaled = tf.tidy(() => [tf.mul(kernel!, c), tf.mul(bias!, c), tf.div(nextKernel!, c)]);
  first.setWeights([scaled[0]!, scaled[1]!]);
  second.setWeights([scaled[2]!, nextBias!]);
  // getWeights returns the layers' own variables (read(), not copies): only the products go.
  tf.dispose(scaled);
  return (kernel!.size + bias!.size - nextKernel!.size) * Math.log(c);
}
