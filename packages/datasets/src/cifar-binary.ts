import { DatasetError } from './errors';

/** One image: 32 × 32 pixels, 3 colour planes. */
const PIXELS = 32 * 32;
export const CIFAR_IMAGE_BYTES = 3 * PIXELS;

/** A file's bytes and its name (for messages). */
export interface NamedBytes {
  readonly file: string;
  readonly bytes: Uint8Array;
}

/** Images (NHWC), labels and, for CIFAR-100, the coarse labels of some CIFAR binary files. */
export interface CifarRecords {
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly coarseLabels?: Int32Array;
  readonly count: number;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/**
 * Reads CIFAR binary files (https://www.cs.toronto.edu/~kriz/cifar.html),
 * concatenated in the order given. A record is the label byte (CIFAR-100: the
 * coarse label byte, then the fine one), then 3,072 pixel bytes: the red,
 * green and blue planes, each 32 × 32 row-major. Images come out interleaved
 * (NHWC). `expectedRecords` (per file) turns a size check into an exact one.
 */
export function parseCifarBinary(
  files: readonly NamedBytes[],
  variant: 'cifar10' | 'cifar100',
  expectedRecords?: number,
): CifarRecords {
  const labelBytes = variant === 'cifar10' ? 1 : 2;
  const record = labelBytes + CIFAR_IMAGE_BYTES;
  const numClasses = variant === 'cifar10' ? 10 : 100;
  const what = variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100';
  const counts = files.map(({ file, bytes }) => {
    const official =
      expectedRecords === undefined
        ? ''
        : `; the official file has ${fmt(expectedRecords * record)} bytes (${fmt(expectedRecords)} records)`;
    const fix =
      'delete it and download it again, or get it from https://www.cs.toronto.edu/~kriz/cifar.html';
    if (bytes.length === 0 || bytes.length % record !== 0) {
      throw new DatasetError(
        `${file}: ${fmt(bytes.length)} bytes is not a whole number of ${fmt(record)}-byte ${what} records (truncated or not a ${what} binary file${official}); ${fix}.`,
      );
    }
    const count = bytes.length / record;
    if (expectedRecords !== undefined && count !== expectedRecords) {
      throw new DatasetError(
        `${file}: ${fmt(count)} records (${fmt(bytes.length)} bytes), expected ${fmt(expectedRecords)} (${fmt(expectedRecords * record)} bytes): truncated or not the official file; ${fix}.`,
      );
    }
    return count;
  });
  const total = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(total * CIFAR_IMAGE_BYTES);
  const labels = new Int32Array(total);
  const coarseLabels = labelBytes === 2 ? new Int32Array(total) : undefined;
  let n = 0;
  files.forEach(({ file, bytes }, f) => {
    for (let r = 0; r < counts[f]!; r++, n++) {
      const at = r * record;
      const fine = bytes[at + labelBytes - 1]!;
      if (fine >= numClasses || (coarseLabels && bytes[at]! >= 20)) {
        throw new DatasetError(
          `${file}: record ${r} has label ${coarseLabels ? `${bytes[at]}/${fine}` : fine}, outside ${coarseLabels ? '0..19/0..99' : '0..9'}: not a ${what} binary file; use the official binary version from https://www.cs.toronto.edu/~kriz/cifar.html.`,
        );
      }
      labels[n] = fine;
      if (coarseLabels) coarseLabels[n] = bytes[at]!;
      const pixels = at + labelBytes;
      const out = n * CIFAR_IMAGE_BYTES;
      for (let p = 0; p < PIXELS; p++) {
        images[out + 3 * p] = bytes[pixels + p]!;
        images[out + 3 * p + 1] = bytes[pixels + PIXELS + p]!;
        images[out + 3 * p + 2] = bytes[pixels + 2 * PIXELS + p]!;
      }
    }
  });
  return { images, labels, count: total, ...(coarseLabels && { coarseLabels }) };
}
