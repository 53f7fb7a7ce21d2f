// The rotation lock: `<key file>.lock`, created with O_EXCL, so that of several owners (and the
// CLI) sharing a key file only one writes a new key at a time.
//
// A lock is stale when its holder is gone: its pid is dead on this host, or its time is more than
// `staleMs` away from now (a holder on another host, or in another pid namespace, cannot be
// probed; a rotation holds the lock for milliseconds). "Away" either way: a lock dated in the
// future (the clock stepped back, or a planted file) would otherwise never turn stale. Anything at
// the lock path that is not a small regular file (a FIFO, a directory, a symbolic link, a huge
// file) is no lock this package made: it is broken, and removed like a stale one, without ever
// being read (a FIFO would block the read forever). A stale lock is renamed aside to a unique
// name before it is removed, and the name moved is checked to be the lock judged stale; if it is
// not (another process broke the same stale lock first and took a fresh one), it is linked back.
//
// Residual race, and why it is harmless: a third process can create a lock in the instant between
// that check and the link-back, or a holder can be judged stale while alive (paused for longer
// than `staleMs`, or a pid reused in another namespace). Then two processes hold the lock and two
// rotations happen in a row. Each is an atomic rename of a complete key file, and every owner
// keeps the keys it replaced for the grace period, so the worst outcome is one extra rotation.
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { OtpError } from '../errors.js';
import { errorCode, isAbsent, isRefusedSymlink, NOFOLLOW_READ_FLAGS } from '../internal/fs.js';
import { keyFileIoError } from './keyfile.js';

const DEFAULT_STALE_MS = 10_000;
const RETRY_MS = 25;
/** A lock this package writes is one short JSON line; anything larger is not one. */
const MAX_LOCK_BYTES = 1024;
/** Created with exactly this mode (fchmod, whatever the umask): owners and the CLI share one user. */
const LOCK_MODE = 0o600;

export interface LockOptions {
  /** Age after which a lock is taken from its holder. Default 10 s. */
  staleMs?: number;
  /**
   * How long (ms, by the monotonic clock) to wait for the lock before giving up with
   * ERR_OTP_KEY_IO. Default 3 × staleMs: a holder keeps it for milliseconds, and a dead one's lock
   * turns stale after staleMs, so waiting longer means the lock is being taken again and again.
   */
  timeoutMs?: number;
  /** Stops the wait: acquireLock rejects with the signal's reason. A lock already held is kept. */
  signal?: AbortSignal;
  /**
   * Give the lock file to this user and group: the CLI run as root gives it to the key file's
   * owner, so that owners can read it, and judge it, should the CLI be killed while holding it.
   */
  chown?: { uid: number; gid: number } | undefined;
}

export interface HeldLock {
  /** Removes the lock if it is still this holder's. Never throws. */
  release(): Promise<void>;
}

interface LockInfo {
  pid: number;
  host: string;
  time: number;
  token: string;
}

/** Stands for the content of a lock file this process cannot read: judged by its mtime alone. */
const UNREADABLE = '';

/** What a lock file held when looked at: its identity (to recognise it later) and whether it is stale. */
interface Observed {
  identity: string;
  stale: boolean;
  /** The holder's token, for a lock this package wrote. */
  token?: string | undefined;
}

function parseInfo(text: string): Partial<LockInfo> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Partial<LockInfo>) : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return errorCode(error) === 'EPERM';
  }
}

/**
 * What is at the lock path: a lock's stats and text, or, for anything that is not a small regular
 * file, its stats and no text (never read). Undefined if there is nothing.
 */
async function readLock(file: string): Promise<{ stats: Stats; text: string | undefined } | undefined> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, NOFOLLOW_READ_FLAGS); // never blocks on a FIFO, never follows a link
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size > MAX_LOCK_BYTES) return { stats, text: undefined };
    const buffer = Buffer.alloc(MAX_LOCK_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { stats, text: bytesRead > MAX_LOCK_BYTES ? undefined : buffer.toString('utf8', 0, bytesRead) };
  } catch (error) {
    if (isAbsent(error)) return undefined;
    // A symbolic link: not a lock, and not to be followed. A lock this process may not read (one
    // left by the CLI run as root and killed): its age still tells whether it is stale.
    if (isRefusedSymlink(error) || errorCode(error) === 'EACCES') {
      const stats = await fsp.lstat(file).catch(() => undefined);
      if (stats === undefined) return undefined;
      return { stats, text: stats.isFile() && !isRefusedSymlink(error) ? UNREADABLE : undefined };
    }
    throw keyFileIoError(file, 'read', error, 'the lock file');
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The lock as it is now, or undefined if there is none. */
async function observe(file: string, staleMs: number): Promise<Observed | undefined> {
  const found = await readLock(file);
  if (found === undefined) return undefined;
  const { stats, text } = found;
  // Not a lock this package made: broken, removed at once.
  if (text === undefined) return { identity: `${stats.dev}:${stats.ino}:${stats.mtimeMs}:broken`, stale: true };
  const info = parseInfo(text);
  // A lock without content is being written right now, or its writer died mid-write: its age
  // comes from the file itself.
  const time = typeof info?.time === 'number' ? info.time : stats.mtimeMs;
  const pid = info?.pid;
  // Only a positive pid names one process: kill(0 or -1, 0) would probe a group or everything.
  const dead = info?.host === hostname() && Number.isSafeInteger(pid) && (pid as number) > 0 && !isAlive(pid as number);
  const stale = dead || Math.abs(Date.now() - time) > staleMs;
  return { identity: `${stats.dev}:${stats.ino}:${stats.mtimeMs}:${text}`, stale, token: typeof info?.token === 'string' ? info.token : undefined };
}

/**
 * Removes the lock at `file` if it is the one `isIt` recognises. The lock is first renamed to a
 * unique name, so that what is checked is exactly what the rename moved: a lock that another
 * process created in the meantime is never removed. If the rename moved another lock than the
 * one meant (its holder took it in between), it is linked back, unless a third lock exists by now.
 */
async function removeIf(file: string, isIt: (moved: Observed | undefined) => boolean, staleMs: number): Promise<void> {
  const aside = `${file}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await fsp.rename(file, aside);
  } catch (error) {
    if (isAbsent(error)) return; // gone already
    throw keyFileIoError(file, 'removed', error, 'the lock file');
  }
  const moved = await observe(aside, staleMs).catch(() => undefined);
  if (moved !== undefined && !isIt(moved)) await fsp.link(aside, file).catch(() => undefined);
  await fsp.rm(aside, { force: true }).catch(() => undefined);
}

function breakStale(file: string, stale: Observed, staleMs: number): Promise<void> {
  return removeIf(file, (moved) => moved?.identity === stale.identity, staleMs);
}

async function create(file: string, info: LockInfo, chown: LockOptions['chown']): Promise<boolean> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'wx', LOCK_MODE);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw keyFileIoError(file, 'created', error, 'the lock file');
  }
  try {
    await handle.chmod(LOCK_MODE);
    if (chown !== undefined) await handle.chown(chown.uid, chown.gid);
    await handle.writeFile(`${JSON.stringify(info)}\n`);
    await handle.close();
    return true;
  } catch (error) {
    // A lock whose content could not be written (ENOSPC) would block the others until stale.
    await handle.close().catch(() => undefined);
    await fsp.rm(file, { force: true }).catch(() => undefined);
    throw keyFileIoError(file, 'created', error, 'the lock file');
  }
}

function aborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the wait for the lock was aborted');
}

/**
 * Takes the lock beside `keyFile`, waiting while another process holds it (at most until that
 * lock turns stale). Throws ERR_OTP_KEY_IO if the lock file cannot be created (read-only mount,
 * missing directory, permissions) or not within `timeoutMs`; the signal's reason once `signal`
 * is aborted.
 */
export async function acquireLock(keyFile: string, options: LockOptions = {}): Promise<HeldLock> {
  const file = `${keyFile}.lock`;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const timeoutMs = options.timeoutMs ?? 3 * staleMs;
  const signal = options.signal;
  const deadline = performance.now() + timeoutMs;
  const info: LockInfo = { pid: process.pid, host: hostname(), time: 0, token: randomBytes(12).toString('hex') };
  for (let first = true; ; first = false) {
    if (signal?.aborted) throw aborted(signal);
    if (!first && performance.now() >= deadline) {
      throw new OtpError('ERR_OTP_KEY_IO', `the lock file ${file} is held by another process and was not released within ${timeoutMs} ms`);
    }
    info.time = Date.now();
    if (await create(file, info, options.chown)) {
      if (!signal?.aborted) return { release: () => release(file, info.token, staleMs) };
      await release(file, info.token, staleMs);
      throw aborted(signal);
    }
    const held = await observe(file, staleMs);
    if (held?.stale) {
      await breakStale(file, held, staleMs);
      continue;
    }
    if (held === undefined) continue;
    // Jitter, so that waiters woken together do not collide again.
    await sleep(RETRY_MS + Math.random() * RETRY_MS, undefined, signal === undefined ? undefined : { signal }).catch((error: unknown) => {
      throw signal?.aborted ? aborted(signal) : error;
    });
  }
}

/** Removes this holder's lock; if it was judged stale and broken, the lock there now is someone else's and stays. */
async function release(file: string, token: string, staleMs: number): Promise<void> {
  await removeIf(file, (moved) => moved?.token === token, staleMs).catch(() => undefined);
}

/** Runs `task` holding the lock beside `keyFile`. */
export async function withLock<T>(keyFile: string, task: () => Promise<T>, options?: LockOptions): Promise<T> {
  const lock = await acquireLock(keyFile, options);
  try {
    return await task();
  } finally {
    await lock.release();
  }
}
