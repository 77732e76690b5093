import { readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../cli/files';

/**
 * Locks of `usam reproduce` (docs/run-directory.md, "Locks"): a run directory
 * while it trains, and the output directory while its plan and report are
 * written. The lock is proper-lockfile's directory `<path>.lock`, whose mtime
 * is the heartbeat (refreshed every `UPDATE_MS`); beside it `<path>.lock.json`
 * says who holds it. A holder whose process is gone on this host is taken
 * over at once; one on another host once its heartbeat is `STALE_MS` old.
 */

/** Heartbeat interval of a held lock. */
export const UPDATE_MS = 10_000;
/** A heartbeat this old means the holder is gone (any host). */
export const STALE_MS = 120_000;
/** proper-lockfile's smallest stale time: how long a dead holder's lock waits before it is taken over. */
const MIN_STALE_MS = 2_000;

/** What `<path>.lock.json` holds. */
export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  /** ISO time the lock was taken. */
  readonly started: string;
}

/** Who holds a lock, as far as can be told, and whether that process is gone. */
export interface LockHolder {
  readonly owner?: LockOwner;
  /** Milliseconds since the last heartbeat; undefined if the lock is gone. */
  readonly heartbeatAge?: number;
  /** The holder's process is gone (same host, no such pid) or its heartbeat is stale. */
  readonly dead: boolean;
}

const lockDir = (path: string) => `${path}.lock`;
export const ownerFile = (path: string) => `${path}.lock.json`;

/** Whether a process of this id runs on this host (EPERM: it does, as another user). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder of `path`'s lock. */
export async function lockHolder(path: string): Promise<LockHolder> {
  let heartbeatAge: number | undefined;
  try {
    heartbeatAge = Date.now() - (await stat(lockDir(path))).mtimeMs;
  } catch {
    return { dead: true };
  }
  let owner: LockOwner | undefined;
  try {
    const parsed = JSON.parse(await readFile(ownerFile(path), 'utf8')) as Partial<LockOwner>;
    if (Number.isInteger(parsed.pid) && typeof parsed.hostname === 'string') {
      owner = parsed as LockOwner;
    }
  } catch {
    // No owner file (taken a moment ago, or by an older usam): judged by the heartbeat alone.
  }
  const gone = owner !== undefined && owner.hostname === hostname() && !processExists(owner.pid);
  return { owner, heartbeatAge, dead: gone || heartbeatAge > STALE_MS };
}

/** The holder in words: `pid 123 on host a (heartbeat 3 s ago)`. */
export function describeHolder(holder: LockHolder): string {
  const who = holder.owner
    ? `pid ${holder.owner.pid} on host ${holder.owner.hostname}`
    : 'a process that left no owner file';
  const age =
    holder.heartbeatAge === undefined
      ? ''
      : ` (heartbeat ${Math.max(0, Math.round(holder.heartbeatAge / 1000))} s ago)`;
  return `${who}${age}`;
}

export type Lock =
  | { readonly acquired: true; release(): Promise<void>; readonly tookOver?: LockHolder }
  | { readonly acquired: false; readonly holder: LockHolder };

const sameOwner = (a: LockOwner | undefined, b: LockOwner | undefined) =>
  a?.pid === b?.pid && a?.hostname === b?.hostname && a?.started === b?.started;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes `path`'s lock, or says who holds it. A holder whose process is gone
 * (same host) is taken over at once (as soon as its heartbeat is 2 s old,
 * proper-lockfile's least stale time; a live holder refreshes it every 10 s,
 * so it never gets there); `tookOver` names it. `wait` retries a live holder
 * for that long (the short-held output-directory lock).
 */
export async function acquireLock(path: string, options: { wait?: number } = {}): Promise<Lock> {
  const until = Date.now() + (options.wait ?? 0);
  // A lock left by a dead holder (or with a stale heartbeat) is taken over, and said so.
  const left = await lockHolder(path);
  let tookOver: LockHolder | undefined =
    left.heartbeatAge !== undefined && left.dead ? left : undefined;
  for (;;) {
    let stale = STALE_MS;
    if (tookOver) {
      // Dead: its heartbeat has stopped; let it age past the least stale time, then take it.
      const age = (await lockHolder(path)).heartbeatAge ?? MIN_STALE_MS;
      if (age <= MIN_STALE_MS) await sleep(MIN_STALE_MS + 50 - age);
      // Still the same dead holder? Another taker may have got it meanwhile, and a live
      // lock's heartbeat is up to 10 s old, so a 2 s stale time must only meet the dead one.
      const now = await lockHolder(path);
      if (now.heartbeatAge !== undefined && (!now.dead || !sameOwner(now.owner, tookOver.owner))) {
        tookOver = undefined;
        continue;
      }
      stale = MIN_STALE_MS;
    }
    try {
      const release = await lockfile.lock(path, {
        lockfilePath: lockDir(path),
        realpath: false,
        stale,
        update: Math.min(UPDATE_MS, stale / 2),
      });
      const owner: LockOwner = {
        pid: process.pid,
        hostname: hostname(),
        started: new Date().toISOString(),
      };
      await writeFileAtomic(ownerFile(path), `${JSON.stringify(owner)}\n`);
      return {
        acquired: true,
        ...(tookOver && { tookOver }),
        release: async () => {
          await rm(ownerFile(path), { force: true });
          await release();
        },
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'ELOCKED') throw error;
    }
    const holder = await lockHolder(path);
    if (holder.dead && !tookOver) {
      tookOver = holder;
      continue;
    }
    if (Date.now() >= until) return { acquired: false, holder };
    tookOver = undefined;
    await sleep(Math.min(200, Math.max(1, until - Date.now())));
  }
}
