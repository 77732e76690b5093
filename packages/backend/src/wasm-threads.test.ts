import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, initBackend } from './node';
import { bundledNodeEntry } from './test-helpers';

let NODE_ENTRY: string;
beforeAll(async () => {
  NODE_ENTRY = await bundledNodeEntry();
});
afterAll(() => rmSync(NODE_ENTRY, { force: true }));

/**
 * In a fresh process (threads are fixed when wasm starts): the thread count
 * wasm got, and the gradients of a small conv net and an MLP layer (conv,
 * transposed matmuls, pooling, reductions), as exact float32 bit patterns.
 */
function run(env: Record<string, string>, options = '{}'): { threads: number; bits: number[] } {
  // CommonJS with dynamic imports: the pthread workers inherit node's flags,
  // and --input-type would stop them.
  const script = `(async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const { initBackend } = await import(${JSON.stringify(NODE_ENTRY)});
    await initBackend('wasm', ${options});
    const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
    const x = tf.randomUniform([8, 12, 12, 3], -1, 1, 'float32', 1);
    const w = tf.randomUniform([3, 3, 3, 16], -1, 1, 'float32', 2);
    const d = tf.randomUniform([576, 64], -1, 1, 'float32', 3);
    const loss = (w, d) => {
      const h = tf.maxPool(tf.relu(tf.conv2d(x, w, 1, 'same')), 2, 2, 'valid');
      return tf.sum(tf.square(tf.matMul(tf.reshape(h, [8, 576]), d)));
    };
    const grads = tf.grads(loss)([w, d]);
    const bits = grads.flatMap((g) => [...new Int32Array(g.dataSync().buffer)]);
    console.log(JSON.stringify({ threads: getThreadsCount(), bits }));
  })();`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('wasm threads under Node', () => {
  it('runs with the threads asked for, by option or USAM_WASM_THREADS, giving identical results', () => {
    const one = run({ USAM_WASM_THREADS: '' });
    const two = run({ USAM_WASM_THREADS: '' }, '{ threads: 2 }');
    const fromEnv = run({ USAM_WASM_THREADS: '2' });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(fromEnv.threads).toBe(2);
    // XNNPACK splits the output among threads; each value is still summed in
    // the same order, so the results are the same bits.
    expect(two.bits).toEqual(one.bits);
    expect(fromEnv.bits).toEqual(one.bits);
  });

  it('rejects a thread count that is not a positive integer, naming it', async () => {
    for (const threads of [0, 1.5, Number.NaN, '2' as unknown as number]) {
      await expect(initBackend('wasm', { threads })).rejects.toThrow(BackendError);
    }
    await expect(initBackend('wasm', { threads: '2' as unknown as number })).rejects.toThrow(
      "initBackend: threads must be an integer ≥ 1, got '2'; pass e.g. { threads: 2 }.",
    );
  });

  it('rejects a bad USAM_WASM_THREADS, naming it', async () => {
    process.env.USAM_WASM_THREADS = 'four';
    try {
      await expect(initBackend('wasm')).rejects.toThrow(
        "USAM_WASM_THREADS must be an integer ≥ 1, got 'four'; set e.g. USAM_WASM_THREADS=2, or unset it.",
      );
    } finally {
      delete process.env.USAM_WASM_THREADS;
    }
  });

  it('says so when wasm already runs with another thread count', async () => {
    await initBackend('wasm');
    await expect(initBackend('wasm', { threads: 2 })).rejects.toThrow(
      'initBackend: the wasm backend already runs with 1 thread(s); pass { threads: 2 } to the first initBackend call.',
    );
    await expect(initBackend('wasm', { threads: 1 })).resolves.toMatchObject({ name: 'wasm' });
  });
});
