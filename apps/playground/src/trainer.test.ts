import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { epochMetricsSchema, toJson } from '@usam/cli/run-files';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRequest, parseSettings, type Response } from './protocol';
import { DEFAULT_EXPERIMENT, defaultRun, type ExperimentSettings } from './settings';
import { createTrainer } from './trainer';

beforeAll(async () => {
  await initBackend('wasm');
});

const SETTINGS: ExperimentSettings = {
  ...DEFAULT_EXPERIMENT,
  backend: 'wasm',
  // Off the initial plateau within two epochs (the default 0.02 needs about four).
  lr: 0.05,
  epochs: 2,
  measureEvery: 2,
  hessianExamples: 64,
  probes: 2,
  runs: [defaultRun('sgd'), defaultRun('frob-sam')],
};

/** A trainer whose responses are structured-cloned, as postMessage does. */
function harness() {
  const responses: Response[] = [];
  const waiters: { test: (r: Response) => boolean; resolve: (r: Response) => void }[] = [];
  const trainer = createTrainer(
    (response) => {
      const copy = structuredClone(response);
      responses.push(copy);
      for (const w of waiters.filter((w) => w.test(copy))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(copy);
      }
    },
    {
      initBackend: async (name) => (await initBackend(name as 'wasm')).name === name,
      autoBackends: ['wasm'],
    },
  );
  const next = (test: (r: Response) => boolean) =>
    new Promise<Response>((resolve) => waiters.push({ test, resolve }));
  const send = (message: unknown) => trainer.handle(structuredClone(message));
  return { responses, send, next };
}

describe('parseRequest', () => {
  it('accepts every request the page sends, unchanged', () => {
    const requests = [
      { type: 'start', settings: SETTINGS },
      { type: 'pause' },
      { type: 'resume' },
      { type: 'stop' },
      { type: 'landscape', run: 1, dimensions: 2, points: 11, span: 1, examples: 256, seed: 3 },
      { type: 'density', run: 0, steps: 30, probes: 2, examples: 128, seed: 1 },
    ];
    for (const request of requests) expect(parseRequest(structuredClone(request))).toEqual(request);
  });

  it.each([
    [null, 'A worker message must be an object, got null.'],
    [
      { type: 'go' },
      "message type must be one of start, pause, resume, stop, landscape, density, got 'go'.",
    ],
    [{ type: 'stop', now: true }, "stop: unknown field 'now'; valid fields: type."],
    [
      { type: 'start', settings: { ...SETTINGS, runs: [] } },
      'settings.runs must be an array of 1 to 4 runs, got 0 runs.',
    ],
    [
      { type: 'start', settings: { ...SETTINGS, lr: '0.1' } },
      "settings.lr must be a number ≥ 0, got '0.1'.",
    ],
    [
      { type: 'start', settings: { ...SETTINGS, epochs: 1.5 } },
      'settings.epochs must be an integer ≥ 1 and ≤ 1000, got 1.5.',
    ],
    [
      { type: 'start', settings: { ...SETTINGS, dataset: 'cifar10' } },
      "settings.dataset must be one of mnist-s, mnist, mnist-c, mnist-s-c, got 'cifar10'.",
    ],
    [
      {
        type: 'start',
        settings: { ...SETTINGS, runs: [{ ...defaultRun('frob-sam'), samples: 1 }] },
      },
      'settings.runs[0].samples must be an integer ≥ 2 and ≤ 1024 (a covariance needs two samples) for frob-sam, got 1.',
    ],
    [
      { type: 'start', settings: { ...SETTINGS, runs: [{ ...defaultRun('det-sam'), rho: 0 }] } },
      'settings.runs[0].rho must be a number > 0 (its measure divides by ρ²) for det-sam, got 0.',
    ],
    [
      {
        type: 'start',
        settings: { ...SETTINGS, runs: [{ ...defaultRun('sam'), optimizer: 'adam' }] },
      },
      "settings.runs[0].optimizer must be one of sgd, sam, asam, ssam, frob-sam, trace-sam, det-sam, got 'adam'.",
    ],
    [
      { type: 'landscape', run: 0, dimensions: 3, points: 11, span: 1, examples: 1, seed: 0 },
      'landscape.dimensions must be 1 or 2, got 3.',
    ],
    [
      { type: 'density', run: 0, steps: 30, probes: Number.NaN, examples: 1, seed: 0 },
      'density.probes must be an integer ≥ 1 and ≤ 100, got NaN.',
    ],
  ])('rejects %j: %s', (message, reason) => {
    expect(() => parseRequest(message)).toThrow(reason);
  });
});

describe('the default experiment', () => {
  it(
    'trains every run for its full length with finite losses and Hessians',
    { timeout: 600_000 },
    async () => {
      const { responses, send } = harness();
      await send({ type: 'start', settings: { ...DEFAULT_EXPERIMENT, backend: 'wasm' } });
      expect(responses.filter((r) => r.type === 'halted')).toEqual([]);
      expect(responses.at(-1)).toEqual({ type: 'status', state: 'done' });
      const runs = DEFAULT_EXPERIMENT.runs.map((_, run) =>
        responses.flatMap((r) => (r.type === 'epoch' && r.run === run ? [r.metrics] : [])),
      );
      for (const epochs of runs) {
        expect(epochs.map((m) => m.epoch)).toEqual(
          Array.from({ length: DEFAULT_EXPERIMENT.epochs }, (_, i) => i + 1),
        );
        for (const m of epochs) {
          expect(
            [m.trainLoss, m.testLoss, m.trainAccuracy, m.testAccuracy].every(Number.isFinite),
          ).toBe(true);
          for (const q of Object.values(m.hessian ?? {}))
            expect(Number.isFinite(q.estimate)).toBe(true);
        }
        // Off the plateau: the last epoch well above chance (10%).
        expect(epochs.at(-1)!.testAccuracy).toBeGreaterThan(0.6);
      }
      const steps = responses.flatMap((r) => (r.type === 'progress' ? r.losses : []));
      expect(steps).toHaveLength(DEFAULT_EXPERIMENT.runs.length * DEFAULT_EXPERIMENT.epochs * 27);
      expect(steps.every(Number.isFinite)).toBe(true);
    },
  );
});

describe('the trainer over the protocol', () => {
  it('trains SGD and Frob-SAM from the same weights, posts epochs and Hessians, and the loss falls', async () => {
    const { responses, send } = harness();
    await send({ type: 'start', settings: SETTINGS });
    const types = responses.map((r) => r.type);
    expect(types.slice(0, 4)).toEqual(['status', 'backend', 'dataset', 'status']);
    expect(responses.at(-1)).toEqual({ type: 'status', state: 'done' });
    expect(responses.find((r) => r.type === 'backend')).toMatchObject({ name: 'wasm' });

    // Same initial weights and the same first batch: the same clean loss at step 1.
    // Every step of every run reaches the page (each run's progress has its own clock).
    const losses = [0, 1].map((run) =>
      responses.flatMap((r) => (r.type === 'progress' && r.run === run ? r.losses : [])),
    );
    expect(losses.map((l) => l.length)).toEqual([54, 54]); // 2 epochs × ⌈857/32⌉ steps
    expect(losses[0]![0]).toBe(losses[1]![0]);

    const epochs = responses.flatMap((r) => (r.type === 'epoch' ? [r] : []));
    expect(epochs.map((e) => [e.run, e.metrics.epoch])).toEqual([
      [0, 1],
      [1, 1],
      [0, 2],
      [1, 2],
    ]);
    // Each epoch is a metrics.jsonl line by usam train's own schema (no field more or less).
    const validate = new Ajv({ strict: false }).compile(epochMetricsSchema);
    for (const e of epochs) {
      expect(validate(JSON.parse(toJson(e.metrics))), JSON.stringify(validate.errors)).toBe(true);
    }
    for (const run of [0, 1]) {
      const [e1, e2] = epochs.filter((e) => e.run === run).map((e) => e.metrics);
      // From ln 10 ≈ 2.30 at initialisation, falling (train loss: the epoch's running mean).
      expect(e2!.trainLoss).toBeLessThan(2.25);
      expect(e2!.trainLoss).toBeLessThan(e1!.trainLoss);
      expect(e2!.testAccuracy).toBeGreaterThan(0.2); // twice chance
      expect(e1!.hessian).toBeUndefined();
      const h = e2!.hessian!;
      for (const q of [h.trace!, h.frobenius!, h.topEigenvalue!]) {
        expect(Number.isFinite(q.estimate)).toBe(true);
        expect(q.standardError).toBeGreaterThanOrEqual(0);
      }
      // ‖H‖_F² ≥ λ_max² for any symmetric H, up to the estimates' errors.
      expect(h.frobenius!.estimate + 3 * h.frobenius!.standardError).toBeGreaterThan(
        (h.topEigenvalue!.estimate - h.topEigenvalue!.standardError) ** 2,
      );
    }
    // SGD takes 1 gradient a step, Frob-SAM (n = 2) 3: ⌈857/32⌉ = 27 steps of MNIST-S.
    expect(epochs[0]!.metrics.gradientEvaluations).toBe(27);
    expect(epochs[1]!.metrics.gradientEvaluations).toBe(81);

    // Landscapes of the trained weights: the 1-D slice is the 2-D slice's β = 0 row
    // (the same first direction), and nothing leaks.
    const tensors = tf.memory().numTensors;
    await send({
      type: 'landscape',
      run: 1,
      dimensions: 1,
      points: 5,
      span: 1,
      examples: 64,
      seed: 4,
    });
    await send({
      type: 'landscape',
      run: 1,
      dimensions: 2,
      points: 5,
      span: 1,
      examples: 64,
      seed: 4,
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const [line, plane] = responses.flatMap((r) => (r.type === 'landscape' ? [r] : []));
    expect(line!.grid).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(plane!.values).toHaveLength(25);
    // Same float32 ops in the same order: equal to rounding of the weight update only.
    line!.values.forEach((v, i) => {
      expect(plane!.values[2 * 5 + i]).toBeCloseTo(v, 5);
    });

    await send({ type: 'density', run: 0, steps: 10, probes: 1, examples: 64, seed: 1 });
    const d = responses.at(-1)!;
    expect(d.type).toBe('density');
    if (d.type === 'density') {
      expect(d.grid.length).toBe(d.density.length);
      expect(d.density.every((v) => v >= 0)).toBe(true);
    }
  });

  it('trains the small CNN with SSAM-F (conv gradients on wasm, per-example Fisher losses)', async () => {
    const { responses, send } = harness();
    const settings = {
      ...SETTINGS,
      model: 'cnn',
      epochs: 1,
      measureEvery: 0,
      runs: [defaultRun('ssam')],
    };
    const tensors = tf.memory().numTensors;
    await send({ type: 'start', settings });
    expect(responses.at(-1)).toEqual({ type: 'status', state: 'done' });
    const steps = responses.flatMap((r) => (r.type === 'progress' ? r.losses : []));
    const [epoch] = responses.flatMap((r) => (r.type === 'epoch' ? [r.metrics] : []));
    // SSAM-F: 2 gradients a step over ⌈857/32⌉ = 27 steps (its Fisher mask's are counted
    // apart); the loss leaves ln 10 ≈ 2.30.
    expect(epoch!.gradientEvaluations).toBe(54);
    expect(epoch!.trainLoss).toBeLessThan(steps[0]!);
    // What stays is the model's weights, the optimizer's slots and mask and the Hessian
    // subset, nothing per step: a second start (which disposes the first) holds as many.
    const held = tf.memory().numTensors - tensors;
    await send({ type: 'start', settings });
    expect(tf.memory().numTensors - tensors).toBe(held);
  });

  it('splits each minibatch into m parts with m-sharpness (usam train --m-sharpness)', async () => {
    const { responses, send } = harness();
    const settings = { ...SETTINGS, epochs: 1, measureEvery: 0, mSharpness: 4 };
    await send({ type: 'start', settings: { ...settings, runs: [defaultRun('sam')] } });
    expect(responses.at(-1)).toEqual({ type: 'status', state: 'done' });
    const [epoch] = responses.flatMap((r) => (r.type === 'epoch' ? [r.metrics] : []));
    // SAM: 2 gradients per part, 4 parts, ⌈857/32⌉ = 27 steps.
    expect(epoch!.gradientEvaluations).toBe(27 * 2 * 4);
    // Accuracy is counted over every part's clean pass: near the unsplit run's (counting
    // only the first part's would give about a quarter of it).
    await send({
      type: 'start',
      settings: { ...settings, mSharpness: 1, runs: [defaultRun('sam')] },
    });
    const [unsplit] = responses.flatMap((r) => (r.type === 'epoch' ? [r.metrics] : [])).slice(1);
    expect(epoch!.trainAccuracy).toBeGreaterThan(0.7 * unsplit!.trainAccuracy);
    expect(() => parseSettings({ ...settings, batchSize: 2 })).toThrow(
      'settings.mSharpness must be an integer ≥ 1 and ≤ 2, got 4.',
    );
  });

  it('halts a diverging run at its step and trains the others to the end', async () => {
    const { responses, send } = harness();
    // λ = 1e4: Frob-SAM's regulariser outweighs the loss by orders; its loss leaves float32.
    const settings = {
      ...SETTINGS,
      epochs: 3,
      measureEvery: 3,
      runs: [defaultRun('sgd'), { ...defaultRun('frob-sam'), lambda: 1e4 }],
    };
    const tensors = tf.memory().numTensors;
    await send({ type: 'start', settings });
    const halts = responses.flatMap((r) => (r.type === 'halted' ? [r] : []));
    expect(halts).toHaveLength(1);
    const halt = halts[0]!;
    expect(halt).toMatchObject({ run: 1, reason: 'diverged' });
    expect(halt.message).toMatch(
      new RegExp(`^diverged at epoch ${halt.epoch}, step ${halt.step} \\(loss (NaN|-?Infinity);`),
    );
    // Its losses stop at the last finite one; SGD's cover all 3 × 27 steps.
    const losses = [0, 1].map((run) =>
      responses.flatMap((r) => (r.type === 'progress' && r.run === run ? r.losses : [])),
    );
    expect(losses[0]).toHaveLength(81);
    expect(losses[1]).toHaveLength((halt.epoch - 1) * 27 + halt.step - 1);
    expect([...losses[0]!, ...losses[1]!].every(Number.isFinite)).toBe(true);
    const epochs = responses.flatMap((r) => (r.type === 'epoch' ? [r] : []));
    expect(epochs.filter((e) => e.run === 0).map((e) => e.metrics.epoch)).toEqual([1, 2, 3]);
    expect(epochs.filter((e) => e.run === 1).every((e) => e.metrics.epoch < halt.epoch)).toBe(true);
    expect(responses.at(-1)).toMatchObject({ type: 'status', state: 'done' });

    // The diverged run's weights are the last finite ones: its slice is finite near them.
    await send({
      type: 'landscape',
      run: 1,
      dimensions: 1,
      points: 3,
      span: 0.01,
      examples: 32,
      seed: 1,
    });
    const slice = responses.at(-1)!;
    expect(slice.type).toBe('landscape');
    if (slice.type === 'landscape') expect(Number.isFinite(slice.values[1])).toBe(true);
    // Another start after a divergence works, and nothing was left behind.
    await send({ type: 'start', settings: { ...settings, epochs: 1, runs: [defaultRun('sgd')] } });
    expect(responses.at(-1)).toMatchObject({ type: 'status', state: 'done' });
    const held = tf.memory().numTensors - tensors;
    await send({ type: 'start', settings: { ...settings, epochs: 1, runs: [defaultRun('sgd')] } });
    expect(tf.memory().numTensors - tensors).toBe(held);
  });

  it('pauses, resumes and stops between steps', async () => {
    const { responses, send, next } = harness();
    const done = send({ type: 'start', settings: { ...SETTINGS, epochs: 50, measureEvery: 0 } });
    await next((r) => r.type === 'progress');
    const paused = next((r) => r.type === 'status' && r.state === 'paused');
    await send({ type: 'pause' });
    await paused;
    const count = responses.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    // At most the step in flight when the pause arrived reports after it.
    expect(responses.slice(count).filter((r) => r.type === 'progress').length).toBeLessThanOrEqual(
      1,
    );
    const settled = responses.length;
    const progressed = next((r) => r.type === 'progress');
    await send({ type: 'resume' });
    await progressed;
    expect(responses.slice(settled).some((r) => r.type === 'status' && r.state === 'running')).toBe(
      true,
    );
    await send({ type: 'stop' });
    await done;
    expect(responses.at(-1)).toEqual({ type: 'status', state: 'stopped' });
    expect(responses.some((r) => r.type === 'epoch' && r.metrics.epoch > 3)).toBe(false);
  });

  it('answers what it cannot do with one-line errors', async () => {
    const { responses, send } = harness();
    await send({
      type: 'landscape',
      run: 0,
      dimensions: 1,
      points: 5,
      span: 1,
      examples: 8,
      seed: 0,
    });
    await send({ type: 'start', settings: { ...SETTINGS, momentum: -1 } });
    expect(responses).toEqual([
      { type: 'error', message: 'No run has weights yet; start a training first.' },
      { type: 'error', message: 'settings.momentum must be a number ≥ 0 and ≤ 0.999, got -1.' },
    ]);
  });
});
