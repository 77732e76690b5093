import { inflateSync } from 'node:zlib';
import { read as matForJs } from 'mat-for-js';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors';
import { readMat } from './mat';
import { parseSvhnMat } from './svhn';
import { matFile, randomExamples, svhnFile } from './test-formats';

const SHAPE = [32, 32, 3] as const;
const arrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

describe('the test writer produces real MAT-files', () => {
  // mat-for-js indexes arrays of 3 or more dimensions wrongly (its calcIndex multiplies by
  // one previous dimension only), so X is declared 3072 × N here: the same bytes, and
  // element (row + 32·column + 1024·channel, example) is X(row, column, channel, example).
  it('mat-for-js (an independent reader) reads X (row, column, channel, example) and y', () => {
    const { images, labels } = randomExamples(3, SHAPE, 10, 1);
    const file = svhnFile(images, labels, { flatX: true });
    const { data } = matForJs(arrayBuffer(file));
    const X = data.X as number[][];
    const y = data.y as number[];
    expect(y).toEqual(Array.from(labels, (l) => (l === 0 ? 10 : l)));
    for (const [n, row, col, c] of [
      [0, 0, 0, 0],
      [1, 5, 17, 2],
      [2, 31, 3, 1],
    ] as const) {
      expect(X[row + 32 * col + 1024 * c]![n]).toBe(images[n * 3072 + (row * 32 + col) * 3 + c]);
    }
  });
});

describe('readMat', () => {
  it.each([
    ['compressed, little-endian', { compressed: true, littleEndian: true }],
    ['uncompressed, little-endian', { compressed: false, littleEndian: true }],
    ['uncompressed, big-endian', { compressed: false, littleEndian: false }],
  ])('reads numeric variables (%s)', async (_, options) => {
    const values = [1.5, -2, 1e10, 0.25, 7, 8];
    const file = matFile(
      [
        { name: 'weights', mxClass: 6, dims: [2, 3], dataType: 9, values },
        { name: 'b', mxClass: 9, dims: [1, 4], dataType: 2, values: [0, 255, 7, 9] },
      ],
      options,
    );
    const vars = await readMat(file, { file: 'w.mat', inflate: (d) => inflateSync(d) });
    expect([...vars.keys()]).toEqual(['weights', 'b']);
    expect(vars.get('weights')).toMatchObject({ className: 'double', dims: [2, 3] });
    expect(Array.from(vars.get('weights')!.real)).toEqual(values);
    expect(Array.from(vars.get('b')!.real)).toEqual([0, 255, 7, 9]);
  });

  it('decompresses with DecompressionStream when no inflate is given', async () => {
    const file = matFile([{ name: 'v', mxClass: 6, dims: [3, 1], dataType: 9, values: [1, 2, 3] }]);
    expect(Array.from((await readMat(file)).get('v')!.real)).toEqual([1, 2, 3]);
  });

  it('refuses files that are not level-5 MAT-files, and truncated ones, naming the file', async () => {
    const good = matFile([{ name: 'v', mxClass: 6, dims: [3, 1], dataType: 9, values: [1, 2, 3] }]);
    await expect(readMat(good.subarray(0, 100), { file: 'a.mat' })).rejects.toThrow(
      /a\.mat: 100 bytes is shorter than the 128-byte MAT-file header/,
    );
    const html = new TextEncoder().encode('<html>'.padEnd(200, ' '));
    await expect(readMat(html, { file: 'b.mat' })).rejects.toThrow(/b\.mat: not a MATLAB level-5/);
    const v73 = Uint8Array.from(good);
    new DataView(v73.buffer).setUint16(124, 0x0200, true);
    await expect(readMat(v73, { file: 'c.mat' })).rejects.toThrow(/v7\.3 \(HDF5\)/);
    const cut = good.subarray(0, good.length - 5);
    const error = await readMat(cut, { file: 'd.mat' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toMatch(/d\.mat: .*truncated or corrupt/);
    const uncompressed = matFile(
      [{ name: 'v', mxClass: 6, dims: [3, 1], dataType: 9, values: [1, 2, 3] }],
      { compressed: false },
    );
    await expect(readMat(uncompressed.subarray(0, uncompressed.length - 8))).rejects.toThrow(
      /claims \d+ bytes but only \d+ remain/,
    );
  });

  it('refuses corrupt compressed data', async () => {
    const file = matFile([{ name: 'v', mxClass: 6, dims: [3, 1], dataType: 9, values: [1, 2, 3] }]);
    const corrupt = Uint8Array.from(file);
    corrupt.fill(0xaa, 136, 146); // inside the zlib stream
    await expect(
      readMat(corrupt, { file: 'e.mat', inflate: (d) => inflateSync(d) }),
    ).rejects.toThrow(/e\.mat: a compressed element could not be decompressed/);
  });
});

describe('parseSvhnMat', () => {
  it.each([
    ['as published (compressed, y stored as uint8)', {}],
    ['uncompressed, y stored as double', { compressed: false, labelType: 9 as const }],
  ])('gives NHWC images and labels 0..9 (10 → 0) %s', async (_, options) => {
    const { images, labels } = randomExamples(5, SHAPE, 10, 2);
    labels[0] = 0;
    const parsed = await parseSvhnMat(
      { file: 'train_32x32.mat', bytes: svhnFile(images, labels, options) },
      { inflate: (d) => inflateSync(d) },
    );
    expect(parsed.count).toBe(5);
    expect(Array.from(parsed.labels)).toEqual(Array.from(labels));
    expect(parsed.images).toEqual(images);
  });

  it('checks the official count, the variables and the labels', async () => {
    const { images, labels } = randomExamples(2, SHAPE, 10, 3);
    const bytes = svhnFile(images, labels);
    await expect(
      parseSvhnMat({ file: 'test_32x32.mat', bytes }, { expectedCount: 26032 }),
    ).rejects.toThrow(/test_32x32\.mat: 2 images, the official file has 26032/);
    const noY = matFile([
      { name: 'X', mxClass: 9, dims: [32, 32, 3, 1], dataType: 2, values: new Uint8Array(3072) },
    ]);
    await expect(parseSvhnMat({ file: 'x.mat', bytes: noY })).rejects.toThrow(
      /x\.mat: no y variable \(found: X\)/,
    );
    const badLabel = matFile([
      { name: 'X', mxClass: 9, dims: [32, 32, 3, 1], dataType: 2, values: new Uint8Array(3072) },
      { name: 'y', mxClass: 6, dims: [1, 1], dataType: 9, values: [11] },
    ]);
    await expect(parseSvhnMat({ file: 'y.mat', bytes: badLabel })).rejects.toThrow(
      /label 11 of example 0 is not in 1\.\.10/,
    );
    const wrongShape = matFile([
      { name: 'X', mxClass: 9, dims: [28, 28, 1, 1], dataType: 2, values: new Uint8Array(784) },
      { name: 'y', mxClass: 6, dims: [1, 1], dataType: 9, values: [1] },
    ]);
    await expect(parseSvhnMat({ file: 'z.mat', bytes: wrongShape })).rejects.toThrow(
      /X is uint8 28×28×1×1, expected uint8 32×32×3×N/,
    );
  });
});
