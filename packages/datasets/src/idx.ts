import type { NamedBytes } from './cifar-binary';
import { isGzip } from './compression';
import { DatasetError } from './errors';

/** An IDX array: dimensions and its unsigned bytes. */
export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

/**
 * Reads an IDX file of unsigned bytes (http://yann.lecun.com/exdb/mnist/):
 * two zero bytes, the type byte 0x08, the number of dimensions, each
 * dimension as a big-endian int32, then the data. Gzip-compressed input is
 * refused with a hint (decompress first).
 */
export function parseIdx({ file, bytes }: NamedBytes): IdxArray {
  const fix =
    'delete it and download it again, or get the official file from http://yann.lecun.com/exdb/mnist/';
  if (isGzip(bytes)) {
    throw new DatasetError(`${file}: is gzip-compressed; decompress it first (gunzip ${file}).`);
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new DatasetError(
      `${file}: magic number 0x${magic} is not an IDX file of unsigned bytes (0x000008nn); ${fix}.`,
    );
  }
  const ndims = bytes[3]!;
  const header = 4 + 4 * ndims;
  if (ndims === 0 || bytes.length < header) {
    throw new DatasetError(
      `${file}: the IDX header needs ${header} bytes for ${ndims} dimensions, the file has ${bytes.length}; ${fix}.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = header + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    throw new DatasetError(
      `${file}: expected ${expected} bytes for dimensions ${dims.join('×')}, got ${bytes.length} (${bytes.length < expected ? 'truncated' : 'trailing data'}); ${fix}.`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/** MNIST images (N × 28 × 28 bytes) and labels (N) from their IDX files. */
export function parseMnistIdx(
  images: NamedBytes,
  labels: NamedBytes,
  expectedCount?: number,
): { images: Uint8Array; labels: Int32Array; count: number } {
  const x = parseIdx(images);
  const y = parseIdx(labels);
  if (x.dims.length !== 3 || x.dims[1] !== 28 || x.dims[2] !== 28) {
    throw new DatasetError(
      `${images.file}: dimensions ${x.dims.join('×')} are not N×28×28 (magic 0x00000803); is this an MNIST images file?`,
    );
  }
  if (y.dims.length !== 1) {
    throw new DatasetError(
      `${labels.file}: dimensions ${y.dims.join('×')} are not N (magic 0x00000801); is this an MNIST labels file?`,
    );
  }
  const count = x.dims[0]!;
  if (y.dims[0] !== count) {
    throw new DatasetError(
      `${images.file} has ${count} images but ${labels.file} has ${y.dims[0]} labels; use the matching pair of files.`,
    );
  }
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new DatasetError(
      `${images.file}: ${count} images, the official file has ${expectedCount}; use the official files.`,
    );
  }
  const out = Int32Array.from(y.data);
  const bad = out.findIndex((v) => v > 9);
  if (bad >= 0) {
    throw new DatasetError(
      `${labels.file}: label ${out[bad]} of example ${bad} is not a digit 0..9.`,
    );
  }
  // A plain copy: no view into the file's buffer (which may be a Node Buffer).
  return { images: new Uint8Array(x.data), labels: out, count };
}
