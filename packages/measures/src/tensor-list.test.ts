import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { countNonFinite, sum } from './tensor-list';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('countNonFinite: per entry, not through a sum', () => {
  const count = (values: number[][]) => {
    const list = values.map((v) => tf.tensor1d(v));
    const c = countNonFinite(list);
    const out = c.dataSync()[0];
    tf.dispose([...list, c]);
    return out;
  };

  it('large finite entries of one sign: 0, where their sum overflows', () => {
    const big = [
      [3e38, 3e38],
      [3e38, 1],
    ];
    expect(count(big)).toBe(0);
    const list = big.map((v) => tf.tensor1d(v));
    const s = sum(list);
    expect(s.dataSync()[0]).toBe(Number.POSITIVE_INFINITY); // what the old check read
    tf.dispose([...list, s]);
  });

  it('counts NaN, +∞ and −∞ over every tensor of the list; an empty tensor adds 0', () => {
    expect(
      count([[Number.NaN, 1], [Number.POSITIVE_INFINITY], [], [Number.NEGATIVE_INFINITY, 0]]),
    ).toBe(3);
    expect(count([[0], [-3.4e38, 3.4e38]])).toBe(0);
  });

  it('a NaN behind a larger entry (where a max may skip it) is still counted', () => {
    expect(count([[5, Number.NaN, -7]])).toBe(1);
  });
});
