// Types for `mat-for-js` (no types of its own), used by the tests as an independent MAT-file reader.
declare module 'mat-for-js' {
  export function read(data: ArrayBuffer): { header: string; data: Record<string, unknown> };
}
