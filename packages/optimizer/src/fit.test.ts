import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { gaussian } from '@usam/measures';
import { directoryHandler } from '@usam/models/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { asTfOptimizer, SharpnessAwareTfOptimizer } from './fit';
import { frobSam, sharpnessAware, traceSam } from './instances';
import { ascent, sam, ssamF } from './sam';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import { batchNormModel } from './test-helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

const setup = batchNormModel;

const xs = () => tf.randomNormal([16, 4], 0, 1, 'float32', 5);
const ys = () => tf.randomNormal([16, 3], 0, 1, 'float32', 6);

it('one model.fit epoch with Frob-SAM equals the same steps by hand, BatchNorm statistics included, bit for bit', async () => {
  const [x, y] = [xs(), ys()];
  const options = { base: tf.train.sgd(0.1), rho: 0.05, lambda: 0.1, samples: 2, seed: 3 };

  const fitted = setup();
  const optimizer = frobSam({ ...options, params: fitted.m });
  fitted.m.compile({
    optimizer: asTfOptimizer(optimizer),
    loss: 'meanSquaredError',
    metrics: ['mse'],
  });
  const history = await fitted.m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });

  // The same two batches through step, with tfjs-layers' mean squared error written out.
  const stepped = setup();
  const reference = frobSam({ ...options, base: tf.train.sgd(0.1), params: stepped.m });
  const losses: number[] = [];
  for (const start of [0, 8]) {
    const xb = tf.slice(x, start, 8);
    const yb = tf.slice(y, start, 8);
    const stats = await reference.step(() =>
      tf.tidy(() => {
        const out = stepped.m.apply(xb, { training: true }) as tf.Tensor;
        return tf.mean(tf.mean(tf.square(tf.sub(out, yb)), -1)) as tf.Scalar;
      }),
    );
    losses.push(stats.loss);
    tf.dispose([xb, yb]);
  }
  expect(fitted.weights()).toEqual(stepped.weights()); // moving mean and variance included
  expect(optimizer.counters).toEqual(reference.counters);
  expect(optimizer.counters.gradientEvaluations).toBe(2 * 3);
  // fit reports the mean of the clean batch losses, and the clean pass's metrics.
  expect(history.history.loss![0]).toBeCloseTo((losses[0]! + losses[1]!) / 2, 6);
  expect(history.history.mse![0]).toBeCloseTo((losses[0]! + losses[1]!) / 2, 6);
  tf.dispose([x, y]);
  fitted.m.dispose();
  stepped.m.dispose();
});

it('fit and fitDataset hold no tensors across epochs (the perturbed passes’ metrics are disposed)', async () => {
  const [x, y] = [xs(), ys()];
  const { m } = setup();
  m.compile({
    optimizer: asTfOptimizer(sam({ params: m, base: tf.train.sgd(0.05) })),
    loss: 'meanSquaredError',
    metrics: ['mse', 'mae'],
  });
  await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
  const before = tf.memory().numTensors;
  await m.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
  // The smallest Dataset fitDataset reads: an iterator of { xs, ys } batches (tfjs-data is not needed).
  const dataset = {
    iterator: async () => {
      let start = 0;
      return {
        next: async () => {
          if (start === 16) return { done: true, value: null };
          const value = { xs: tf.slice(x, start, 4), ys: tf.slice(y, start, 4) };
          start += 4;
          return { done: false, value };
        },
      };
    },
  };
  await m.fitDataset(dataset as never, { epochs: 2, verbose: 0 });
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, y]);
  m.dispose();
});

it('m-sharpness cannot go through fit, and applyGradients is refused with the reason', () => {
  const { m } = setup();
  expect(() => asTfOptimizer(sam({ params: m, base: tf.train.sgd(0.1), mSharpness: 2 }))).toThrow(
    /mSharpness = 2 needs a loss closure that can be split/,
  );
  expect(() => asTfOptimizer(sam({ params: m, base: tf.train.sgd(0.1) })).applyGradients()).toThrow(
    /needs the loss closure, not gradients; call minimize/,
  );
  m.dispose();
});

describe('model.save / tf.loadLayersModel with includeOptimizer', () => {
  // Two epochs, a checkpoint, then one more epoch twice: in the original and in the reloaded model.
  async function continued(
    build: (m: tfl.LayersModel) => SharpnessAwareOptimizer,
    save: (m: tfl.LayersModel) => Promise<tfl.LayersModel>,
  ) {
    const [x, y] = [xs(), ys()];
    const fitOptions = { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 as const };
    const original = setup();
    original.m.compile({ optimizer: asTfOptimizer(build(original.m)), loss: 'meanSquaredError' });
    await original.m.fit(x, y, fitOptions);
    const loaded = await save(original.m);
    const adapter = loaded.optimizer as SharpnessAwareTfOptimizer;
    const iterations = adapter.iterations;
    await original.m.fit(x, y, { ...fitOptions, epochs: 1 });
    await loaded.fit(x, y, { ...fitOptions, epochs: 1 });
    const weights = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
    const result = {
      adapter,
      iterations,
      original: weights(original.m),
      reloaded: weights(loaded),
      counters: [
        (original.m.optimizer as SharpnessAwareTfOptimizer).optimizer.counters,
        adapter.optimizer.counters,
      ],
    };
    tf.dispose([x, y]);
    original.m.dispose();
    loaded.dispose();
    return result;
  }

  it('Frob-SAM over Adam, through @usam/models/node directoryHandler: the reloaded model continues bit for bit, BatchNorm statistics included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usam-fit-'));
    try {
      const run = await continued(
        (m) => frobSam({ params: m, base: tf.train.adam(0.01), rho: 0.05, lambda: 0.5, seed: 4 }),
        async (m) => {
          await m.save(directoryHandler(dir), { includeOptimizer: true });
          return tfl.loadLayersModel(directoryHandler(dir));
        },
      );
      expect(run.adapter).toBeInstanceOf(SharpnessAwareTfOptimizer);
      expect(run.iterations).toBe(4); // 2 epochs × 2 batches
      expect(run.reloaded).toEqual(run.original); // every weight and running statistic, exactly
      expect(run.counters[1]).toEqual(run.counters[0]);
      expect(run.adapter.optimizer.base.getClassName()).toBe('Adam');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('SAM over momentum, through an in-memory IO handler (tf.io.withSaveHandler / fromMemory)', async () => {
    const run = await continued(
      (m) => sam({ params: m, base: tf.train.momentum(0.05, 0.9), rho: 0.1 }),
      async (m) => {
        let saved: tf.io.ModelArtifacts | undefined;
        await m.save(
          tf.io.withSaveHandler(async (artifacts) => {
            saved = artifacts;
            return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
          }),
          { includeOptimizer: true },
        );
        // JSON through text, as a file or localStorage would carry it.
        const { weightData, ...json } = saved!;
        return tfl.loadLayersModel(
          tf.io.fromMemory({ ...JSON.parse(JSON.stringify(json)), weightData }),
        );
      },
    );
    expect(run.reloaded).toEqual(run.original);
    expect(run.counters[1]).toEqual(run.counters[0]);
    expect(run.adapter.optimizer.name).toBe('sam');
  });

  it('setWeights into a compiled model’s own adapter continues bit for bit too, and repeated saves hold no tensors', async () => {
    const [x, y] = [xs(), ys()];
    const options = { base: tf.train.momentum(0.05, 0.9), rho: 0.05, samples: 2, seed: 9 };
    const a = setup();
    const adapterA = asTfOptimizer(traceSam({ ...options, params: a.m }));
    a.m.compile({ optimizer: adapterA, loss: 'meanSquaredError' });
    await a.m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const b = setup();
    b.m.setWeights(a.m.getWeights());
    const adapterB = asTfOptimizer(
      traceSam({ ...options, base: tf.train.momentum(0.05, 0.9), params: b.m }),
    );
    b.m.compile({ optimizer: adapterB, loss: 'meanSquaredError' });
    await adapterB.setWeights(await adapterA.getWeights());
    expect(adapterB.iterations).toBe(2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await adapterA.getWeights(); // the last export is kept, no more
    expect(tf.memory().numTensors).toBe(before);
    await a.m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    await b.m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect(b.weights()).toEqual(a.weights());
    await expect(adapterB.setWeights([{ name: 'iter', tensor: tf.scalar(1) }])).rejects.toThrow(
      /not weights saved by SharpnessAwareTfOptimizer.getWeights.*setState/,
    );
    tf.dispose([x, y]);
    a.m.dispose();
    b.m.dispose();
  });

  it('where tfjs cannot carry the optimizer (functions among its options), save fails with a message naming getState', async () => {
    const { m } = setup();
    const cases: [SharpnessAwareOptimizer, RegExp][] = [
      [
        frobSam({ params: m, base: tf.train.sgd(0.1), sampler: gaussian() }),
        /option sampler is .* which a tfjs training config cannot carry; save its state with optimizer.getState\(\)/,
      ],
      [
        ssamF({ params: m, base: tf.train.sgd(0.1), fisherLosses: () => [] }),
        /option fisherLosses is .*optimizer.getState\(\)/,
      ],
      [
        sharpnessAware(
          'mine',
          { params: m, base: tf.train.sgd(0.1) },
          ascent('mine', (_x, g) => g.map((t) => t.clone())),
        ),
        /built by sharpnessAware .*optimizer.getState\(\)/,
      ],
    ];
    for (const [optimizer, message] of cases) {
      m.compile({ optimizer: asTfOptimizer(optimizer), loss: 'meanSquaredError' });
      await expect(
        m.save(
          tf.io.withSaveHandler(async () => ({}) as tf.io.SaveResult),
          { includeOptimizer: true },
        ),
      ).rejects.toThrow(message);
    }
    m.dispose();
  });
});
