/**
 * Bad input, as a new user writes it from plain JavaScript or TypeScript:
 * every row must fail with a one-line `ModelError` whose message contains the
 * fragment (the argument, what it got, what is accepted). Add a row with
 * every new public function.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, forward, ModelError, snapshotState, trainableVariables } from './index';
import { loadModel, loadWeights, saveModel } from './node';

beforeAll(async () => {
  await initBackend('cpu');
});

// biome-ignore lint/suspicious/noExplicitAny: calls as plain JavaScript makes them.
type Loose = any;

const dir = () => join(mkdtempSync(join(tmpdir(), 'usam-models-bad-')), 'ckpt');
const mlp = () => createModel('mlp', { inputShape: [4], numClasses: 2, width: 0.05 });

const cases: [string, () => unknown, string][] = [
  [
    'saveModel(null)',
    () => saveModel(null as Loose, dir()),
    'saveModel: model must be a tfjs-layers model (with save()), got null',
  ],
  [
    'saveModel(model) without dir',
    () => (saveModel as Loose)(mlp()),
    'saveModel: dir must be a directory path (a non-empty string), got undefined',
  ],
  [
    'loadModel(42)',
    () => loadModel(42 as Loose),
    'loadModel: dir must be a directory path (a non-empty string), got 42',
  ],
  [
    'loadWeights(null, dir)',
    () => loadWeights(null as Loose, dir()),
    'loadWeights: model must be a tfjs-layers model',
  ],
  [
    "createModel('vgg')",
    () => createModel('vgg' as Loose),
    "createModel: unknown model 'vgg'; valid names are 'mlp'",
  ],
  [
    "createModel('mlp', 'wide')",
    () => createModel('mlp', 'wide' as Loose),
    "options must be an object such as { inputShape, numClasses, width, seed }, got 'wide'",
  ],
  [
    'trainableVariables(undefined)',
    () => trainableVariables(undefined as Loose),
    'trainableVariables',
  ],
  [
    'snapshotState(null)',
    () => snapshotState(null as Loose),
    'expected a tfjs-layers model (with nonTrainableWeights), got null',
  ],
  [
    'createModel width NaN',
    () => createModel('mlp', { width: Number.NaN }),
    'width must be a finite number > 0, got NaN',
  ],
  [
    "createModel numClasses '10'",
    () => createModel('mlp', { numClasses: '10' as Loose }),
    "numClasses must be an integer ≥ 2, got '10'",
  ],
  [
    'forward without options',
    () => (forward as Loose)(mlp(), tf.ones([1, 4])),
    'forward: options.training must be true or false',
  ],
];

describe('bad input to @usam/models', () => {
  it.each(cases)('%s', async (_, call, fragment) => {
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ModelError);
    expect((error as Error).message).toContain(fragment);
    expect((error as Error).message).not.toContain('\n');
  });
});
