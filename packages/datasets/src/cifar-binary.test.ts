import { describe, expect, it } from 'vitest';
import { parseCifarBinary } from './cifar-binary';
import { DatasetError } from './errors';
import { cifarFile, randomExamples } from './test-formats';

const SHAPE = [32, 32, 3] as const;

describe('parseCifarBinary', () => {
  it('reads CIFAR-10 records (label byte, R, G, B planes) into NHWC, files concatenated in order', () => {
    const a = randomExamples(3, SHAPE, 10, 1);
    const b = randomExamples(2, SHAPE, 10, 2);
    const out = parseCifarBinary(
      [
        { file: 'data_batch_1.bin', bytes: cifarFile(a.images, a.labels) },
        { file: 'data_batch_2.bin', bytes: cifarFile(b.images, b.labels) },
      ],
      'cifar10',
    );
    expect(out.count).toBe(5);
    expect(Array.from(out.labels)).toEqual([...a.labels, ...b.labels]);
    expect(out.images.subarray(0, 3 * 3072)).toEqual(a.images);
    expect(out.images.subarray(3 * 3072)).toEqual(b.images);
    expect(out.coarseLabels).toBeUndefined();
  });

  it('reads the red plane into channel 0 (a pure-red image)', () => {
    const file = new Uint8Array(3073);
    file[0] = 6;
    file.fill(200, 1, 1 + 1024); // red plane only
    const { images, labels } = parseCifarBinary([{ file: 'x.bin', bytes: file }], 'cifar10');
    expect(labels[0]).toBe(6);
    for (let p = 0; p < 1024; p++)
      expect([images[3 * p], images[3 * p + 1], images[3 * p + 2]]).toEqual([200, 0, 0]);
  });

  it('reads CIFAR-100 records: coarse label byte, then fine label byte', () => {
    const a = randomExamples(4, SHAPE, 100, 3);
    const coarse = Int32Array.from(a.labels, (l) => l % 20);
    const out = parseCifarBinary(
      [{ file: 'train.bin', bytes: cifarFile(a.images, a.labels, coarse) }],
      'cifar100',
    );
    expect(Array.from(out.labels)).toEqual(Array.from(a.labels));
    expect(Array.from(out.coarseLabels!)).toEqual(Array.from(coarse));
    expect(out.images).toEqual(a.images);
  });

  it('names a truncated file with its size, the record size and the official size', () => {
    const a = randomExamples(2, SHAPE, 10, 4);
    const bytes = cifarFile(a.images, a.labels).subarray(0, 2 * 3073 - 10);
    expect(() => parseCifarBinary([{ file: 'data_batch_3.bin', bytes }], 'cifar10', 10000)).toThrow(
      /^data_batch_3\.bin: 6,136 bytes is not a whole number of 3,073-byte CIFAR-10 records .*the official file has 30,730,000 bytes/,
    );
    expect(() =>
      parseCifarBinary([{ file: 'e.bin', bytes: new Uint8Array(0) }], 'cifar10'),
    ).toThrow(DatasetError);
  });

  it('catches a file cut at a record boundary when the official count is expected', () => {
    const a = randomExamples(2, SHAPE, 10, 5);
    expect(() =>
      parseCifarBinary(
        [{ file: 'test_batch.bin', bytes: cifarFile(a.images, a.labels) }],
        'cifar10',
        10000,
      ),
    ).toThrow(/test_batch\.bin: 2 records \(6,146 bytes\), expected 10,000 \(30,730,000 bytes\)/);
  });

  it('refuses labels out of range (a CIFAR-100 file read as CIFAR-10)', () => {
    const a = randomExamples(1, SHAPE, 10, 6);
    const bytes = cifarFile(a.images, a.labels);
    bytes[0] = 42;
    expect(() => parseCifarBinary([{ file: 'x.bin', bytes }], 'cifar10')).toThrow(
      /x\.bin: record 0 has label 42, outside 0\.\.9/,
    );
  });
});
