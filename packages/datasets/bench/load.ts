/**
 * Benchmark (not a test): load times, memory held and batch throughput of the
 * datasets, on files in the official formats. CIFAR-10 and SVHN are written at
 * full size (random pixels, same bytes per example as the real files) to a temp
 * directory by the test writers; the embedded MNIST is the real one. Load times
 * are the first and the fastest of 3; batches are timed over one epoch at batch 128
 * (CIFAR-10 with its augmentation, crop + flip, and normalisation).
 *
 *     pnpm --filter @usam/datasets bench     → bench-results/load.json
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { batches, type Dataset } from '../src/index';
import { loadDataset } from '../src/node';
import { cifarFile, randomExamples, svhnFile } from '../src/test-formats';

await initBackend('wasm');

const fastestOf = async (runs: number, f: () => Promise<Dataset>) => {
  const times: number[] = [];
  let last: Dataset | undefined;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    last = await f();
    times.push(performance.now() - start);
  }
  // The first load also parses modules (the embedded MNIST's JSON) and warms the JIT.
  return { firstMs: Math.round(times[0]!), ms: Math.round(Math.min(...times)), dataset: last! };
};

/** Bytes of image data a dataset holds (uint8 NHWC, train + test). */
const heldMb = (ds: Dataset) => (ds.train.images.byteLength + ds.test.images.byteLength) / 1e6;

function epochMs(ds: Dataset, augment: boolean) {
  const start = performance.now();
  let count = 0;
  for (const { xs, ys, size } of batches(ds.train, { batchSize: 128, seed: 1, augment })) {
    count += size;
    tf.dispose([xs, ys]);
  }
  const ms = performance.now() - start;
  return {
    examples: count,
    ms: Math.round(ms),
    msPerBatch: Number(((ms / count) * 128).toFixed(2)),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'usam-datasets-bench-'));
const results: Record<string, unknown> = {};
try {
  const mnist = await fastestOf(3, () => loadDataset('mnist'));
  results.mnist = {
    firstLoadMs: mnist.firstMs,
    loadMs: mnist.ms,
    heldMb: heldMb(mnist.dataset),
    epoch: epochMs(mnist.dataset, false),
  };
  console.error('mnist', JSON.stringify(results.mnist));

  const cifarDir = join(dir, 'cifar-10-batches-bin');
  mkdirSync(cifarDir);
  for (const [name, count, seed] of [
    ...[1, 2, 3, 4, 5].map((k) => [`data_batch_${k}.bin`, 10_000, k] as const),
    ['test_batch.bin', 10_000, 6] as const,
  ]) {
    const { images, labels } = randomExamples(count, [32, 32, 3], 10, seed);
    writeFileSync(join(cifarDir, name), cifarFile(images, labels));
  }
  const cifar = await fastestOf(3, () =>
    loadDataset('cifar10', { dataDir: dir, checksums: false }),
  );
  results.cifar10 = {
    firstLoadMs: cifar.firstMs,
    loadMs: cifar.ms,
    heldMb: heldMb(cifar.dataset),
    epochAugmented: epochMs(cifar.dataset, true),
    epochPlain: epochMs(cifar.dataset, false),
  };
  console.error('cifar10', JSON.stringify(results.cifar10));

  const svhnDir = join(dir, 'svhn');
  mkdirSync(svhnDir);
  for (const [name, count, seed] of [
    ['train_32x32.mat', 73_257, 7],
    ['test_32x32.mat', 26_032, 8],
  ] as const) {
    const { images, labels } = randomExamples(count, [32, 32, 3], 10, seed);
    writeFileSync(join(svhnDir, name), svhnFile(images, labels));
  }
  const svhn = await fastestOf(3, () =>
    loadDataset('svhn', { dataDir: svhnDir, checksums: false }),
  );
  results.svhn = { firstLoadMs: svhn.firstMs, loadMs: svhn.ms, heldMb: heldMb(svhn.dataset) };
  console.error('svhn', JSON.stringify(results.svhn));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const report = {
  benchmark: 'datasets: load, memory held (image bytes), one epoch of batches at 128 on wasm',
  date: new Date().toISOString(),
  node: process.version,
  results,
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'load.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
