import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../cli/files';

/** `writeFileAtomic`, creating the directory first. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, data);
}

/** Pretty-printed JSON, written with {@link writeAtomic}. */
export const writeJson = (path: string, value: unknown): Promise<void> =>
  writeAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
