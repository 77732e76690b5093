/**
 * What the training worker does, apart from the worker itself: it takes
 * requests (checked by `parseRequest`) and posts responses, so the same code
 * runs in a Web Worker and in Node tests.
 *
 * Runs share everything but the optimizer: one dataset, one model seed (so the
 * same initial weights) and one data order, stepping in lockstep on the same
 * minibatch. Work on the models (training steps, Hessians, landscapes) is
 * serialised by one lock, so a landscape asked for mid-training sees weights
 * between two steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type Batch,
  batchCount,
  batches,
  type Dataset,
  firstExamples,
  type ImageSet,
} from '@usam/datasets';
import { loadMnist } from '@usam/datasets/mnist';
import { softmaxCrossEntropy } from '@usam/measures';
import { createModel, forward, trainableVariables } from '@usam/models';
import {
  type ExampleLosses,
  perExampleLosses,
  type SharpnessAwareOptimizer,
} from '@usam/optimizer';
import { filterNormalizedDirection, lossSlice, sliceGrid } from './landscape';
import { hessianSeed, modelHessian } from './model-hessian';
import { createOptimizer } from './optimizers';
import { type EpochMetrics, parseRequest, type Request, type Response } from './protocol';
import { defaultRun, divergenceAdvice, type ExperimentSettings } from './settings';

type Model = ReturnType<typeof createModel>;

/** A run's running totals over the current epoch (those of usam train's metrics). */
interface EpochSums {
  steps: number;
  lossSum: number;
  correct: number;
  examples: number;
  gradientEvaluations: number;
  refusedSteps: number;
  /** This run's own time in its steps. */
  stepSeconds: number;
}

const emptySums = (): EpochSums => ({
  steps: 0,
  lossSum: 0,
  correct: 0,
  examples: 0,
  gradientEvaluations: 0,
  refusedSteps: 0,
  stepSeconds: 0,
});

/** Milliseconds between two progress messages of one run (each run has its own clock). */
const PROGRESS_MS = 200;

const firstLine = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/**
 * One optimizer's run. It keeps the weights before its last two steps
 * (clones share the tensors' memory, so this costs no copy): when a step's
 * loss is not finite, the weights that step started from came out of the step
 * before, and the ones before *that* step are the last whose loss was finite.
 */
class Run {
  readonly model: Model;
  /** Owns its base optimizer (disposed with it). */
  readonly optimizer: SharpnessAwareOptimizer;
  halted = false;
  sums: EpochSums = emptySums();
  globalStep = 0;
  pending: number[] = [];
  lastProgress = 0;
  private snapshots: tf.Tensor[][] = [];
  private readonly variables: tf.Variable[];

  constructor(model: Model, optimizer: SharpnessAwareOptimizer) {
    this.model = model;
    this.optimizer = optimizer;
    this.variables = trainableVariables(model);
  }

  /** Before a step: remember the weights it starts from (the last two are kept). */
  keepSnapshot() {
    const taken = this.variables.map((v) => tf.keep(tf.clone(v)));
    this.snapshots.push(taken);
    if (this.snapshots.length > 2) tf.dispose(this.snapshots.shift()!);
  }

  /** After a non-finite loss: back to the last weights whose loss was finite; says which. */
  restoreLastFinite(): string {
    if (this.snapshots.length < 2) return 'no earlier weights to keep';
    const [before] = this.snapshots;
    this.variables.forEach((v, k) => {
      v.assign(before![k]!);
    });
    return 'weights kept from the step before, the last whose loss was finite';
  }

  dispose() {
    for (const s of this.snapshots) tf.dispose(s);
    this.snapshots = [];
    this.optimizer.dispose();
    this.model.dispose();
  }
}

export interface TrainerEnvironment {
  /** Starts a backend by usam's name; returns false when it cannot start here. */
  initBackend(name: string): Promise<boolean>;
  /** Backends `auto` compares, fastest wins (browsers: webgl, wasm). */
  readonly autoBackends: readonly string[];
  /** Yields to the event loop so that pause/stop messages get through. */
  yieldNow?(): Promise<void>;
}

const defaultYield = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Steps timed per backend when `auto` compares them (after one warm-up step). */
const BENCH_STEPS = 3;

export interface Trainer {
  handle(message: unknown): Promise<void>;
}

export function createTrainer(
  post: (response: Response) => void,
  env: TrainerEnvironment,
): Trainer {
  const yieldNow = env.yieldNow ?? defaultYield;
  let settings: ExperimentSettings | undefined;
  let dataset: Dataset | undefined;
  let runs: Run[] = [];
  let hessianData: { xs: tf.Tensor; ys: tf.Tensor } | undefined;
  let training = false;
  let paused = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  let lock: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it (one at a time on the models). */
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const result = lock.then(task);
    lock = result.catch(() => undefined);
    return result;
  };

  const flatten = () => settings!.model === 'mlp';
  const inputShape = () => (flatten() ? [784] : [28, 28, 1]);

  function disposeAll() {
    for (const run of runs) run.dispose();
    runs = [];
    if (hessianData) tf.dispose([hessianData.xs, hessianData.ys]);
    hessianData = undefined;
  }

  async function chooseBackend(s: ExperimentSettings, train: ImageSet): Promise<void> {
    const names = s.backend === 'auto' ? env.autoBackends : [s.backend];
    const stepMs: Record<string, number> = {};
    for (const name of names) {
      if (!(await env.initBackend(name))) continue;
      if (names.length > 1) stepMs[name] = await timeSgdStep(s, train);
    }
    const timed = Object.entries(stepMs).sort((a, b) => a[1] - b[1]);
    const chosen = timed[0]?.[0] ?? names.find((n) => n !== 'auto');
    if (chosen === undefined || !(await env.initBackend(chosen))) {
      throw new Error(`No backend of ${names.join(', ')} could start here.`);
    }
    post({ type: 'backend', name: chosen, stepMs });
  }

  /** Milliseconds per SGD step of the chosen model at the chosen batch size (median). */
  async function timeSgdStep(s: ExperimentSettings, train: ImageSet): Promise<number> {
    const model = createModel(s.model, { inputShape: inputShape(), numClasses: 10, seed: s.seed });
    const base = tf.train.sgd(s.lr);
    const optimizer = createOptimizer(defaultRun('sgd'), {
      params: model,
      base,
      weightDecay: 0,
      seed: 0,
    });
    const batch = batches(train, {
      batchSize: s.batchSize,
      seed: s.seed,
      flatten: flatten(),
    }).next().value!;
    const times: number[] = [];
    try {
      for (let i = 0; i <= BENCH_STEPS; i++) {
        const t0 = performance.now();
        await optimizer.step(() => trainingLoss(model, batch.xs, batch.ys));
        if (i > 0) times.push(performance.now() - t0);
      }
    } finally {
      tf.dispose([batch.xs, batch.ys]);
      optimizer.dispose();
      model.dispose();
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  }

  async function start(s: ExperimentSettings) {
    if (training) throw new Error('A training is running; stop it before starting another.');
    training = true;
    paused = false;
    stopped = false;
    try {
      await exclusive(async () => {
        disposeAll();
        settings = s;
        post({ type: 'status', state: 'loading', message: `Loading ${s.dataset}…` });
        dataset = await loadMnist(s.dataset, { seed: s.seed });
        await chooseBackend(s, dataset.train);
        post({
          type: 'dataset',
          trainExamples: dataset.train.count,
          testExamples: dataset.test.count,
          stepsPerEpoch: batchCount(dataset.train.count, s.batchSize),
        });
        const train = dataset.train;
        runs = s.runs.map((run) => {
          // One seed for every run: the same initial weights.
          const model = createModel(s.model, {
            inputShape: inputShape(),
            numClasses: 10,
            seed: s.seed,
          });
          const base = s.momentum > 0 ? tf.train.momentum(s.lr, s.momentum) : tf.train.sgd(s.lr);
          const optimizer = createOptimizer(run, {
            params: model,
            base,
            weightDecay: s.weightDecay,
            seed: s.seed,
            ...(s.mSharpness > 1 && { mSharpness: s.mSharpness }),
            fisherLosses: fisherLosses(model, train, s.seed, flatten()),
          });
          return new Run(model, optimizer);
        });
        const { xs, ys } = firstExamples(train, s.hessianExamples, { flatten: flatten() });
        hessianData = { xs, ys };
      });
      await trainLoop(s);
    } catch (error) {
      post({ type: 'status', state: 'failed', message: firstLine(error) });
    } finally {
      training = false;
    }
  }

  /** Posts run `r`'s losses gathered since its last progress message. */
  function flushProgress(r: number, epoch: number, step: number, stepsPerEpoch: number) {
    const run = runs[r]!;
    if (run.pending.length === 0) return;
    post({
      type: 'progress',
      run: r,
      epoch,
      step,
      stepsPerEpoch,
      losses: run.pending,
      globalStep: run.globalStep,
      stepMs: (run.sums.stepSeconds / Math.max(1, run.sums.steps)) * 1000,
    });
    run.pending = [];
    run.lastProgress = performance.now();
  }

  /** Run `r` stops here; the others go on. */
  function halt(
    r: number,
    reason: 'diverged' | 'failed',
    epoch: number,
    step: number,
    why: string,
    advice?: string,
  ) {
    const run = runs[r]!;
    run.halted = true;
    post({
      type: 'halted',
      run: r,
      reason,
      epoch,
      step,
      message: `${reason} at epoch ${epoch}, step ${step} (${why})${advice === undefined ? '' : `; what to change: ${advice}`}`,
    });
  }

  async function trainLoop(s: ExperimentSettings) {
    const train = dataset!.train;
    post({ type: 'status', state: 'running' });
    const stepsPerEpoch = batchCount(train.count, s.batchSize);
    for (let epoch = 1; epoch <= s.epochs && !stopped; epoch++) {
      for (const run of runs) run.sums = emptySums();
      let step = 0;
      for (const batch of batches(train, {
        batchSize: s.batchSize,
        seed: s.seed,
        epoch: epoch - 1,
        augment: false,
        flatten: flatten(),
      })) {
        step++;
        try {
          for (let r = 0; r < runs.length; r++) {
            await waitWhilePaused();
            if (stopped) break;
            const run = runs[r]!;
            if (run.halted) continue;
            try {
              const loss = await exclusive(() => trainStep(run, batch, epoch));
              if (!Number.isFinite(loss)) {
                flushProgress(r, epoch, step - 1, stepsPerEpoch);
                const kept = await exclusive(async () => run.restoreLastFinite());
                halt(r, 'diverged', epoch, step, `loss ${loss}; ${kept}`, divergenceAdvice(s, r));
                continue;
              }
              run.pending.push(loss);
              if (performance.now() - run.lastProgress > PROGRESS_MS || step === stepsPerEpoch) {
                flushProgress(r, epoch, step, stepsPerEpoch);
              }
            } catch (error) {
              flushProgress(r, epoch, step - 1, stepsPerEpoch);
              halt(r, 'failed', epoch, step, firstLine(error));
            }
            await yieldNow();
          }
        } finally {
          tf.dispose([batch.xs, batch.ys]);
        }
        if (stopped || runs.every((run) => run.halted)) break;
      }
      if (stopped) break;
      for (let r = 0; r < runs.length; r++) {
        const run = runs[r]!;
        if (run.halted) continue;
        try {
          const metrics = await exclusive(() => epochMetrics(run, epoch, s));
          post({ type: 'epoch', run: r, metrics });
        } catch (error) {
          halt(r, 'failed', epoch, step, firstLine(error));
        }
        await yieldNow();
        if (stopped) break;
      }
      if (runs.every((run) => run.halted)) break;
    }
    const halted = runs.filter((run) => run.halted).length;
    post({
      type: 'status',
      state: stopped ? 'stopped' : 'done',
      ...(halted > 0 && {
        message: `${stopped ? 'Stopped' : 'Done'}; ${halted === runs.length ? 'every run' : `${halted} of ${runs.length} runs`} halted (see the runs' notes).`,
      }),
    });
  }

  /** One optimizer step of `run` on `batch`, added to its epoch sums; returns the clean loss. */
  async function trainStep(run: Run, batch: Batch, epoch: number): Promise<number> {
    const t0 = performance.now();
    run.keepSnapshot();
    const labels = tf.tensor1d(batch.labels, 'int32');
    // The closure's first call is the clean pass at x (as in usam train): its predictions
    // give the running training accuracy.
    const correct: tf.Scalar[] = [];
    try {
      const stats = await run.optimizer.step(
        (part) =>
          tf.tidy(() => {
            // With m-sharpness each part's first call is its clean pass (usam train's rule).
            const logits = forward(run.model, part.slice(batch.xs), { training: true });
            if (correct.length === part.index) {
              const right = tf.equal(tf.argMax(logits, -1), part.slice(labels));
              correct.push(tf.keep(tf.sum(tf.cast(right, 'float32')) as tf.Scalar));
            }
            return softmaxCrossEntropy(part.slice(batch.ys), logits) as tf.Scalar;
          }),
        { epoch: epoch - 1 },
      );
      run.globalStep++;
      const sums = run.sums;
      sums.steps++;
      sums.gradientEvaluations += stats.gradientEvaluations;
      if (Number.isFinite(stats.loss)) {
        sums.lossSum += stats.loss * batch.size;
        for (const c of correct) sums.correct += (await c.data())[0]!;
        sums.examples += batch.size;
        if (!stats.applied) sums.refusedSteps++;
      }
      sums.stepSeconds += (performance.now() - t0) / 1000;
      return stats.loss;
    } finally {
      tf.dispose([labels, ...correct]);
    }
  }

  async function epochMetrics(
    run: Run,
    epoch: number,
    s: ExperimentSettings,
  ): Promise<EpochMetrics> {
    const t0 = performance.now();
    const { sums, model } = run;
    const test = await evaluate(model, dataset!.test, flatten());
    let hessian: EpochMetrics['hessian'];
    if (s.measureEvery > 0 && epoch % s.measureEvery === 0) {
      const H = modelHessian(model, hessianData!);
      try {
        hessian = await H.measure({ probes: s.probes, seed: hessianSeed(s.seed, epoch) });
      } finally {
        H.dispose();
      }
    }
    return {
      epoch,
      trainLoss: sums.lossSum / sums.examples,
      trainAccuracy: sums.correct / sums.examples,
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      learningRate: s.lr,
      seconds: sums.stepSeconds + (performance.now() - t0) / 1000,
      gradientEvaluations: sums.gradientEvaluations,
      refusedSteps: sums.refusedSteps,
      ...(hessian && { hessian }),
    };
  }

  async function waitWhilePaused() {
    while (paused && !stopped) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }

  function checkRun(run: number) {
    if (runs[run] === undefined) {
      throw new Error(
        runs.length === 0
          ? 'No run has weights yet; start a training first.'
          : `Run ${run + 1} does not exist; there are ${runs.length}.`,
      );
    }
    return runs[run]!;
  }

  async function landscape(request: Extract<Request, { type: 'landscape' }>) {
    const t0 = performance.now();
    const grid = sliceGrid(request.points, request.span);
    const values = await exclusive(async () => {
      const { model } = checkRun(request.run);
      const variables = trainableVariables(model);
      const { xs, ys } = firstExamples(dataset!.train, request.examples, { flatten: flatten() });
      const directions = Array.from({ length: request.dimensions }, (_, k) =>
        filterNormalizedDirection(variables, request.seed * 2 + k),
      );
      try {
        return await lossSlice({
          variables,
          loss: () => trainingLoss(model, xs, ys, false),
          directions,
          grid,
        });
      } finally {
        tf.dispose([xs, ys, ...directions.flat()]);
      }
    });
    post({
      type: 'landscape',
      run: request.run,
      dimensions: request.dimensions,
      grid,
      values,
      seconds: (performance.now() - t0) / 1000,
    });
  }

  async function density(request: Extract<Request, { type: 'density' }>) {
    const t0 = performance.now();
    const result = await exclusive(async () => {
      const { model } = checkRun(request.run);
      const { xs, ys } = firstExamples(dataset!.train, request.examples, { flatten: flatten() });
      const H = modelHessian(model, { xs, ys });
      try {
        return await H.density({
          steps: request.steps,
          probes: request.probes,
          seed: request.seed,
        });
      } finally {
        H.dispose();
        tf.dispose([xs, ys]);
      }
    });
    post({
      type: 'density',
      run: request.run,
      ...result,
      seconds: (performance.now() - t0) / 1000,
    });
  }

  return {
    async handle(message) {
      try {
        const request = parseRequest(message);
        switch (request.type) {
          case 'start':
            return await start(request.settings);
          case 'pause':
            if (training && !paused) {
              paused = true;
              post({ type: 'status', state: 'paused' });
            }
            return;
          case 'resume':
            if (training && paused) {
              paused = false;
              wake?.();
              post({ type: 'status', state: 'running' });
            }
            return;
          case 'stop':
            stopped = true;
            paused = false;
            wake?.();
            return;
          case 'landscape':
            return await landscape(request);
          case 'density':
            return await density(request);
        }
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error);
        post({ type: 'error', message: text.split('\n')[0]! });
      }
    },
  };
}

/** Mean softmax cross-entropy of the model's logits (training mode unless told). */
function trainingLoss(model: Model, xs: tf.Tensor, ys: tf.Tensor, training = true): tf.Scalar {
  return tf.tidy(() => softmaxCrossEntropy(ys, forward(model, xs, { training })) as tf.Scalar);
}

/** Mean loss and accuracy over a whole set, in eval mode (as usam train evaluates). */
async function evaluate(model: Model, set: ImageSet, flatten: boolean) {
  let lossSum = 0;
  let correct = 0;
  for (const batch of batches(set, { batchSize: 500, shuffle: false, augment: false, flatten })) {
    const both = tf.tidy(() => {
      const logits = forward(model, batch.xs, { training: false });
      const labels = tf.tensor1d(batch.labels, 'int32');
      return tf.stack([
        softmaxCrossEntropy(batch.ys, logits, { reduction: 'sum' }),
        tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'float32')),
      ]);
    });
    const values = await both.data();
    tf.dispose([both, batch.xs, batch.ys]);
    lossSum += values[0]!;
    correct += values[1]!;
  }
  return { loss: lossSum / set.count, accuracy: correct / set.count };
}

/**
 * SSAM-F's per-example losses, as usam train draws them: the first `count`
 * examples of the epoch's order, one closure each, in eval mode (one example
 * has no batch statistics).
 */
function fisherLosses(model: Model, set: ImageSet, seed: number, flatten: boolean): ExampleLosses {
  return (count, epoch) => {
    const [batch] = batches(set, { batchSize: count, seed, epoch, augment: false, flatten });
    return perExampleLosses(model, batch!);
  };
}
