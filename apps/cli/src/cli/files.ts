import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { RunError, UsageError } from './errors';

/**
 * Writes `data` to `path` and fsyncs it. Node's `FileHandle.writeFile` loops
 * over short writes and throws ENOSPC when the disk fills, so the file is
 * either whole or the call fails (write-file-atomic 8 ignored a short write
 * and committed the truncated file: docs/run-directory.md).
 */
export async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file beside it, written
 * whole and fsynced, then renamed over it; a crash or a full disk leaves the
 * previous file whole.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFileSynced(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** `writeFileAtomic` of pretty-printed JSON. */
export const writeJsonAtomic = (path: string, value: unknown): Promise<void> =>
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);

/** Makes a directory's entries (renames, new files) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether `error` says the disk (or the quota) is full. */
export const isDiskFull = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

/** Bytes free for this user on the file system holding `path` (undefined if unknown). */
export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** Bytes as the user reads them: "1.3 MB". */
export const formatBytes = (bytes: number): string =>
  bytes < 1e3
    ? `${bytes} B`
    : bytes < 1e6
      ? `${(bytes / 1e3).toFixed(1)} kB`
      : bytes < 1e9
        ? `${(bytes / 1e6).toFixed(1)} MB`
        : `${(bytes / 1e9).toFixed(2)} GB`;

/**
 * The one-line error of a full disk under an output directory: which option,
 * what was being written, the space it needs and the space there is. Exit
 * code 1 (not the user's input; freeing space and rerunning fixes it).
 */
export async function diskFullError(
  option: string,
  dir: string,
  what: string,
  needed: number,
  cause: unknown,
): Promise<RunError> {
  const free = await freeBytes(dir);
  const have = free === undefined ? '' : `, ${formatBytes(free)} free`;
  return new RunError(
    `${option} '${dir}': no space left on the device writing ${what} (needs ${formatBytes(needed)}${have}); free space or pass another ${option}, then rerun.`,
    { cause },
  );
}

/** What is at `path`: nothing, a directory, or something else (a file, a socket…). */
export async function pathKind(path: string): Promise<'none' | 'directory' | 'other'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return 'none';
    throw error;
  }
}

/** What a file-system error code means for a path the user gave, in words. */
const PATH_PROBLEMS: Record<string, string> = {
  ENOTDIR: 'a part of it is a file, not a directory',
  ENAMETOOLONG: 'it (or a name in it) is too long for the file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ELOOP: 'it has a loop of symbolic links',
  EEXIST: 'a part of it is a file, not a directory',
};

/**
 * A file-system error on a path the user gave, as a one-line `UsageError`
 * (exit 2) naming the option; other errors (a full disk, I/O) are returned as they are.
 */
export function pathError(option: string, path: string, error: unknown): unknown {
  const code = (error as { code?: string } | null)?.code;
  const problem = code === undefined ? undefined : PATH_PROBLEMS[code];
  if (problem === undefined) return error;
  const shown = path.length > 80 ? `${path.slice(0, 60)}…(${path.length} characters)` : path;
  return new UsageError(`${option} '${shown}': ${problem} (${code}); pass another ${option}.`, {
    cause: error,
  });
}

/** Refuses an output directory path that names an existing file, before any work. */
export async function requireDirectoryPath(option: string, path: string): Promise<void> {
  let kind: Awaited<ReturnType<typeof pathKind>>;
  try {
    kind = await pathKind(path);
  } catch (error) {
    throw pathError(option, path, error);
  }
  if (kind === 'other') {
    throw new UsageError(
      `${option} '${path}' is a file, not a directory; pass a directory path (new or existing).`,
    );
  }
}

/**
 * Creates an output directory (and its parents) and checks it is writable,
 * before any work: a path the user cannot write to is a one-line error naming the option.
 */
export async function makeOutputDirectory(option: string, path: string): Promise<void> {
  await requireDirectoryPath(option, path);
  try {
    await mkdir(path, { recursive: true });
    await access(path, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw pathError(option, path, error);
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
