/** Decompresses zlib ('deflate') or gzip data; may be synchronous (node:zlib) or not. */
export type Inflate = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * Decompresses with the web platform's `DecompressionStream` (browsers and
 * Node ≥ 18): 'deflate' is the zlib format of MAT-file compressed elements,
 * 'gzip' that of the MNIST `.gz` files.
 */
export async function decompress(
  data: Uint8Array,
  format: 'deflate' | 'gzip',
): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** True when the bytes start with the gzip magic number 1f 8b. */
export const isGzip = (data: Uint8Array): boolean =>
  data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
