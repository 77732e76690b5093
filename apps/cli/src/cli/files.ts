import { readFile, stat } from 'node:fs/promises';
import writeFileAtomicLibrary from 'write-file-atomic';
import { UsageError } from './errors';

/**
 * Writes `data` to `path` atomically (write-file-atomic: a temporary file beside
 * it, fsynced, then renamed over it), so a crash mid-write leaves the previous
 * file whole.
 */
export const writeFileAtomic = (path: string, data: string | Uint8Array): Promise<void> =>
  writeFileAtomicLibrary(
    path,
    typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  );

/** `writeFileAtomic` of pretty-printed JSON. */
export const writeJsonAtomic = (path: string, value: unknown): Promise<void> =>
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);

/** What is at `path`: nothing, a directory, or something else (a file, a socket…). */
export async function pathKind(path: string): Promise<'none' | 'directory' | 'other'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return 'none';
    throw error;
  }
}

/** Refuses an output directory path that names an existing file, before any work. */
export async function requireDirectoryPath(option: string, path: string): Promise<void> {
  if ((await pathKind(path)) === 'other') {
    throw new UsageError(
      `${option} '${path}' is a file, not a directory; pass a directory path (new or existing).`,
    );
  }
}

/** Reads and parses a JSON file the user named, with one-line errors. */
export async function readJsonFile(option: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `${option} '${path}' does not exist; check the path.`
        : `${option} '${path}' cannot be read (${code ?? String(error)}); check the path and its permissions.`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `${option} '${path}' is not valid JSON (${(error as Error).message}); fix the file.`,
    );
  }
}
