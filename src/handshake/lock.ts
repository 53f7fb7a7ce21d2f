// The rotation lock: `<key file>.lock`, created with O_EXCL, so that of several owners (and the
// CLI) sharing a key file only one writes a new key at a time.
//
// A lock is stale when its holder is gone: its pid is dead on this host, or it is older than
// `staleMs` (a holder on another host, or in another pid namespace, cannot be probed; a rotation
// holds the lock for milliseconds). A stale lock is renamed aside to a unique name before it is
// removed, and the name moved is checked to be the lock judged stale; if it is not (another
// process broke the same stale lock first and took a fresh one), it is linked back.
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
import { setTimeout as sleep } from 'node:timers/promises';

import { errorCode, isAbsent, keyFileIoError } from './keyfile.js';

const DEFAULT_STALE_MS = 10_000;
const RETRY_MS = 25;

export interface LockOptions {
  /** Age after which a lock is taken from its holder. Default 10 s. */
  staleMs?: number;
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

/** What a lock file held when looked at: its identity (to recognise it later) and whether it is stale. */
interface Observed {
  identity: string;
  stale: boolean;
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

/** The lock as it is now, or undefined if there is none. */
async function observe(file: string, staleMs: number): Promise<Observed | undefined> {
  let text: string;
  let stats: Stats;
  try {
    [text, stats] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw keyFileIoError(file, 'read', error, 'the lock file');
  }
  const info = parseInfo(text);
  // A lock without content is being written right now, or its writer died mid-write: its age
  // comes from the file itself.
  const time = typeof info?.time === 'number' ? info.time : stats.mtimeMs;
  const pid = info?.pid;
  // Only a positive pid names one process: kill(0 or -1, 0) would probe a group or everything.
  const dead = info?.host === hostname() && Number.isSafeInteger(pid) && (pid as number) > 0 && !isAlive(pid as number);
  return { identity: `${stats.ino}:${stats.mtimeMs}:${text}`, stale: dead || Date.now() - time > staleMs };
}

async function breakStale(file: string, stale: Observed, staleMs: number): Promise<void> {
  const aside = `${file}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await fsp.rename(file, aside);
  } catch (error) {
    if (isAbsent(error)) return; // someone else broke it first
    throw keyFileIoError(file, 'removed', error, 'the lock file');
  }
  const moved = await observe(aside, staleMs).catch(() => undefined);
  if (moved !== undefined && moved.identity !== stale.identity) {
    // Not the lock judged stale: a live holder's. Put it back unless a third lock exists by now.
    await fsp.link(aside, file).catch(() => undefined);
  }
  await fsp.rm(aside, { force: true }).catch(() => undefined);
}

async function create(file: string, info: LockInfo): Promise<boolean> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'wx', 0o644);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw keyFileIoError(file, 'created', error, 'the lock file');
  }
  try {
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

/**
 * Takes the lock beside `keyFile`, waiting while another process holds it (at most until that
 * lock turns stale). Throws ERR_OTP_KEY_IO if the lock file cannot be created (read-only mount,
 * missing directory, permissions).
 */
export async function acquireLock(keyFile: string, options: LockOptions = {}): Promise<HeldLock> {
  const file = `${keyFile}.lock`;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const info: LockInfo = { pid: process.pid, host: hostname(), time: 0, token: randomBytes(12).toString('hex') };
  for (;;) {
    info.time = Date.now();
    if (await create(file, info)) return { release: () => release(file, info.token) };
    const held = await observe(file, staleMs);
    if (held?.stale) await breakStale(file, held, staleMs);
    // Jitter, so that waiters woken together do not collide again.
    else if (held !== undefined) await sleep(RETRY_MS + Math.random() * RETRY_MS);
  }
}

async function release(file: string, token: string): Promise<void> {
  // If this holder was judged stale and its lock broken, the lock there now is someone else's.
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  if (parseInfo(text)?.token === token) await fsp.rm(file, { force: true }).catch(() => undefined);
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
