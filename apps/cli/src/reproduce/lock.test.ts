import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, describeHolder, lockHolder, ownerFile, STALE_MS } from './lock';

/** A pid that just exited (not reused in the instant the test takes). */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
afterAll(() => {
  live.kill();
});

/** A lock left as a holder leaves it: the lock directory, and the owner file naming `pid` on `host`. */
async function leftLock(path: string, pid: number, host = hostname(), ageMs = 0) {
  await mkdir(`${path}.lock`);
  await writeFile(ownerFile(path), JSON.stringify({ pid, hostname: host, started: 'then' }));
  const t = (Date.now() - ageMs) / 1000;
  await utimes(`${path}.lock`, t, t);
}

describe('reproduce locks: pid + host + heartbeat', () => {
  it('records who holds it, and a second taker is refused naming the live holder', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'usam-lock-')), 'run');
    const first = await acquireLock(path);
    expect(first.acquired).toBe(true);
    const holder = await lockHolder(path);
    expect(holder.owner).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(holder.dead).toBe(false);
    const second = await acquireLock(path);
    if (second.acquired) throw new Error('a held lock was taken twice');
    expect(describeHolder(second.holder)).toMatch(
      new RegExp(`^pid ${process.pid} on host ${hostname()} \\(heartbeat \\d+ s ago\\)$`),
    );
    if (first.acquired) await first.release();
    expect(existsSync(ownerFile(path))).toBe(false);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('takes over at once from a holder whose process is gone on this host, saying so', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'usam-lock-')), 'run');
    const pid = deadPid();
    // A fresh heartbeat: the old rule (stale after 2 min) would wait here for two minutes.
    await leftLock(path, pid);
    const lock = await acquireLock(path);
    expect(lock.acquired).toBe(true);
    if (!lock.acquired) return;
    expect(lock.tookOver?.owner?.pid).toBe(pid);
    expect((await lockHolder(path)).owner?.pid).toBe(process.pid);
    await lock.release();
  });

  it('waits for a live holder, here or on another host, and takes a stale heartbeat', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usam-lock-'));
    await leftLock(join(dir, 'here'), live.pid!);
    const here = await acquireLock(join(dir, 'here'));
    expect(here.acquired).toBe(false);
    // Another host's pid cannot be checked: its heartbeat decides.
    await leftLock(join(dir, 'there'), deadPid(), 'elsewhere');
    expect((await acquireLock(join(dir, 'there'))).acquired).toBe(false);
    await leftLock(join(dir, 'stale'), live.pid!, 'elsewhere', STALE_MS + 60_000);
    const stale = await acquireLock(join(dir, 'stale'));
    expect(stale.acquired).toBe(true);
    if (stale.acquired) {
      expect(stale.tookOver?.owner?.hostname).toBe('elsewhere');
      await stale.release();
    }
  });

  it('does not take a live lock that replaced the dead one while it waited', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'usam-lock-')), 'run');
    await leftLock(path, deadPid());
    const taking = acquireLock(path);
    await new Promise((r) => setTimeout(r, 500));
    // Another taker got it first: a live holder, its heartbeat 5 s old (it refreshes every 10 s).
    await rm(`${path}.lock`, { recursive: true });
    await leftLock(path, live.pid!, hostname(), 5_000);
    const lock = await taking;
    expect(lock.acquired).toBe(false);
    expect((await lockHolder(path)).owner?.pid).toBe(live.pid);
  });
});
