import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './node';
import { on, values } from './test-helpers';

interface WasmBackend {
  getMemoryOffset(dataId: tf.DataId): number;
  numDataIds(): number;
}
const wasm = () => tf.backend() as unknown as WasmBackend;

beforeAll(async () => {
  await initBackend('wasm');
  await tf.setBackend('wasm');
});

describe('Identity and same-dtype Cast on wasm share data', () => {
  it('tf.clone shares the buffer, allocates nothing, and outlives the original', () => {
    const x = tf.tensor(values([3, 5], 1), [3, 5]);
    const buffers = wasm().numDataIds();
    const y = tf.clone(x);
    expect(wasm().getMemoryOffset(y.dataId)).toBe(wasm().getMemoryOffset(x.dataId));
    expect(wasm().numDataIds()).toBe(buffers);
    const expected = x.dataSync().slice();
    x.dispose();
    expect(y.dataSync()).toEqual(expected);
    y.dispose();
    expect(wasm().numDataIds()).toBe(buffers - 1);
  });

  it('a cast to the same dtype shares; other casts convert as on cpu (bool: x ≠ 0)', async () => {
    // wasm's own cast to bool kept each value modulo 256: −2.7 → 254, 0.5 → 0.
    const data = Float32Array.from([-2.7, -0.5, 0, 0.5, 1.9, 256]);
    const x = tf.tensor(data, [2, 3]);
    const same = tf.cast(x, 'float32');
    expect(wasm().getMemoryOffset(same.dataId)).toBe(wasm().getMemoryOffset(x.dataId));
    const ints = tf.cast(x, 'int32');
    const bools = tf.cast(x, 'bool');
    expect(wasm().getMemoryOffset(ints.dataId)).not.toBe(wasm().getMemoryOffset(x.dataId));
    const cpu = await on('cpu', () =>
      tf.tidy(() => {
        const c = tf.tensor(data, [2, 3]);
        return [tf.cast(c, 'int32').dataSync(), tf.cast(c, 'bool').dataSync()];
      }),
    );
    await tf.setBackend('wasm');
    expect([...ints.dataSync()]).toEqual([...cpu[0]!]);
    expect([...bools.dataSync()]).toEqual([...cpu[1]!]);
    const intBools = tf.cast(tf.tensor([0, -1, 512], [3], 'int32'), 'bool');
    expect([...intBools.dataSync()]).toEqual([0, 1, 1]);
    expect([...tf.cast(intBools, 'float32').dataSync()]).toEqual([0, 1, 1]);
    const int = tf.tensor([1, 2, 3], [3], 'int32');
    const sameInt = tf.cast(int, 'int32');
    expect(sameInt.dtype).toBe('int32');
    expect(wasm().getMemoryOffset(sameInt.dataId)).toBe(wasm().getMemoryOffset(int.dataId));
    tf.dispose([x, same, ints, bools, int, sameInt]);
  });

  it('string tensors keep working', () => {
    const s = tf.tensor(['a', 'bc']);
    const t = tf.clone(s);
    s.dispose();
    expect(t.dataSync()).toEqual(['a', 'bc']);
    t.dispose();
  });

  it('the tensors a backward pass saves are not copies: no extra buffers under a tape', () => {
    // tfjs saves x, W and relu(x·W) for the backward pass by cloning them
    // (Identity). Shared, the forward pass under a gradient tape allocates
    // exactly the buffers it allocates without one (3: x·W, relu, sum); wasm's
    // own Identity added one per save (4 more).
    const x = tf.tensor(values([16, 8], 2), [16, 8]);
    const w = tf.variable(tf.tensor(values([8, 4], 3), [8, 4]));
    let allocated = 0;
    const f = () => {
      const before = wasm().numDataIds();
      const y = tf.sum(tf.relu(tf.matMul(x, w))) as tf.Scalar;
      allocated = wasm().numDataIds() - before;
      return y;
    };
    tf.tidy(f);
    expect(allocated).toBe(3);
    const { value, grads } = tf.variableGrads(f, [w]);
    expect(allocated).toBe(3);
    tf.dispose([value, grads, x, w]);
  });
  it('clones of int32, bool and string tensors keep their values', () => {
    const tensors = [
      tf.tensor1d([7, -8], 'int32'),
      tf.tensor1d([1, 0], 'bool'),
      tf.tensor1d(['a', 'bc']),
    ];
    const start = wasm().numDataIds();
    for (const x of tensors) {
      const y = tf.clone(x);
      expect(y.dtype).toBe(x.dtype);
      expect(y.dataSync()).toEqual(x.dataSync());
      y.dispose();
    }
    expect(wasm().numDataIds()).toBe(start);
    tf.dispose(tensors);
  });

  it('a saved clone outlives the tensor it was taken of, and the gradient is right', () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const start = tf.memory().numTensors;
    // tanh's gradient reads the saved input after the forward's tensors are gone.
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.tanh(tf.mul(x, 2))))(x);
    const want = [0.5, -1, 2].map((v) => 2 * (1 - Math.tanh(2 * v) ** 2));
    for (const [i, v] of g.dataSync().entries()) expect(v).toBeCloseTo(want[i]!, 6);
    g.dispose();
    expect(tf.memory().numTensors).toBe(start);
    x.dispose();
  });
});
