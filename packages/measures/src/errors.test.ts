import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeValue, MeasureError, UsamError } from './errors';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('UsamError', () => {
  it('keeps the message and the cause', () => {
    const cause = new RangeError('inner');
    const error = new MeasureError('outer: one line', { cause });
    expect(error.message).toBe('outer: one line');
    expect(error.cause).toBe(cause);
    expect(error.name).toBe('MeasureError');
    expect(error).toBeInstanceOf(UsamError);
    expect(error).toBeInstanceOf(Error);
  });

  it('recognises an error of another installed copy by its marker, where instanceof cannot', () => {
    // What a second copy of @usam/measures (or a package that marks instead of
    // extending, such as @usam/datasets) constructs: another class, same marker.
    class OtherCopyError extends Error {
      override readonly name = 'MeasureError';
      constructor(message: string) {
        super(message);
        Object.defineProperty(this, Symbol.for('usam.error'), { value: true });
      }
    }
    const foreign = new OtherCopyError('from the other copy');
    expect(foreign instanceof UsamError).toBe(false);
    expect(UsamError.isInstance(foreign)).toBe(true);
    expect(MeasureError.isInstance(foreign)).toBe(true);
  });

  it('tells subclasses and unmarked errors apart', () => {
    class OtherError extends UsamError {
      override readonly name = 'OtherError';
    }
    expect(MeasureError.isInstance(new OtherError('x'))).toBe(false);
    expect(UsamError.isInstance(new OtherError('x'))).toBe(true);
    const plain = Object.assign(new Error('x'), { name: 'MeasureError' });
    expect(UsamError.isInstance(plain)).toBe(false);
    expect(MeasureError.isInstance(plain)).toBe(false);
    for (const value of [null, undefined, 'MeasureError', 3, {}]) {
      expect(UsamError.isInstance(value)).toBe(false);
    }
  });
});

describe('describeValue', () => {
  it('shows each kind of value as the messages of every package do', () => {
    expect(describeValue('2')).toBe("'2'");
    expect(describeValue(2)).toBe('2');
    expect(describeValue(1 / 3)).toBe('0.333333');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(-Infinity)).toBe('-Infinity');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(true)).toBe('true');
    expect(describeValue([])).toBe('an array of length 0');
    expect(describeValue([1, 2])).toBe('an array of length 2');
    expect(describeValue(new Float32Array(2))).toBe('a Float32Array');
    expect(describeValue({ a: 1 })).toBe('an object');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue(Symbol('s'))).toBe('a symbol');
    const t = tf.tensor1d([1, 2, 3], 'int32');
    expect(describeValue(t)).toBe('an int32 tensor of shape [3]');
    t.dispose();
  });
});
