/** Helpers shared by the kernel tests (not part of the package). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { bundleForNode } from '../tfjs-core-registrations';
import { type BackendName, initBackend } from './node';

/** Deterministic values in [-1, 1), so both backends get identical inputs. */
export function values(shape: number[], seed: number): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed * 2654435761;
  for (let i = 0; i < out.length; i++) {
    state = (Math.imul(state ^ (state >>> 15), 2246822519) + 0x9e3779b9) | 0;
    out[i] = ((state >>> 8) / 2 ** 24) * 2 - 1;
  }
  return out;
}

/** max |a − b| over max |b|: relative to the gradient's scale, not per entry (entries near 0). */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  expect(scale).toBeGreaterThan(0);
  return worst / scale;
}

/** Runs `body` on `backend`, returning plain arrays; checks nothing leaks there. */
export async function on<T>(backend: string, body: () => T): Promise<T> {
  // initBackend registers a backend the first time (nothing imports cpu as a side effect).
  if (tf.findBackendFactory(backend) == null) await initBackend(backend as BackendName);
  await tf.setBackend(backend);
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  const result = body();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.engine().backend.numDataIds()).toBe(buffers);
  return result;
}

/**
 * The Node entry bundled as the build bundles it, for tests that start a fresh
 * `node`: src/node-registrations.ts imports tfjs-core ESM files that Node
 * cannot load unbundled. Our imports of packages stay external; written under this package's
 * node_modules so that they resolve.
 */
export async function bundledNodeEntry(): Promise<string> {
  const dir = fileURLToPath(new URL('../node_modules/.usam-test/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `node-${process.pid}.mjs`);
  await bundleForNode(fileURLToPath(new URL('./node.ts', import.meta.url)), outfile);
  return outfile;
}
