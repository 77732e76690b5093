import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar';
import type { DatasetInfo, SourceFile } from './catalogue';
import type { NamedBytes } from './cifar-binary';
import { isGzip } from './compression';
import { DatasetError } from './errors';

/** The subset of `fetch` used for downloads (inject one to test or to add a proxy). */
export type FetchLike = (url: string) => Promise<Response>;

/** Where the files are and how to get them. */
export interface FileOptions {
  /**
   * A directory that already holds the files (official names; for CIFAR the
   * `.tar.gz` archive or its extracted folder). Only it is read: no cache, no
   * download. Its files are checked against the official MD5 checksums.
   */
  readonly dataDir?: string;
  /** Cache root; files go to `<cacheDir>/<dataset>/`. Default: `defaultCacheDir()`. */
  readonly cacheDir?: string;
  /** Download missing files into the cache (default true). */
  readonly download?: boolean;
  /** The `fetch` used for downloads. Default: the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Download `<baseUrl>/<file>` instead of the official URLs (a mirror). */
  readonly baseUrl?: string;
  /**
   * Expected MD5 per file name, replacing the official ones (a repacked
   * mirror); `false` skips checksums altogether.
   */
  readonly checksums?: false | Readonly<Record<string, string>>;
  /** Progress lines ("downloading …"). */
  readonly log?: (line: string) => void;
}

/**
 * The cache root: `$USAM_CACHE` if set, else `$XDG_CACHE_HOME/usam`, else
 * `~/.cache/usam`.
 */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.USAM_CACHE) return env.USAM_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'usam');
}

/** MD5 of a file, hex, streamed. */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const exists = async (path: string): Promise<boolean> => {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
};

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const path of paths) if (await exists(path)) return path;
  return undefined;
}

const expectedMd5 = (source: SourceFile, options: FileOptions): string | undefined =>
  options.checksums === false ? undefined : (options.checksums?.[source.file] ?? source.md5);

const urlsOf = (source: SourceFile, options: FileOptions): readonly string[] =>
  options.baseUrl ? [`${options.baseUrl.replace(/\/+$/, '')}/${source.file}`] : source.urls;

/** How to get a file, for messages: "<url> (md5 …)". */
const whereToGet = (source: SourceFile, options: FileOptions): string => {
  const md5 = expectedMd5(source, options);
  return `${urlsOf(source, options)[0]}${md5 ? ` (md5 ${md5})` : ''}`;
};

async function verify(path: string, source: SourceFile, options: FileOptions, what: string) {
  const expected = expectedMd5(source, options);
  if (!expected) return;
  const actual = await md5File(path);
  if (actual !== expected.toLowerCase()) {
    const size = (await stat(path)).size;
    throw new DatasetError(
      `${what}: ${path} has md5 ${actual} (${size} bytes), expected ${expected}: the file is truncated, corrupt or not the official one; replace it with ${whereToGet(source, options)}.`,
    );
  }
}

/**
 * Downloads `source` into `dir` atomically: the body goes to a temporary file
 * while its MD5 is computed; only a file with the right checksum is renamed to
 * its final name, so an interrupted or corrupt download never becomes a file
 * that is later trusted. Mirrors are tried in turn.
 */
async function download(
  source: SourceFile,
  dir: string,
  options: FileOptions,
  what: string,
): Promise<string> {
  const fetchFn = options.fetch ?? ((url: string) => fetch(url));
  await mkdir(dir, { recursive: true });
  const target = join(dir, source.file);
  const expected = expectedMd5(source, options)?.toLowerCase();
  const failures: string[] = [];
  for (const url of urlsOf(source, options)) {
    const temporary = join(
      dir,
      `.${source.file}.${process.pid}.${randomBytes(4).toString('hex')}.part`,
    );
    try {
      options.log?.(`${what}: downloading ${url} to ${dir}`);
      const response = await fetchFn(url);
      if (!response.ok || !response.body) {
        throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
      }
      const hash = createHash('md5');
      let bytes = 0;
      const handle = await open(temporary, 'w');
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          bytes += chunk.length;
          await handle.write(chunk);
        }
      } finally {
        await handle.close();
      }
      const actual = hash.digest('hex');
      if (expected && actual !== expected) {
        throw new DatasetError(
          `${what}: ${source.file} downloaded from ${url} has md5 ${actual} (${bytes} bytes), expected ${expected}: the download is corrupt or the file changed; nothing was kept. Try again, or get the file yourself and put it in ${dir}.`,
        );
      }
      await rename(temporary, target);
      return target;
    } catch (error) {
      await rm(temporary, { force: true });
      if (error instanceof DatasetError) throw error;
      const cause = (error as Error & { cause?: { message?: string } }).cause?.message;
      failures.push(`${url}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`);
    }
  }
  throw new DatasetError(
    `${what}: could not download ${source.file} (${failures.join('; ')}); offline? Get ${whereToGet(source, options)} yourself and put it in ${dir}, or pass dataDir: the directory that holds it.`,
  );
}

/** Reads the wanted members of a (gzipped) tar archive into memory. */
async function readArchiveMembers(
  archive: string,
  members: readonly string[],
  what: string,
): Promise<Map<string, Uint8Array>> {
  const wanted = new Set(members);
  const chunks = new Map<string, Buffer[]>();
  const clean = (path: string) => path.replace(/^(\.\/)+/, '');
  try {
    await tar.t({
      file: archive,
      strict: true,
      filter: (path) => wanted.has(clean(path)),
      onReadEntry: (entry) => {
        const parts: Buffer[] = [];
        chunks.set(clean(entry.path), parts);
        entry.on('data', (chunk: Buffer) => parts.push(chunk));
      },
    });
  } catch (error) {
    throw new DatasetError(
      `${what}: cannot read the archive ${archive} (${(error as Error).message}): it is truncated or corrupt; delete it and download it again.`,
    );
  }
  const missing = members.filter((m) => !chunks.has(m));
  if (missing.length > 0) {
    throw new DatasetError(
      `${what}: the archive ${archive} has no ${missing.join(', ')}: not the official archive; delete it and download it again.`,
    );
  }
  const out = new Map([...chunks].map(([path, parts]) => [path, Buffer.concat(parts)]));
  // Something in node-tar keeps onReadEntry's closure reachable after the listing ends
  // (measured: the whole CIFAR-10 archive's data stayed alive); emptying `chunks` frees it.
  chunks.clear();
  return out;
}

function gunzip(bytes: Uint8Array, path: string, what: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new DatasetError(
      `${what}: cannot decompress ${path} (${(error as Error).message}): the file is truncated or corrupt; delete it and download it again.`,
    );
  }
}

/** Where one source's data will be read from. */
type Located =
  | { readonly kind: 'members'; readonly paths: ReadonlyMap<string, string> }
  | { readonly kind: 'archive' | 'file'; readonly path: string };

async function locate(source: SourceFile, dir: string): Promise<Located | undefined> {
  if (source.members) {
    const paths = new Map<string, string>();
    for (const member of source.members) {
      const path = await firstExisting([join(dir, member), join(dir, basename(member))]);
      if (path) paths.set(member, path);
    }
    if (paths.size === source.members.length) return { kind: 'members', paths };
    const archive = join(dir, source.file);
    return (await exists(archive)) ? { kind: 'archive', path: archive } : undefined;
  }
  // Gzipped files may also be present decompressed (no checksum then).
  const path = await firstExisting(
    source.file.endsWith('.gz')
      ? [join(dir, source.file), join(dir, source.file.slice(0, -3))]
      : [join(dir, source.file)],
  );
  return path ? { kind: 'file', path } : undefined;
}

/**
 * Makes sure every official file of `info` is present (downloading into the
 * cache when allowed): the directory and the paths that will be read. Files in
 * a `dataDir` are checked against their MD5 checksums; downloads always are.
 */
export async function prepareFiles(
  info: DatasetInfo,
  options: FileOptions = {},
): Promise<{ dir: string; paths: string[] }> {
  const { dir, located } = await locateAll(info, options);
  const paths = [...located.values()].flatMap((where) =>
    where.kind === 'members' ? [...where.paths.values()] : [where.path],
  );
  return { dir, paths };
}

async function locateAll(
  info: DatasetInfo,
  options: FileOptions,
): Promise<{ dir: string; located: Map<SourceFile, Located> }> {
  const what = info.name;
  const userDir = options.dataDir;
  const dir = userDir ?? join(options.cacheDir ?? defaultCacheDir(), info.name);
  const located = new Map<SourceFile, Located>();
  const missing: SourceFile[] = [];
  for (const source of info.files) {
    const found = await locate(source, dir);
    if (found) located.set(source, found);
    else missing.push(source);
  }
  const canDownload = userDir === undefined && options.download !== false;
  if (missing.length > 0 && !canDownload) {
    const names = missing.map((s) =>
      s.members ? `${s.file} (or its extracted ${s.members.join(', ')})` : s.file,
    );
    const reason =
      userDir !== undefined
        ? 'dataDir is only read, never downloaded into'
        : 'downloading is off (download: false)';
    throw new DatasetError(
      `${what}: ${names.join(', ')} not found in ${dir} and ${reason}. Get ${missing.map((s) => whereToGet(s, options)).join(', ')} and put ${missing.length > 1 ? 'them' : 'it'} in ${dir}.`,
    );
  }
  for (const source of missing) {
    const path = await download(source, dir, options, what);
    located.set(source, { kind: source.members ? 'archive' : 'file', path });
  }
  if (userDir !== undefined) {
    for (const [source, where] of located) {
      const official = where.kind !== 'members' && basename(where.path) === source.file;
      if (official) await verify(where.path, source, options, what);
    }
  }
  return { dir, located };
}

/**
 * The data files of `info`, read into memory: archive members by their path in
 * the archive, other files by their official name (decompressed if gzipped).
 */
export async function readDataFiles(
  info: DatasetInfo,
  options: FileOptions = {},
): Promise<{ dir: string; files: Map<string, NamedBytes> }> {
  const { dir, located } = await locateAll(info, options);
  const files = new Map<string, NamedBytes>();
  for (const [source, where] of located) {
    if (where.kind === 'members') {
      for (const [member, path] of where.paths) {
        files.set(member, { file: path, bytes: await readFile(path) });
      }
    } else if (where.kind === 'archive') {
      for (const [member, bytes] of await readArchiveMembers(
        where.path,
        source.members!,
        info.name,
      )) {
        files.set(member, { file: `${where.path}:${member}`, bytes });
      }
    } else {
      const raw = await readFile(where.path);
      const bytes = isGzip(raw) ? gunzip(raw, where.path, info.name) : raw;
      files.set(source.file, { file: where.path, bytes });
    }
  }
  return { dir, files };
}
