import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from './losses';

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

const logits = [
  [2, -1, 0.5],
  [0, 30, -30],
];
const labels = [
  [1, 0, 0],
  [0, 0.25, 0.75],
];

/** −Σ y log softmax(z) per row, in float64. */
const exact = logits.map((z, r) => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
  return z.reduce((s, x, k) => s + labels[r]![k]! * (lse - x), 0);
});

/** The loss and its logits' gradient (dy = 1) on `backend`, with the kernels that ran. */
async function run(backend: string, reduction?: 'mean' | 'sum' | 'none') {
  await tf.setBackend(backend);
  const y = tf.tensor2d(labels);
  const z = tf.variable(tf.tensor2d(logits));
  const { result, kernels } = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(softmaxCrossEntropy(y, z, reduction && { reduction })) as tf.Scalar,
      [z],
    );
    const out = { value: value.dataSync()[0]!, grad: [...grads[z.name]!.dataSync()] };
    tf.dispose([value, grads]);
    return out;
  });
  tf.dispose([y, z]);
  return {
    ...(result as unknown as { value: number; grad: number[] }),
    kernels: kernels.map((k) => k.name),
  };
}

describe('softmaxCrossEntropy', () => {
  // Float32 inputs and steps of size ≤ 60 (the logits' spread): ~60·2⁻²⁴ ≈ 4e-6; 1e-5 leaves margin.
  const TOLERANCE = 1e-5;

  for (const reduction of ['mean', 'sum', 'none'] as const) {
    it(`${reduction}: the value −Σ y log softmax(z) and one gradient on cpu (tfjs's op) and wasm (one kernel each way)`, async () => {
      const want = exact.reduce((a, b) => a + b, 0) / (reduction === 'mean' ? 2 : 1);
      const cpu = await run('cpu', reduction);
      const wasm = await run('wasm', reduction);
      for (const { value } of [cpu, wasm])
        expect(Math.abs(value - want)).toBeLessThan(TOLERANCE * want);
      for (const [i, g] of wasm.grad.entries()) {
        expect(Math.abs(g - cpu.grad[i]!)).toBeLessThan(TOLERANCE);
      }
      expect(wasm.kernels).toContain('UsamSoftmaxCrossEntropy');
      expect(wasm.kernels).toContain('UsamSoftmaxCrossEntropyGrad');
      expect(wasm.kernels).not.toContain('Exp');
      expect(cpu.kernels).not.toContain('UsamSoftmaxCrossEntropy');
    });
  }

  it('defaults to the mean, as tf.losses.softmaxCrossEntropy', async () => {
    const { value } = await run('wasm');
    expect(Math.abs(value - (exact[0]! + exact[1]!) / 2)).toBeLessThan(1e-5 * value);
  });

  it('refuses bad arguments in one line naming them', async () => {
    await tf.setBackend('cpu');
    const z = tf.zeros([2, 3]);
    expect(() => softmaxCrossEntropy(tf.zeros([2, 4]), z)).toThrow(
      /^softmaxCrossEntropy: labels \[2,4\] and logits \[2,3\] must have the same shape/,
    );
    expect(() => softmaxCrossEntropy(z, tf.zeros([6]))).toThrow(
      /^softmaxCrossEntropy: logits must be a \[examples, classes\] tensor, got a float32 tensor of shape \[6\]/,
    );
    expect(() => softmaxCrossEntropy([[1]] as unknown as tf.Tensor, z)).toThrow(
      /^softmaxCrossEntropy: labels must be a \[examples, classes\] tensor, got/,
    );
    expect(() => softmaxCrossEntropy(z, z, { reduction: 'avg' as 'mean' })).toThrow(
      /^softmaxCrossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'/,
    );
    expect(() => softmaxCrossEntropy(z, z, { reductoin: 'sum' } as never)).toThrow(
      /unknown option 'reductoin'; valid options are reduction/,
    );
    tf.dispose(z);
  });
});
