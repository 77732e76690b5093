/**
 * Test helper (not exported): writes small files in the exact official
 * formats, from images given as NHWC bytes, so that readers can be checked
 * against the layout documented by each dataset's authors.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { createRandom, randomInt } from './rng';

/** `count` random images (NHWC) and labels < numClasses, from a seed. */
export function randomExamples(
  count: number,
  shape: readonly [number, number, number],
  numClasses: number,
  seed: number,
): { images: Uint8Array; labels: Int32Array } {
  const random = createRandom([seed, 99]);
  const images = new Uint8Array(count * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < images.length; i++) images[i] = randomInt(random, 256);
  const labels = Int32Array.from({ length: count }, () => randomInt(random, numClasses));
  return { images, labels };
}

/**
 * CIFAR binary records: per image the label byte (CIFAR-100: coarse, then
 * fine), then the red, green and blue planes, each 32 × 32 row-major.
 */
export function cifarFile(
  images: Uint8Array,
  labels: Int32Array,
  coarseLabels?: Int32Array,
): Uint8Array {
  const labelBytes = coarseLabels ? 2 : 1;
  const record = labelBytes + 3072;
  const out = new Uint8Array(labels.length * record);
  for (let n = 0; n < labels.length; n++) {
    const at = n * record;
    if (coarseLabels) out[at] = coarseLabels[n]!;
    out[at + labelBytes - 1] = labels[n]!;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[at + labelBytes + c * 1024 + y * 32 + x] = images[n * 3072 + (y * 32 + x) * 3 + c]!;
        }
      }
    }
  }
  return out;
}

/** An IDX file of unsigned bytes: 0x0000, type 0x08, ndims, big-endian dims, data. */
export function idxFile(dims: readonly number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

export const gzip = (data: Uint8Array): Uint8Array => gzipSync(data);

/** A MAT-file numeric variable to write. */
export interface MatVariableSpec {
  readonly name: string;
  /** mxCLASS: 6 double, 9 uint8. */
  readonly mxClass: 6 | 9;
  readonly dims: readonly number[];
  /** Stored data type: 2 miUINT8, 9 miDOUBLE (MATLAB may store a double array as uint8). */
  readonly dataType: 2 | 9;
  /** Values, column-major. */
  readonly values: ArrayLike<number>;
}

/**
 * A MATLAB level-5 MAT-file ("MAT-File Format", MathWorks): 128-byte header
 * (text, subsystem offset, version 0x0100, endian mark), then one miMATRIX
 * element per variable, zlib-compressed in miCOMPRESSED elements (as MATLAB's
 * default -v7 and the SVHN files) or not. Names of ≤ 4 bytes use the small
 * data element format, as MATLAB writes them.
 */
export function matFile(
  variables: readonly MatVariableSpec[],
  options: { compressed?: boolean; littleEndian?: boolean } = {},
): Uint8Array {
  const le = options.littleEndian ?? true;
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(128).fill(0x20);
  const text = 'MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2015';
  for (let i = 0; i < text.length; i++) header[i] = text.charCodeAt(i);
  header.fill(0, 116, 124);
  new DataView(header.buffer).setUint16(124, 0x0100, le);
  header[126] = le ? 0x49 : 0x4d; // 'IM' little-endian, 'MI' big-endian
  header[127] = le ? 0x4d : 0x49;
  parts.push(header);
  const element = (type: number, payload: Uint8Array, pad = true): Uint8Array => {
    if (payload.length <= 4 && payload.length > 0 && type !== 14 && type !== 15) {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setUint32(0, (payload.length << 16) | type, le);
      out.set(payload, 4);
      return out;
    }
    const padded = pad ? Math.ceil(payload.length / 8) * 8 : payload.length;
    const out = new Uint8Array(8 + padded);
    const view = new DataView(out.buffer);
    view.setUint32(0, type, le);
    view.setUint32(4, payload.length, le);
    out.set(payload, 8);
    return out;
  };
  const concat = (chunks: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };
  for (const v of variables) {
    const flags = new Uint8Array(8);
    new DataView(flags.buffer).setUint32(0, v.mxClass, le);
    const dims = new Uint8Array(4 * v.dims.length);
    v.dims.forEach((d, i) => {
      new DataView(dims.buffer).setInt32(4 * i, d, le);
    });
    const name = Uint8Array.from(v.name, (ch) => ch.charCodeAt(0));
    let data: Uint8Array;
    if (v.dataType === 2) {
      data = Uint8Array.from(v.values);
    } else {
      data = new Uint8Array(8 * v.values.length);
      const view = new DataView(data.buffer);
      for (let i = 0; i < v.values.length; i++) view.setFloat64(8 * i, v.values[i]!, le);
    }
    const matrix = element(
      14,
      concat([element(6, flags), element(5, dims), element(1, name), element(v.dataType, data)]),
    );
    parts.push(options.compressed === false ? matrix : element(15, deflateSync(matrix), false));
  }
  return concat(parts);
}

/**
 * An SVHN format-2 file: X uint8 32 × 32 × 3 × N, column-major (row,
 * column, channel, example), and y, class double N × 1, labels 1..10 (10 is
 * the digit 0), stored as uint8 as in the official files.
 */
export function svhnFile(
  images: Uint8Array,
  labels: Int32Array,
  options: {
    compressed?: boolean;
    littleEndian?: boolean;
    labelType?: 2 | 9;
    /** Declare X as 3072 × N (same bytes): for readers that only index 2-D arrays right. */
    flatX?: boolean;
  } = {},
): Uint8Array {
  const n = labels.length;
  const X = new Uint8Array(n * 3072);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < 32; col++) {
        for (let row = 0; row < 32; row++) {
          X[row + 32 * col + 1024 * c + 3072 * i] = images[i * 3072 + (row * 32 + col) * 3 + c]!;
        }
      }
    }
  }
  const y = Array.from(labels, (label) => (label === 0 ? 10 : label));
  return matFile(
    [
      {
        name: 'X',
        mxClass: 9,
        dims: options.flatX ? [3072, n] : [32, 32, 3, n],
        dataType: 2,
        values: X,
      },
      { name: 'y', mxClass: 6, dims: [n, 1], dataType: options.labelType ?? 2, values: y },
    ],
    options,
  );
}
