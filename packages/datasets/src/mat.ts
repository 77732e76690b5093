import { decompress, type Inflate } from './compression';
import { DatasetError } from './errors';

/**
 * A minimal reader of MATLAB level-5 MAT-files (the format of the SVHN
 * `*_32x32.mat` files, "MAT-File Format", MathWorks): numeric arrays only,
 * compressed (miCOMPRESSED) or not, either byte order. The data stay typed
 * arrays in MATLAB's column-major order, so a 225 MB uint8 array costs 225 MB.
 * (General readers such as `mat-for-js` turn arrays into nested JavaScript
 * arrays, gigabytes for SVHN's training set.)
 */

/** Numeric array classes (mxCLASS). */
const CLASS_NAMES: Record<number, string> = {
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};

/** Data element types (miTYPE). */
const MI = {
  int8: 1,
  uint8: 2,
  int16: 3,
  uint16: 4,
  int32: 5,
  uint32: 6,
  single: 7,
  double: 9,
  int64: 12,
  uint64: 13,
  matrix: 14,
  compressed: 15,
} as const;

/** A numeric variable: its class, dimensions and real part (column-major). */
export interface MatVariable {
  readonly name: string;
  /** MATLAB class, e.g. 'uint8' or 'double'. */
  readonly className: string;
  readonly dims: readonly number[];
  /** uint8 / int8 data as stored; any other type converted to float64. */
  readonly real: Uint8Array | Int8Array | Float64Array;
}

export interface ReadMatOptions {
  /** Name used in messages. */
  readonly file?: string;
  /** zlib decompression for miCOMPRESSED elements; default: `DecompressionStream('deflate')`. */
  readonly inflate?: Inflate;
}

interface Element {
  readonly type: number;
  /** Payload position and length in `bytes`. */
  readonly start: number;
  readonly length: number;
  /** Where the next element starts. */
  readonly next: number;
}

class Reader {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
    readonly file: string,
    readonly context: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(at: number, problem: string): never {
    throw new DatasetError(
      `${this.file}: ${problem} at byte ${at}${this.context}: the MAT-file is truncated or corrupt; delete it and download it again.`,
    );
  }

  element(at: number): Element {
    if (at + 8 > this.bytes.length) this.fail(at, 'an element tag runs past the end of the data');
    const first = this.view.getUint32(at, this.littleEndian);
    if (first >>> 16 !== 0) {
      // Small data element: 2-byte length and type packed in 4 bytes, data in the next 4.
      const length = first >>> 16;
      if (length > 4) this.fail(at, `a small data element claims ${length} bytes (at most 4)`);
      return { type: first & 0xffff, start: at + 4, length, next: at + 8 };
    }
    const length = this.view.getUint32(at + 4, this.littleEndian);
    const start = at + 8;
    if (start + length > this.bytes.length) {
      this.fail(
        at,
        `an element claims ${length} bytes but only ${this.bytes.length - start} remain`,
      );
    }
    // Compressed elements are not padded; all others end on an 8-byte boundary.
    const next = first === MI.compressed ? start + length : start + Math.ceil(length / 8) * 8;
    return { type: first, start, length, next: Math.min(next, this.bytes.length) };
  }

  numbers(e: Element): Uint8Array | Int8Array | Float64Array {
    const { start, length } = e;
    const sizes: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8 };
    const size = sizes[e.type];
    if (size === undefined) this.fail(start - 8, `numeric data of unsupported type ${e.type}`);
    if (e.type === MI.uint8) return this.bytes.subarray(start, start + length);
    if (e.type === MI.int8)
      return new Int8Array(this.bytes.buffer, this.bytes.byteOffset + start, length);
    const n = Math.floor(length / size);
    const out = new Float64Array(n);
    const v = this.view;
    const le = this.littleEndian;
    for (let i = 0; i < n; i++) {
      const at = start + i * size;
      switch (e.type) {
        case MI.int16:
          out[i] = v.getInt16(at, le);
          break;
        case MI.uint16:
          out[i] = v.getUint16(at, le);
          break;
        case MI.int32:
          out[i] = v.getInt32(at, le);
          break;
        case MI.uint32:
          out[i] = v.getUint32(at, le);
          break;
        case MI.single:
          out[i] = v.getFloat32(at, le);
          break;
        default:
          out[i] = v.getFloat64(at, le);
      }
    }
    return out;
  }

  /** A miMATRIX payload: flags, dimensions, name, real part. Non-numeric classes give undefined. */
  matrix(e: Element): MatVariable | undefined {
    const end = e.start + e.length;
    const flags = this.element(e.start);
    if (flags.type !== MI.uint32 || flags.length !== 8) this.fail(e.start, 'bad array flags');
    const word = this.view.getUint32(flags.start, this.littleEndian);
    const mxClass = word & 0xff;
    const complex = (word & 0x800) !== 0;
    const dimsElement = this.element(flags.next);
    if (dimsElement.type !== MI.int32) this.fail(flags.next, 'bad array dimensions');
    const dims = Array.from({ length: dimsElement.length / 4 }, (_, i) =>
      this.view.getInt32(dimsElement.start + 4 * i, this.littleEndian),
    );
    const nameElement = this.element(dimsElement.next);
    const name = String.fromCharCode(
      ...this.bytes.subarray(nameElement.start, nameElement.start + nameElement.length),
    );
    const className = CLASS_NAMES[mxClass];
    if (className === undefined || complex || mxClass === 14 || mxClass === 15) return undefined;
    if (nameElement.next > end) this.fail(e.start, `variable '${name}' has no data`);
    const real = this.numbers(this.element(nameElement.next));
    const expected = dims.reduce((a, b) => a * b, 1);
    if (real.length !== expected) {
      this.fail(
        nameElement.next,
        `variable '${name}' (${dims.join('×')}) should hold ${expected} values but holds ${real.length}`,
      );
    }
    return { name, className, dims, real };
  }
}

/**
 * Reads the numeric variables of a level-5 MAT-file (v5, v6, v7; not v7.3,
 * which is HDF5). Cell arrays, structures, character, sparse, complex and
 * 64-bit integer arrays are skipped.
 */
export async function readMat(
  bytes: Uint8Array,
  options: ReadMatOptions = {},
): Promise<Map<string, MatVariable>> {
  const file = options.file ?? 'MAT-file';
  const inflate = options.inflate ?? ((data: Uint8Array) => decompress(data, 'deflate'));
  if (bytes.length < 128) {
    throw new DatasetError(
      `${file}: ${bytes.length} bytes is shorter than the 128-byte MAT-file header: truncated or not a MAT-file; delete it and download it again.`,
    );
  }
  const text = String.fromCharCode(...bytes.subarray(0, 116));
  const endian = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (!text.startsWith('MATLAB') || (endian !== 'IM' && endian !== 'MI')) {
    throw new DatasetError(
      `${file}: not a MATLAB level-5 MAT-file (the header does not start with 'MATLAB' or has no endian mark); use the official file.`,
    );
  }
  const littleEndian = endian === 'IM';
  const version = new DataView(bytes.buffer, bytes.byteOffset + 124, 2).getUint16(0, littleEndian);
  if (version !== 0x0100) {
    throw new DatasetError(
      `${file}: MAT-file version 0x${version.toString(16)} is not level 5 (0x0100)${version === 0x0200 ? ' but v7.3 (HDF5)' : ''}; use the official file (or save it with -v7).`,
    );
  }
  const reader: Reader = new Reader(bytes, littleEndian, file, '');
  const variables = new Map<string, MatVariable>();
  for (let at = 128; at < bytes.length; ) {
    // Padding at the very end of a file is not an element.
    if (bytes.length - at < 8 && bytes.subarray(at).every((b) => b === 0)) break;
    const e = reader.element(at);
    let variable: MatVariable | undefined;
    if (e.type === MI.matrix) {
      variable = reader.matrix(e);
    } else if (e.type === MI.compressed) {
      let plain: Uint8Array;
      try {
        plain = await inflate(bytes.subarray(e.start, e.start + e.length));
      } catch (error) {
        reader.fail(
          at,
          `a compressed element could not be decompressed (${(error as Error).message})`,
        );
      }
      const inner = new Reader(
        plain,
        littleEndian,
        file,
        ` (inside the compressed element at byte ${at})`,
      );
      const m = inner.element(0);
      if (m.type === MI.matrix) variable = inner.matrix(m);
    }
    if (variable) variables.set(variable.name, variable);
    at = e.next;
  }
  return variables;
}
