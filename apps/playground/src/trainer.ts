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
import { batches, type Dataset, firstExamples, type ImageSet } from '@usam/datasets';
import { loadMnist } from '@usam/datasets/mnist';
import { createModel, forward, trainableVariables } from '@usam/models';
import type { SharpnessAwareOptimizer } from '@usam/optimizer';
import { filterNormalizedDirection, lossSlice, sliceGrid } from './landscape';
import { modelHessian } from './model-hessian';
import { createOptimizer } from './optimizers';
import { type EpochMetrics, parseRequest, type Request, type Response } from './protocol';
import { defaultRun, type ExperimentSettings } from './settings';

type Model = ReturnType<typeof createModel>;

interface Run {
  readonly model: Model;
  /** Owns its base optimizer (disposed with it). */
  readonly optimizer: SharpnessAwareOptimizer;
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
    for (const run of runs) {
      run.optimizer.dispose();
      run.model.dispose();
    }
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
        const train = dataset.train;
        const fisherLosses = (count: number, epoch: number) =>
          exampleLosses(train, count, s.seed + 1, epoch, flatten(), runs);
        runs = s.runs.map((run, i) => {
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
            fisherLosses: (count, epoch) => fisherLosses(count, epoch)(i),
          });
          return { model, optimizer };
        });
        const { xs, ys } = firstExamples(train, s.hessianExamples, { flatten: flatten() });
        hessianData = { xs, ys };
      });
      await trainLoop(s);
    } finally {
      training = false;
    }
  }

  async function trainLoop(s: ExperimentSettings) {
    const train = dataset!.train;
    post({ type: 'status', state: 'running' });
    const stepsPerEpoch = Math.ceil(train.count / s.batchSize);
    for (let epoch = 1; epoch <= s.epochs && !stopped; epoch++) {
      const started = runs.map(() => performance.now());
      const stepTimes = runs.map(() => 0);
      const gradients = runs.map(() => 0);
      let step = 0;
      let lastProgress = 0;
      for (const batch of batches(train, {
        batchSize: s.batchSize,
        seed: s.seed,
        epoch: epoch - 1,
        flatten: flatten(),
      })) {
        step++;
        try {
          for (let r = 0; r < runs.length; r++) {
            await waitWhilePaused();
            if (stopped) break;
            const run = runs[r]!;
            const stats = await exclusive(async () => {
              const t0 = performance.now();
              const result = await run.optimizer.step(
                () => trainingLoss(run.model, batch.xs, batch.ys),
                { epoch: epoch - 1 },
              );
              stepTimes[r]! += performance.now() - t0;
              return result;
            });
            gradients[r]! += stats.gradientEvaluations;
            if (performance.now() - lastProgress > 200 || r === runs.length - 1) {
              post({
                type: 'progress',
                run: r,
                epoch,
                step,
                stepsPerEpoch,
                loss: stats.loss,
                stepMs: stepTimes[r]! / step,
              });
              lastProgress = performance.now();
            }
            await yieldNow();
          }
        } finally {
          tf.dispose([batch.xs, batch.ys]);
        }
        if (stopped) break;
      }
      if (stopped) break;
      for (let r = 0; r < runs.length; r++) {
        const metrics = await exclusive(() =>
          epochMetrics(r, epoch, s, {
            seconds: (performance.now() - started[r]!) / 1000,
            stepMs: stepTimes[r]! / step,
            gradientEvaluations: gradients[r]!,
          }),
        );
        post({ type: 'epoch', run: r, metrics });
        await yieldNow();
        if (stopped) break;
      }
    }
    post({ type: 'status', state: stopped ? 'stopped' : 'done' });
  }

  async function epochMetrics(
    r: number,
    epoch: number,
    s: ExperimentSettings,
    timing: { seconds: number; stepMs: number; gradientEvaluations: number },
  ): Promise<EpochMetrics> {
    const model = runs[r]!.model;
    const trainEval = await evaluate(model, dataset!.train, flatten());
    const testEval = await evaluate(model, dataset!.test, flatten());
    const metrics: EpochMetrics = {
      epoch,
      trainLoss: trainEval.loss,
      trainAccuracy: trainEval.accuracy,
      testLoss: testEval.loss,
      testAccuracy: testEval.accuracy,
      learningRate: s.lr,
      ...timing,
    };
    if (s.measureEvery > 0 && epoch % s.measureEvery === 0) {
      const H = modelHessian(model, hessianData!);
      try {
        const seed = s.seed + epoch;
        return {
          ...metrics,
          hessian: {
            trace: await H.trace({ probes: s.probes, seed }),
            frobenius: await H.frobenius({ probes: s.probes, seed }),
            topEigenvalue: await H.topEigenvalue({ seed }),
          },
        };
      } finally {
        H.dispose();
      }
    }
    return metrics;
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
  return tf.tidy(
    () => tf.losses.softmaxCrossEntropy(ys, forward(model, xs, { training })) as tf.Scalar,
  );
}

/** Mean loss and accuracy over a whole set, in eval mode. */
async function evaluate(model: Model, set: ImageSet, flatten: boolean) {
  let loss = 0;
  let correct = 0;
  for (const batch of batches(set, { batchSize: 512, shuffle: false, flatten })) {
    const [sum, predicted] = tf.tidy(() => {
      const logits = forward(model, batch.xs, { training: false });
      return [
        tf.mul(tf.losses.softmaxCrossEntropy(batch.ys, logits), batch.size),
        tf.argMax(logits, 1),
      ];
    });
    loss += (await sum!.data())[0]!;
    const labels = await predicted!.data();
    for (let i = 0; i < batch.size; i++) if (labels[i] === batch.labels[i]) correct++;
    tf.dispose([sum!, predicted!, batch.xs, batch.ys]);
  }
  return { loss: loss / set.count, accuracy: correct / set.count };
}

/**
 * SSAM-F's per-example losses: the first `count` examples of a shuffled
 * epoch order (its own seed), one closure each, for run `r`'s model.
 */
function exampleLosses(
  train: ImageSet,
  count: number,
  seed: number,
  epoch: number,
  flatten: boolean,
  runs: readonly Run[],
) {
  return function* (r: number) {
    let taken = 0;
    for (const batch of batches(train, { batchSize: 1, seed, epoch, flatten })) {
      if (taken++ >= count) {
        tf.dispose([batch.xs, batch.ys]);
        return;
      }
      try {
        yield () => trainingLoss(runs[r]!.model, batch.xs, batch.ys);
      } finally {
        tf.dispose([batch.xs, batch.ys]);
      }
    }
  };
}
