import { describe, expect, it } from 'vitest';
import { parseIdx, parseMnistIdx } from './idx';
import { gzip, idxFile, randomExamples } from './test-formats';

describe('IDX', () => {
  const { images, labels } = randomExamples(3, [28, 28, 1], 10, 1);
  const imageFile = { file: 'train-images-idx3-ubyte', bytes: idxFile([3, 28, 28], images) };
  const labelFile = {
    file: 'train-labels-idx1-ubyte',
    bytes: idxFile([3], Uint8Array.from(labels)),
  };

  it('writes the magic numbers 0x00000803 / 0x00000801 (the test writer)', () => {
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset);
    expect(view(imageFile.bytes).getUint32(0, false)).toBe(0x803);
    expect(view(labelFile.bytes).getUint32(0, false)).toBe(0x801);
  });

  it('reads big-endian dimensions and the data', () => {
    const big = idxFile([2, 300], new Uint8Array(600).fill(9));
    expect(parseIdx({ file: 'a', bytes: big }).dims).toEqual([2, 300]);
    const out = parseMnistIdx(imageFile, labelFile);
    expect(out.count).toBe(3);
    expect(out.images).toEqual(images);
    expect(Array.from(out.labels)).toEqual(Array.from(labels));
  });

  it('refuses gzip input, bad magic numbers, truncated and padded files', () => {
    expect(() => parseIdx({ file: 'a.gz', bytes: gzip(imageFile.bytes) })).toThrow(
      /a\.gz: is gzip-compressed; decompress it first/,
    );
    const bad = Uint8Array.from(imageFile.bytes);
    bad[2] = 0x0d; // float data
    expect(() => parseIdx({ file: 'f', bytes: bad })).toThrow(
      /f: magic number 0x00000d03 is not an IDX file/,
    );
    expect(() =>
      parseIdx({ file: 'cut', bytes: imageFile.bytes.subarray(0, imageFile.bytes.length - 1) }),
    ).toThrow(/cut: expected 2368 bytes for dimensions 3×28×28, got 2367 \(truncated\)/);
    const padded = new Uint8Array(imageFile.bytes.length + 4);
    padded.set(imageFile.bytes);
    expect(() => parseIdx({ file: 'pad', bytes: padded })).toThrow(/got 2372 \(trailing data\)/);
  });

  it('checks that images and labels match and the official count', () => {
    const twoLabels = { file: 'l', bytes: idxFile([2], new Uint8Array(2)) };
    expect(() => parseMnistIdx(imageFile, twoLabels)).toThrow(/3 images but l has 2 labels/);
    expect(() => parseMnistIdx(labelFile, labelFile)).toThrow(/are not N×28×28/);
    expect(() => parseMnistIdx(imageFile, labelFile, 60000)).toThrow(
      /3 images, the official file has 60000/,
    );
    const badLabels = { file: 'l', bytes: idxFile([3], Uint8Array.of(1, 12, 3)) };
    expect(() => parseMnistIdx(imageFile, badLabels)).toThrow(
      /label 12 of example 1 is not a digit/,
    );
  });
});
