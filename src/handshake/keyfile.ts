// The key file: what it holds, how it is read, and how it is replaced without a reader ever
// seeing half of it. Every error names the file and what is wrong, never what the file holds.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';

import { isOtpError, OtpError } from '../errors.js';
import { TotpKey } from '../key.js';
import type { TotpOptions } from '../options.js';

/** 'base32': the secret on one line, what `oathtool --totp -b "$(cat FILE)"` reads; 'uri': an otpauth:// URI. */
export type KeyFileFormat = 'base32' | 'uri';

export interface LoadedKey {
  key: TotpKey;
  format: KeyFileFormat;
  /** The file version the key came from (see `signatureOf`). */
  signature: string;
  /** When that version was written, in ms since the Unix epoch. */
  mtimeMs: number;
  /** Its permission bits. */
  mode: number;
}

// An otpauth URI is at most 8192 characters (src/uri.ts); anything much larger is not a key file,
// and reading it whole would let a stray file cost memory.
const MAX_KEY_FILE_BYTES = 16 * 1024;
/** Only the owner's user can read the secret. */
export const DEFAULT_FILE_MODE = 0o600;
const URI_LABEL = 'totp-handshake';

/**
 * Identifies one version of a file: a rename-replace gives a new inode, an in-place rewrite a new
 * size or mtime, a chmod a new ctime (so a file made readable again is re-read).
 */
export function signatureOf(stats: fs.Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/** The signature that stands for "no file at the path". */
export const MISSING = 'missing';

/** Whether a filesystem error means "nothing at the path" rather than "cannot use what is there". */
export function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | null)?.code ?? 'an unknown error';
}

export function missingKeyFile(file: string): OtpError {
  return new OtpError('ERR_OTP_KEY_MISSING', `there is no key file at ${file}`);
}

/** ERR_OTP_KEY_IO for `file`, saying why in words for the common case of a missing directory. */
export function keyFileIoError(file: string, doing: string, error: unknown, noun = 'the key file'): OtpError {
  const code = errorCode(error);
  const why = code === 'ENOENT' ? `${path.dirname(file)} does not exist` : code;
  return new OtpError('ERR_OTP_KEY_IO', `${noun} ${file} cannot be ${doing} (${why})`, { cause: error });
}

function malformed(file: string, why: string): OtpError {
  return new OtpError('ERR_OTP_KEY_MALFORMED', `the key file ${file} does not hold a valid key: ${why}`);
}

/**
 * A key from a key file's text: a base32 secret on one line (with `totp`'s parameters, which the
 * line cannot carry) or an otpauth:// URI (with its own). Surrounding whitespace, a trailing
 * newline and a byte-order mark are ignored. Throws ERR_OTP_KEY_MALFORMED, naming `file`.
 */
export function parseKeyFile(text: string, file: string, totp?: TotpOptions): { key: TotpKey; format: KeyFileFormat } {
  const content = text.trim();
  if (content.length === 0) throw malformed(file, 'it is empty');
  if (/[\r\n]/.test(content)) throw malformed(file, 'it holds more than one line');
  const format: KeyFileFormat = /^otpauth:/i.test(content) ? 'uri' : 'base32';
  try {
    return { key: format === 'uri' ? TotpKey.fromUri(content) : TotpKey.fromBase32(content, totp), format };
  } catch (error) {
    // The core's messages give positions and lengths, never the text.
    if (isOtpError(error) && error.code !== 'ERR_OTP_OPTIONS') throw malformed(file, error.message);
    throw error;
  }
}

/** The file content for `key`: one line, ending in a newline (`$(cat FILE)` drops it). */
export function formatKeyFile(key: TotpKey, format: KeyFileFormat): Buffer {
  return Buffer.from(`${format === 'uri' ? key.toUri(URI_LABEL) : key.toBase32()}\n`, 'utf8');
}

// O_NONBLOCK: opening a FIFO put at the path must not hang the caller (for regular files it changes nothing).
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
// Files an owner reads (the key file, the lock): no symbolic link at the path is followed
// (O_NOFOLLOW is undefined on Windows, which has none to refuse).
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

function untrusted(file: string, why: string): OtpError {
  return new OtpError(
    'ERR_OTP_KEY_MALFORMED',
    `the key file ${file} is not trusted: ${why}; an owner uses only a regular file of its own user that no other user can write`,
  );
}

/**
 * Whether an owner may trust the file it opened: owned by this process's effective uid and not
 * writable by group or others. Anyone else who can write in the key directory could otherwise
 * plant a key the owner adopts and serves. No check where there are no uids (Windows).
 */
function checkOwn(stats: fs.Stats, file: string): void {
  const euid = process.geteuid?.();
  if (euid === undefined) return;
  if (stats.uid !== euid) throw untrusted(file, `it is owned by uid ${stats.uid}, not by this process's uid ${euid}`);
  const writable = stats.mode & 0o022;
  if (writable !== 0) {
    const who = writable === 0o022 ? 'group and others' : writable === 0o020 ? 'group' : 'others';
    throw untrusted(file, `it is writable by ${who} (mode ${formatMode(stats.mode)})`);
  }
}

/** A buffer for the file's content, or a refusal before anything is read. */
function bufferFor(stats: fs.Stats, file: string, own = false): Buffer {
  if (!stats.isFile()) throw malformed(file, 'it is not a regular file');
  if (own) checkOwn(stats, file);
  if (stats.size > MAX_KEY_FILE_BYTES) throw malformed(file, `it is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  // One spare byte: a file that grew after the fstat is seen as too large, not cut short.
  return Buffer.alloc(stats.size + 1);
}

function decode(buffer: Buffer, length: number, stats: fs.Stats, file: string, totp: TotpOptions | undefined): LoadedKey {
  try {
    if (length > stats.size) throw malformed(file, 'it changed while being read');
    const { key, format } = parseKeyFile(buffer.toString('utf8', 0, length), file, totp);
    return { key, format, signature: signatureOf(stats), mtimeMs: stats.mtimeMs, mode: stats.mode & 0o777 };
  } finally {
    buffer.fill(0);
  }
}

function readError(file: string, error: unknown, own = false): OtpError {
  if (isOtpError(error)) return error;
  if (own && isRefusedSymlink(error)) return untrusted(file, 'it is a symbolic link');
  return isAbsent(error) ? missingKeyFile(file) : keyFileIoError(file, 'read', error);
}

/**
 * Reads and parses the key file (following symlinks). The signature comes from the descriptor the
 * content was read from, so it names exactly the version parsed. Errors name `shownAs`.
 *
 * `own` (KeyOwner's reads): the file must be a regular file at the path itself (no symbolic link
 * at the last component), owned by this process's effective uid and not writable by group or
 * others; any other is refused with ERR_OTP_KEY_MALFORMED saying why.
 */
export async function readKeyFile(file: string, totp?: TotpOptions, shownAs = file, own = false): Promise<LoadedKey> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, own ? NOFOLLOW_READ_FLAGS : READ_FLAGS);
    const stats = await handle.stat();
    const buffer = bufferFor(stats, shownAs, own);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return decode(buffer, bytesRead, stats, shownAs, totp);
  } catch (error) {
    throw readError(shownAs, error, own);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** `readKeyFile` for the one place that must not wait: KeyOwner's check of a code that failed. */
export function readKeyFileSync(file: string, totp?: TotpOptions, own = false): LoadedKey {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, own ? NOFOLLOW_READ_FLAGS : READ_FLAGS);
    const stats = fs.fstatSync(fd);
    const buffer = bufferFor(stats, file, own);
    const bytesRead = fs.readSync(fd, buffer, 0, buffer.length, 0);
    return decode(buffer, bytesRead, stats, file, totp);
  } catch (error) {
    throw readError(file, error, own);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** A unique name beside `file`, hidden, for a temp or claimed copy. */
export function siblingName(file: string, purpose: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.${purpose}`);
}

// A write in progress takes milliseconds; a file of ours this old was left by a killed process.
const LEFTOVER_AGE_MS = 60_000;

function leftoverPattern(file: string): RegExp {
  const base = path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(\\.${base}\\.[0-9a-f]{12}\\.(tmp|claimed)|${base}\\.lock\\.[0-9a-f]{12}\\.stale)$`);
}

/**
 * Removes what a process killed mid-write or mid-read left beside `file`: temp and claimed copies
 * (which hold a secret) and stale locks set aside. Only names this package makes, only old ones:
 * old by ctime as well as mtime, because a reader's claim is a rename, which keeps the key file's
 * mtime and sets only the ctime, and a claim in progress must not be taken for a leftover.
 * Best effort. Run after each write and when an owner starts.
 */
export async function removeLeftovers(file: string): Promise<void> {
  const dir = path.dirname(file);
  const pattern = leftoverPattern(file);
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const now = Date.now();
  for (const name of names.filter((entry) => pattern.test(entry))) {
    const target = path.join(dir, name);
    const stats = await fsp.lstat(target).catch(() => undefined);
    if (stats !== undefined && now - Math.max(stats.mtimeMs, stats.ctimeMs) > LEFTOVER_AGE_MS) await fsp.rm(target, { force: true }).catch(() => undefined);
  }
}

/** Makes a rename durable. Best effort: some filesystems refuse fsync on a directory, and the rename is already visible. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r').catch(() => undefined);
  if (handle === undefined) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

/**
 * Replaces `file` with `key` atomically: a temp file in the same directory is created with
 * O_EXCL and given `mode` before the secret is written (fchmod, so the umask cannot widen or
 * narrow it), fsynced, renamed over the target, and the directory fsynced. A reader sees the old
 * file or the new one, never a mix; on any failure the temp file is removed and the target is
 * untouched. Resolves to the new file's stats (undefined if another writer replaced it at once).
 * Throws ERR_OTP_KEY_IO.
 */
export async function writeKeyFile(file: string, key: TotpKey, format: KeyFileFormat, mode: number): Promise<fs.Stats | undefined> {
  const temp = siblingName(file, 'tmp');
  const content = formatKeyFile(key, format);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
    await handle.chmod(mode);
    await handle.writeFile(content);
    await handle.sync();
    const { ino } = await handle.stat();
    await handle.close();
    handle = undefined;
    await fsp.rename(temp, file);
    await syncDirectory(path.dirname(file));
    const stats = await fsp.stat(file).catch(() => undefined);
    await removeLeftovers(file);
    return stats?.ino === ino ? stats : undefined;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw keyFileIoError(file, 'written', error);
  } finally {
    content.fill(0);
  }
}

/**
 * Deletes `file` if it holds the key `keyId`; a newer key (another owner's) is left alone.
 * Throws ERR_OTP_KEY_IO if it cannot be deleted.
 */
export async function removeKeyFileIfHolds(file: string, keyId: string, totp?: TotpOptions): Promise<void> {
  const found = await readKeyFile(file, totp).catch(() => undefined);
  if (found === undefined) return;
  const holds = found.key.id === keyId;
  found.key.destroy();
  if (!holds) return;
  await fsp.rm(file, { force: true }).catch((error: unknown) => {
    throw keyFileIoError(file, 'deleted', error);
  });
}
