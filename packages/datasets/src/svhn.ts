import type { NamedBytes } from './cifar-binary';
import type { Inflate } from './compression';
import { DatasetError } from './errors';
import { readMat } from './mat';

/**
 * Reads an SVHN cropped-digits file (format 2, http://ufldl.stanford.edu/housenumbers/):
 * `X`, uint8 32 × 32 × 3 × N (MATLAB column-major: row, column, channel,
 * example), and `y`, N × 1 labels 1..10 where 10 means the digit 0. Images come
 * out NHWC; labels 0..9.
 */
export async function parseSvhnMat(
  { file, bytes }: NamedBytes,
  options: { inflate?: Inflate; expectedCount?: number } = {},
): Promise<{ images: Uint8Array; labels: Int32Array; count: number }> {
  const variables = await readMat(bytes, {
    file,
    ...(options.inflate && { inflate: options.inflate }),
  });
  const X = variables.get('X');
  const y = variables.get('y');
  const fix = 'use the official file from http://ufldl.stanford.edu/housenumbers/';
  if (!X || !y) {
    throw new DatasetError(
      `${file}: no ${!X ? 'X' : 'y'} variable (found: ${[...variables.keys()].join(', ') || 'none'}); not an SVHN format-2 file; ${fix}.`,
    );
  }
  const [h, w, c, n = 1] = X.dims;
  if (X.dims.length > 4 || h !== 32 || w !== 32 || c !== 3 || !(X.real instanceof Uint8Array)) {
    throw new DatasetError(
      `${file}: X is ${X.className} ${X.dims.join('×')}, expected uint8 32×32×3×N; ${fix}.`,
    );
  }
  if (y.real.length !== n) {
    throw new DatasetError(
      `${file}: X holds ${n} images but y has ${y.real.length} labels; ${fix}.`,
    );
  }
  if (options.expectedCount !== undefined && n !== options.expectedCount) {
    throw new DatasetError(
      `${file}: ${n} images, the official file has ${options.expectedCount}; ${fix}.`,
    );
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = y.real[i]!;
    if (!Number.isInteger(v) || v < 1 || v > 10) {
      throw new DatasetError(`${file}: label ${v} of example ${i} is not in 1..10; ${fix}.`);
    }
    labels[i] = v % 10;
  }
  const source = X.real;
  const images = new Uint8Array(n * 3072);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const base = i * 3072;
    for (let ch = 0; ch < 3; ch++) {
      for (let col = 0; col < 32; col++) {
        for (let row = 0; row < 32; row++) images[base + row * 96 + col * 3 + ch] = source[s++]!;
      }
    }
  }
  return { images, labels, count: n };
}
