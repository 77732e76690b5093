import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import {
  type Batch,
  batchCount,
  batches,
  type Dataset,
  firstExamples,
  type ImageSet,
} from '@usam/datasets';
import { loadDataset } from '@usam/datasets/node';
import { hessian } from '@usam/estimators';
import { softmaxCrossEntropy } from '@usam/measures';
import { createModel, forward } from '@usam/models';
import {
  type ExampleLosses,
  perExampleLosses,
  type SharpnessAwareOptimizer,
  type Variant,
} from '@usam/optimizer';
import { UsageError } from '../cli/errors';
import {
  type EpochSums,
  emptySums,
  loadCheckpoint,
  type Progress,
  saveCheckpoint,
} from './checkpoint';
import { earlyStopEpoch } from './early-stop';
import { measureHessian } from './hessian';
import { createOptimizer, schedule } from './optimizer';
import { configDifference, resumeMismatch, type TrainOptions } from './options';
import {
  appendMetrics,
  createMetrics,
  DIVERGED,
  type Divergence,
  type EpochMetrics,
  packageVersions,
  prepareRunDir,
  type RunConfig,
  readDivergence,
  readMetrics,
  removeSummary,
  resumeMetrics,
  type TrainSummary,
  writeConfig,
  writeDivergence,
  writeSummary,
} from './run-dir';

/** What `onStep` sees after each training step. */
export interface StepInfo {
  /** 1-based epoch. */
  readonly epoch: number;
  /** 1-based step within the epoch. */
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly globalStep: number;
}

/** What `onStart` sees once everything is loaded, before the first step. */
export interface StartInfo {
  readonly backend: string;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  /** 0-based epoch and step the run starts (or resumes) at. */
  readonly epoch: number;
  readonly step: number;
  readonly resumed: boolean;
  readonly parameters: number;
  readonly trainExamples: number;
}

export interface TrainHooks {
  /**
   * Aborting finishes the current step, writes a checkpoint at that step and
   * resolves with `completed: false` (`interrupted` says where).
   */
  readonly signal?: AbortSignal;
  onStart?(info: StartInfo): void;
  onStep?(info: StepInfo): void;
  onEpoch?(metrics: EpochMetrics): void;
  /** Evaluation and Hessian measurements at an epoch's end (slow ones say so). */
  onPhase?(phase: 'evaluate' | 'hessian' | 'checkpoint'): void;
  /** The table of optimizer variants `options.optimizer` names one of (default @usam/optimizer's). */
  readonly variants?: readonly Variant[];
}

/** The model's input shape for a set: flat for the MLP, images for conv nets. */
export const flattens = (options: Pick<TrainOptions, 'model'>) => options.model === 'mlp';

/** Correct predictions in a batch, as a scalar (computed where the logits are). */
const countCorrect = (logits: tf.Tensor, labels: tf.Tensor) =>
  tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'float32'));

/** Mean loss and accuracy of the model (eval mode) over a whole set. */
async function evaluate(
  model: LayersModel,
  set: ImageSet,
  flatten: boolean,
): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  for (const batch of batches(set, { batchSize: 500, shuffle: false, augment: false, flatten })) {
    const [loss, right] = tf.tidy(() => {
      const logits = forward(model, batch.xs, { training: false });
      const labels = tf.tensor1d(batch.labels, 'int32');
      return [
        softmaxCrossEntropy(batch.ys, logits, { reduction: 'sum' }),
        countCorrect(logits, labels),
      ];
    });
    const both = tf.stack([loss!, right!]);
    const values = await both.data();
    tf.dispose([both, loss!, right!, batch.xs, batch.ys]);
    lossSum += values[0]!;
    correct += values[1]!;
  }
  return { loss: lossSum / set.count, accuracy: correct / set.count };
}

/**
 * SSAM-F's per-example losses: the first `count` examples of the epoch's order,
 * in eval mode (a single example has no batch statistics, and the Fisher passes
 * must not move BatchNorm's running statistics).
 */
function fisherLosses(model: LayersModel, set: ImageSet, options: TrainOptions): ExampleLosses {
  return (count, epoch) => {
    const [batch] = batches(set, {
      batchSize: count,
      seed: options.seed,
      epoch,
      augment: false,
      flatten: flattens(options),
    });
    return perExampleLosses(model, batch!);
  };
}

/** The run's dataset, loaded as training loads it. */
export async function loadData(options: TrainOptions): Promise<Dataset> {
  return loadDataset(options.dataset, {
    ...(options.dataDir !== null && { dataDir: options.dataDir }),
    seed: options.seed,
    subsampleFraction: options.subsample,
    corruptionFraction: options.corrupt,
  });
}

/** Builds the model for the dataset (same seed, same initial weights). */
function buildModel(options: TrainOptions, data: Dataset): LayersModel {
  const [h, w, c] = data.train.shape;
  return createModel(options.model, {
    inputShape: flattens(options) ? [h * w * c] : [h, w, c],
    numClasses: data.train.numClasses,
    width: options.width,
    seed: options.seed,
  });
}

/**
 * One training run (`usam train`): loads the data, builds the model and the
 * optimizer, and trains for `options.epochs`, writing the run directory
 * `options.out` (config.json, metrics.jsonl, checkpoint/ at every epoch end,
 * summary.json at the end). With `options.resume` it continues from the
 * checkpoint; on the cpu backend the result is then identical to an
 * uninterrupted run. Aborting `hooks.signal` stops after the current step with
 * a checkpoint there.
 */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainSummary> {
  const saved = await prepareRunDir(options, hooks.variants);
  if (saved) {
    const difference = configDifference(saved.options, options);
    if (difference !== undefined) throw resumeMismatch(difference);
    const diverged = await readDivergence(options.out);
    if (diverged) {
      throw new UsageError(
        `--resume: the run in ${options.out} diverged at epoch ${diverged.epoch}, step ${diverged.step} (${DIVERGED}); resumed, it would diverge again: start over with --force and a lower --lr (or λ).`,
      );
    }
  }
  const { name: backend } = await initBackend(options.backend);
  const data = await loadData(options);
  const model = buildModel(options, data);
  const optimizer = createOptimizer(
    options,
    model,
    fisherLosses(model, data.train, options),
    hooks.variants,
  );
  try {
    let progress: Progress = {
      epoch: 0,
      step: 0,
      globalStep: 0,
      dataOrder: { seed: options.seed, epoch: 0, batch: 0 },
      partial: emptySums(),
      seconds: 0,
    };
    let history: EpochMetrics[] = [];
    const flatten = flattens(options);
    const lrAt = schedule(options);
    // With m-sharpness, a last batch smaller than m cannot be split into m parts: it is dropped.
    const dropLast =
      data.train.count % options.batchSize !== 0 &&
      data.train.count % options.batchSize < options.mSharpness;
    const stepsPerEpoch = batchCount(data.train.count, options.batchSize, dropLast);
    if (saved) {
      progress = await loadCheckpoint(options.out, model, optimizer);
      checkProgress(progress, options, saved.options.epochs, stepsPerEpoch);
      history = await resumeMetrics(options.out, progress.epoch);
      // A run being extended is not complete until its new last epoch is: a crash from
      // here on must not leave summary.json saying it is (docs/run-directory.md).
      if (options.epochs > progress.epoch) await removeSummary(options.out);
      const config: RunConfig = {
        ...saved,
        options: { ...saved.options, epochs: options.epochs },
        resumes: [
          ...(saved.resumes ?? []),
          { at: new Date().toISOString(), epoch: progress.epoch, step: progress.step, backend },
        ],
      };
      await writeConfig(options.out, config);
    } else {
      await writeConfig(options.out, {
        options: { ...options, resume: false, force: false },
        versions: packageVersions(),
        backend,
        startedAt: new Date().toISOString(),
        node: process.version,
        resumes: [],
      });
      await createMetrics(options.out);
    }
    hooks.onStart?.({
      backend,
      epochs: options.epochs,
      stepsPerEpoch,
      epoch: progress.epoch,
      step: progress.step,
      resumed: saved !== undefined,
      parameters: model.countParams(),
      trainExamples: data.train.count,
    });
    // Divergence (docs/run-directory.md): refused steps (a non-finite loss or gradient;
    // the weights stay as they were) for as long as an epoch, or most of an epoch's steps.
    let refusedStreak = 0;
    let checkpointed = saved !== undefined;
    let streakStart: Divergence | undefined;
    const secondsBefore = progress.seconds;
    const sessionStart = performance.now();
    const elapsed = () => secondsBefore + (performance.now() - sessionStart) / 1000;

    // Checked before each epoch, so that a run resumed after the epoch that fired it stops too.
    const stopRule = () =>
      options.patience === null
        ? undefined
        : earlyStopEpoch(
            history.map((m) => m.testAccuracy),
            options.patience,
            options.minDelta ?? 0,
          );
    let stoppedEarly = stopRule();
    for (let epoch = progress.epoch; epoch < options.epochs && !stoppedEarly; epoch++) {
      const epochStart = performance.now();
      const resuming = epoch === progress.epoch;
      const sums = resuming ? { ...progress.partial } : emptySums();
      const skip = resuming ? progress.step : 0;
      const lr = lrAt(epoch);
      optimizer.setLearningRate(lr);
      let step = 0;
      let globalStep = progress.globalStep;
      const order = batches(data.train, {
        batchSize: options.batchSize,
        seed: options.seed,
        epoch,
        augment: options.augment,
        flatten,
        dropLast,
      });
      for (const batch of order) {
        step++;
        if (step <= skip) {
          // Drawn and dropped, so the augmentation stream is where it was.
          tf.dispose([batch.xs, batch.ys]);
          continue;
        }
        const { loss, applied } = await trainStep(model, optimizer, batch, epoch, sums);
        globalStep++;
        if (applied) {
          refusedStreak = 0;
          streakStart = undefined;
        } else {
          refusedStreak++;
          streakStart ??= { epoch: epoch + 1, step, loss, reason: 'refused' };
        }
        hooks.onStep?.({ epoch: epoch + 1, step, steps: stepsPerEpoch, loss, globalStep });
        if (refusedStreak >= stepsPerEpoch) break;
        // The cpu and wasm backends resolve reads as microtasks, which never let the
        // event loop poll: without this, signals (and progress redraws) wait for the epoch's end.
        await new Promise((resolve) => setImmediate(resolve));
        if (hooks.signal?.aborted) break;
      }
      // Stopped by a signal: checkpoint after the last finished step (at the epoch's last
      // step too, before its evaluation and measurements, which resuming then does).
      const stopHere = async () => {
        const at = Math.max(step, skip);
        progress = {
          epoch,
          step: at,
          globalStep,
          dataOrder: { seed: options.seed, epoch, batch: at },
          partial: { ...sums, seconds: sums.seconds + (performance.now() - epochStart) / 1000 },
          seconds: elapsed(),
        };
        hooks.onPhase?.('checkpoint');
        await saveCheckpoint(options.out, model, optimizer, progress);
        checkpointed = true;
        return interrupted(options, backend, progress, history);
      };
      // Diverged: stop without a checkpoint, so that the last one written (the
      // previous epoch's end, before the refused steps) stays the live one.
      const refused = sums.refusedSteps;
      if (refusedStreak >= stepsPerEpoch || 2 * refused > stepsPerEpoch) {
        const divergence: Divergence = {
          ...(streakStart ?? { epoch: epoch + 1, step, loss: Number.NaN }),
          reason:
            refusedStreak >= stepsPerEpoch
              ? `${refusedStreak} steps in a row refused (non-finite loss or gradient)`
              : `${refused} of the epoch's ${stepsPerEpoch} steps refused (non-finite loss or gradient)`,
          checkpoint: checkpointed ? { epoch: progress.epoch, step: progress.step } : null,
        };
        await writeDivergence(options.out, divergence);
        const { interrupted: _, ...summary } = interrupted(options, backend, progress, history);
        return { ...summary, diverged: divergence };
      }
      if (hooks.signal?.aborted) return await stopHere();
      hooks.onPhase?.('evaluate');
      const test = await evaluate(model, data.test, flatten);
      let hessian: EpochMetrics['hessian'];
      if (options.measureEvery > 0 && (epoch + 1) % options.measureEvery === 0) {
        hooks.onPhase?.('hessian');
        hessian = await hessianAt(model, data.train, options, epoch + 1, hooks.signal);
        if (hooks.signal?.aborted) return await stopHere();
      }
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        trainLoss: sums.lossSum / sums.examples,
        trainAccuracy: sums.correct / sums.examples,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        learningRate: lr,
        seconds: sums.seconds + (performance.now() - epochStart) / 1000,
        gradientEvaluations: sums.gradientEvaluations,
        refusedSteps: sums.refusedSteps,
        ...(hessian && { hessian }),
      };
      await appendMetrics(options.out, metrics);
      history.push(metrics);
      progress = {
        epoch: epoch + 1,
        step: 0,
        globalStep,
        dataOrder: { seed: options.seed, epoch: epoch + 1, batch: 0 },
        partial: emptySums(),
        seconds: elapsed(),
      };
      hooks.onPhase?.('checkpoint');
      await saveCheckpoint(options.out, model, optimizer, progress);
      checkpointed = true;
      hooks.onEpoch?.(metrics);
      stoppedEarly = stopRule();
      if (hooks.signal?.aborted && epoch + 1 < options.epochs && !stoppedEarly) {
        return interrupted(options, backend, progress, history);
      }
    }
    if (history.length === 0) history = await readMetrics(options.out);
    const last = history.at(-1)!;
    const summary: TrainSummary = {
      completed: true,
      epochs: stoppedEarly ? stoppedEarly.epoch : options.epochs,
      ...(stoppedEarly && { stoppedEarly }),
      finalTestAccuracy: last.testAccuracy,
      finalTestLoss: last.testLoss,
      finalTrainLoss: last.trainLoss,
      seconds: elapsed(),
      gradientEvaluations: history.reduce((n, m) => n + m.gradientEvaluations, 0),
      backend,
      out: options.out,
    };
    await writeSummary(options.out, summary);
    return summary;
  } finally {
    optimizer.dispose(); // also frees the base optimizer's learning-rate scalar
    model.dispose();
  }
}

/**
 * Refuses a checkpoint's progress that does not fit the run: an epoch past the
 * epochs config.json says the run was asked for (a run never trains past
 * them), a position past the epoch's steps or out of step with the data
 * order, and an epoch count below what the run has already completed
 * (shrinking a run: its metrics and checkpoint would disagree with config.json).
 */
function checkProgress(
  progress: Progress,
  options: TrainOptions,
  savedEpochs: number,
  stepsPerEpoch: number,
): void {
  const where = join(options.out, 'checkpoint', 'progress.json');
  const fix = 'restore the run from a copy, or start it over with usam train --force.';
  const expected = progress.epoch * stepsPerEpoch + progress.step;
  const problem =
    progress.epoch > savedEpochs
      ? `field 'epoch' is ${progress.epoch}, past the run's ${savedEpochs} epochs (config.json)`
      : progress.step > stepsPerEpoch
        ? `field 'step' is ${progress.step}, past the ${stepsPerEpoch} steps of an epoch`
        : progress.globalStep !== expected
          ? `field 'globalStep' is ${progress.globalStep}, but epoch ${progress.epoch}, step ${progress.step} at ${stepsPerEpoch} steps an epoch make ${expected}`
          : progress.dataOrder.epoch !== progress.epoch ||
              progress.dataOrder.batch !== progress.step ||
              progress.dataOrder.seed !== options.seed
            ? `field 'dataOrder' (${JSON.stringify(progress.dataOrder)}) is not epoch ${progress.epoch}, batch ${progress.step} of seed ${options.seed}`
            : undefined;
  if (problem !== undefined) throw new UsageError(`${where}: ${problem}; ${fix}`);
  if (options.epochs < progress.epoch) {
    throw new UsageError(
      `--epochs ${options.epochs}: the run in ${options.out} has already completed ${progress.epoch} epochs, and a run cannot shrink; pass --epochs ${progress.epoch} or more to resume it, or --force to start over.`,
    );
  }
}

function interrupted(
  options: TrainOptions,
  backend: string,
  progress: Progress,
  history: EpochMetrics[],
): TrainSummary {
  const last = history.at(-1);
  return {
    completed: false,
    epochs: progress.epoch,
    finalTestAccuracy: last?.testAccuracy ?? Number.NaN,
    finalTestLoss: last?.testLoss ?? Number.NaN,
    finalTrainLoss: last?.trainLoss ?? Number.NaN,
    seconds: progress.seconds,
    gradientEvaluations: history.reduce((n, m) => n + m.gradientEvaluations, 0),
    backend,
    out: options.out,
    interrupted: { epoch: progress.epoch, step: progress.step },
  };
}

/** One optimizer step on a batch; adds its loss, accuracy and cost to `sums`. Returns the loss. */
async function trainStep(
  model: LayersModel,
  optimizer: SharpnessAwareOptimizer,
  batch: Batch,
  epoch: number,
  sums: EpochSums,
): Promise<{ loss: number; applied: boolean }> {
  const { xs, ys } = batch;
  const labels = tf.tensor1d(batch.labels, 'int32');
  // Each part's first call is its clean pass at x: its predictions give the training accuracy.
  const correct: tf.Scalar[] = [];
  try {
    const stats = await optimizer.step(
      (part) =>
        tf.tidy(() => {
          const logits = forward(model, part.slice(xs), { training: true });
          if (correct.length === part.index) {
            correct.push(tf.keep(countCorrect(logits, part.slice(labels)) as tf.Scalar));
          }
          return softmaxCrossEntropy(part.slice(ys), logits) as tf.Scalar;
        }),
      { epoch },
    );
    sums.lossSum += stats.loss * batch.size;
    for (const c of correct) sums.correct += (await c.data())[0]!;
    sums.examples += batch.size;
    sums.gradientEvaluations += stats.gradientEvaluations;
    if (!stats.applied) sums.refusedSteps++;
    return { loss: stats.loss, applied: stats.applied };
  } finally {
    tf.dispose([xs, ys, labels, ...correct]);
  }
}

/** The `--hessian` quantities on the first `hessianExamples` training examples. */
async function hessianAt(
  model: LayersModel,
  set: ImageSet,
  options: TrainOptions,
  epoch: number,
  signal: AbortSignal | undefined,
): Promise<EpochMetrics['hessian']> {
  const { xs, ys } = firstExamples(set, options.hessianExamples, { flatten: flattens(options) });
  const H = hessian(model, { data: { xs, ys } });
  try {
    return await measureHessian(H, options.hessian, {
      probes: options.probes,
      seed: `${options.seed}:epoch${epoch}`,
      signal,
    });
  } finally {
    H.dispose();
    tf.dispose([xs, ys]);
  }
}
