// File-system helpers shared by the key file, the lock, the watcher and the socket: error
// classification, the flags that refuse links and FIFOs, versions of a path, durable renames.
// Nothing here knows what a key is.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';

/** Whether a filesystem error means "nothing at the path" rather than "cannot use what is there". */
export function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The error's errno code (EACCES, ENOSPC, ...), or a phrase when it has none. */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | null)?.code ?? 'an unknown error';
}

// O_NONBLOCK: opening a FIFO put at the path must not hang the caller (for regular files it changes nothing).
export const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
/**
 * For files an owner reads (the key file, the lock): no symbolic link at the last component is
 * followed (O_NOFOLLOW is undefined on Windows, which has none to refuse).
 */
export const NOFOLLOW_READ_FLAGS = READ_FLAGS | (fs.constants.O_NOFOLLOW ?? 0);

/** Whether an open with O_NOFOLLOW failed on a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD), EFTYPE (NetBSD). */
export function isRefusedSymlink(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ELOOP' || code === 'EMLINK' || code === 'EFTYPE';
}

/** Permission bits as `ls` and chmod write them: 0644. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * A version of whatever is at a path: a rename-replace gives a new inode, an in-place rewrite a
 * new size or mtime, a chmod or chown a new ctime (so a file made readable again is looked at again).
 */
export type PathVersion = string;

/** The version that stands for "nothing at the path". */
export const ABSENT: PathVersion = 'absent';

export function versionOf(stats: fs.Stats): PathVersion {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/**
 * The version of a path that could not be stat'ed: ABSENT, or the error, which is a version of
 * its own (EACCES on a directory, ELOOP), so that it is reported once, and again only if it
 * turns into a different one.
 */
export function versionOfFailure(error: unknown): PathVersion {
  return isAbsent(error) ? ABSENT : `error:${errorCode(error)}`;
}

/** A unique hidden name beside `file`, for a temp or claimed copy: `.NAME.<12 hex>.PURPOSE`. */
export function siblingName(file: string, purpose: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.${purpose}`);
}

/** Makes a rename durable. Best effort: some filesystems refuse fsync on a directory, and the rename is already visible. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r').catch(() => undefined);
  if (handle === undefined) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

/** This process's effective uid, or undefined where there are no uids (Windows). */
export function effectiveUid(): number | undefined {
  return process.geteuid?.();
}

// Linux statfs(2) f_type of the filesystems that answer a stat from local memory or a local
// disk: tmpfs, ramfs, ext2/3/4, xfs, btrfs, overlayfs (containers), f2fs, zfs.
const LOCAL_FILESYSTEMS = new Set([0x01021994, 0x858458f6, 0xef53, 0x58465342, 0x9123683e, 0x794c7630, 0xf2f52010, 0x2fc12fc1]);

/**
 * Whether a stat in `dir` can be waited for on a request path: true on Linux only for the local
 * filesystems above (not NFS, CIFS, FUSE, 9p or any other that may answer over a network), and
 * true on other systems, whose statfs types are not listed here.
 */
export async function isLocalFileSystem(dir: string): Promise<boolean> {
  if (process.platform !== 'linux') return true;
  const stats = await fsp.statfs(dir).catch(() => undefined);
  return stats !== undefined && LOCAL_FILESYSTEMS.has(Number(stats.type));
}
