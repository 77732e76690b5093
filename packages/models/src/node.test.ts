import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createModel, modelRecipe } from './create-model';
import { ModelError } from './errors';
import { directoryHandler, loadModel, loadWeights, saveModel } from './node';
import { forward } from './state';

/** Lets a test make the rename of model.json fail, as if the process died just before it. */
const failRenameOf = vi.hoisted(() => ({ suffix: '' }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (failRenameOf.suffix !== '' && to.endsWith(failRenameOf.suffix)) {
        throw new Error('simulated crash');
      }
      return actual.rename(from, to);
    },
  };
});

let root: string;

beforeAll(async () => {
  await initBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'usam-models-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Every weight's name and bytes, in model.weights order. */
const snapshot = (m: tfl.LayersModel) =>
  m.weights.map((w) => ({
    name: w.originalName,
    bytes: Buffer.from(w.read().dataSync().buffer.slice(0)).toString('base64'),
  }));

/** A ResNet whose running statistics and weights are away from their initial values. */
function trainedResnet(seed: number) {
  const m = createModel('resnet18', { width: 0.0625, inputShape: [8, 8, 3], seed });
  const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', seed);
  const labels = tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10);
  const optimizer = tf.train.sgd(0.1);
  for (let i = 0; i < 2; i++) {
    optimizer
      .minimize(
        () => tf.losses.softmaxCrossEntropy(labels, forward(m, x, { training: true })),
        true,
      )!
      .dispose();
  }
  tf.dispose([x, labels]);
  optimizer.dispose();
  return m;
}

describe('save and load', () => {
  it('round-trips topology, all weights (BatchNorm statistics included) bit-exactly, and the recipe', async () => {
    const dir = join(root, 'resnet');
    const m = trainedResnet(1);
    const result = await saveModel(m, dir);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(
      m.weights.reduce((n, w) => n + 4 * w.read().size, 0),
    );
    expect(readdirSync(dir).sort()).toEqual([
      'model.json',
      expect.stringMatching(/^weights-[0-9a-f]{16}\.bin$/),
    ]);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const saved = json.weightsManifest[0].weights.map((w: { name: string }) => w.name);
    expect(saved).toContain('stem_bn/moving_mean');
    expect(saved).toContain('layer4_block2_bn2/moving_variance');
    expect(json.userDefinedMetadata).toEqual({ usam: modelRecipe(m) });

    const loaded = await loadModel(dir);
    expect(snapshot(loaded)).toEqual(snapshot(m));
    expect(modelRecipe(loaded)).toEqual(modelRecipe(m));
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 9);
    const [a, b] = [m, loaded].map((model) => forward(model, x, { training: false }));
    expect(Array.from(b!.dataSync())).toEqual(Array.from(a!.dataSync()));

    // Into a model rebuilt from the recipe: matched by name, variables keep their identity.
    const recipe = modelRecipe(loaded)!;
    const rebuilt = createModel(recipe.name, recipe.options);
    const variables = rebuilt.weights.map((w) => w.read());
    expect(snapshot(rebuilt)).not.toEqual(snapshot(m));
    const before = tf.memory().numTensors;
    await loadWeights(rebuilt, dir);
    expect(tf.memory().numTensors).toBe(before);
    expect(snapshot(rebuilt)).toEqual(snapshot(m));
    expect(rebuilt.weights.map((w) => w.read())).toEqual(variables);
    tf.dispose([x, a!, b!]);
    for (const model of [m, loaded, rebuilt]) model.dispose();
  });

  it("round-trips a user's own Sequential model, also into another instance by order", async () => {
    const build = () =>
      tfl.sequential({
        layers: [
          tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3 }),
          tfl.layers.batchNormalization(),
          tfl.layers.flatten(),
          tfl.layers.dense({ units: 4 }),
        ],
      });
    const m = build();
    forward(m, tf.randomNormal([3, 6, 6, 2]), { training: true }).dispose();
    const dir = join(root, 'own');
    await m.save(directoryHandler(dir));
    const loaded = await tfl.loadLayersModel(directoryHandler(dir));
    expect(loaded.getClassName()).toBe('Sequential');
    expect(snapshot(loaded)).toEqual(snapshot(m));
    const other = build(); // generated layer names differ from m's
    expect(other.weights[0]!.originalName).not.toBe(m.weights[0]!.originalName);
    await loadWeights(other, dir);
    expect(snapshot(other).map((w) => w.bytes)).toEqual(snapshot(m).map((w) => w.bytes));
    for (const model of [m, loaded, other]) model.dispose();
  });

  it('a new save replaces the old checkpoint and its weights file', async () => {
    const dir = join(root, 'replace');
    const m = createModel('mlp', { inputShape: [4], numClasses: 3 });
    await saveModel(m, dir);
    const first = readdirSync(dir);
    m.getLayer('logits').setWeights(
      m
        .getLayer('logits')
        .getWeights()
        .map((w) => tf.neg(w)),
    );
    await saveModel(m, dir);
    const second = readdirSync(dir);
    expect(second).toHaveLength(2);
    expect(second).not.toEqual(first);
    const loaded = await loadModel(dir);
    expect(snapshot(loaded)).toEqual(snapshot(m));
    m.dispose();
    loaded.dispose();
  });

  it('an interrupted save leaves the previous checkpoint intact', async () => {
    const dir = join(root, 'interrupted');
    const m = createModel('cnn', { inputShape: [10, 10, 1], width: 0.25, seed: 1 });
    await saveModel(m, dir);
    const good = snapshot(m);
    const changed = createModel('cnn', { inputShape: [10, 10, 1], width: 0.25, seed: 2 });
    for (const suffix of ['model.json', '.bin']) {
      failRenameOf.suffix = suffix;
      await expect(saveModel(changed, dir)).rejects.toThrow('simulated crash');
      failRenameOf.suffix = '';
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      const loaded = await loadModel(dir);
      expect(snapshot(loaded)).toEqual(good);
      loaded.dispose();
    }
    await saveModel(changed, dir); // and the next save cleans up
    expect(readdirSync(dir)).toHaveLength(2);
    m.dispose();
    changed.dispose();
  });

  it('bad checkpoints give a one-line ModelError', async () => {
    const missing = join(root, 'nothing-here');
    await expect(loadModel(missing)).rejects.toThrow(ModelError);
    await expect(loadModel(missing)).rejects.toThrow(/no checkpoint at .*model.json is missing/);

    const dir = join(root, 'corrupt');
    const m = createModel('mlp', { inputShape: [4], numClasses: 3 });
    await saveModel(m, dir);
    const bin = readdirSync(dir).find((f) => f.endsWith('.bin'))!;
    const bytes = readFileSync(join(dir, bin));
    bytes[10] = bytes[10]! ^ 1;
    writeFileSync(join(dir, bin), bytes);
    await expect(loadModel(dir)).rejects.toThrow(/does not match its checksum/);
    rmSync(join(dir, bin));
    await expect(loadModel(dir)).rejects.toThrow(/weights file .* is missing/);
    writeFileSync(join(dir, 'model.json'), '{');
    await expect(loadModel(dir)).rejects.toThrow(/not valid JSON/);

    const other = join(root, 'other');
    await saveModel(m, other);
    const wider = createModel('mlp', { inputShape: [5], numClasses: 3 });
    await expect(loadWeights(wider, other)).rejects.toThrow(
      /does not fit the model \(weight 'dense1\/kernel' has shape \[5,128\], the checkpoint's \[4,128\]\)/,
    );
    const cnn = createModel('cnn', { inputShape: [10, 10, 1] });
    await expect(loadWeights(cnn, other)).rejects.toThrow(
      /the model has 8 weights, the checkpoint 12/,
    );
    for (const model of [m, wider, cnn]) model.dispose();
    expect(existsSync(join(other, 'model.json'))).toBe(true);
  });

  it('is only in the node entry: the main entry imports no Node built-in', async () => {
    const index = await fsp.readFile(new URL('./index.ts', import.meta.url), 'utf8');
    expect(index).not.toMatch(/from '\.\/node'|node:/);
  });
});
