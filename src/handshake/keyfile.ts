// The key file: what it holds, how it is read, and how it is replaced without a reader ever
// seeing half of it, and without ever replacing a file that is not a key file. Every error
// names the file and what is wrong, never what the file holds.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';

import { decodeBase32 } from '../base32.js';
import { isOtpError, OtpError } from '../errors.js';
import {
  effectiveUid,
  errorCode,
  formatMode,
  isAbsent,
  isRefusedSymlink,
  NOFOLLOW_READ_FLAGS,
  type PathVersion,
  READ_FLAGS,
  siblingName,
  syncDirectory,
  versionOf,
} from '../internal/fs.js';
import { TotpKey } from '../key.js';
import type { TotpOptions } from '../options.js';
import { parseOtpauthUri } from '../uri.js';

/** 'base32': the secret on one line, what `oathtool --totp -b "$(cat FILE)"` reads; 'uri': an otpauth:// URI. */
export type KeyFileFormat = 'base32' | 'uri';

export interface LoadedKey {
  key: TotpKey;
  format: KeyFileFormat;
  /** The file version the key came from. */
  version: PathVersion;
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
function checkOwnership(stats: fs.Stats, file: string): void {
  const euid = effectiveUid();
  if (euid === undefined) return;
  if (stats.uid !== euid) throw untrusted(file, `it is owned by uid ${stats.uid}, not by this process's uid ${euid}`);
  const writable = stats.mode & 0o022;
  if (writable !== 0) {
    const who = writable === 0o022 ? 'group and others' : writable === 0o020 ? 'group' : 'others';
    throw untrusted(file, `it is writable by ${who} (mode ${formatMode(stats.mode)})`);
  }
}

/** Who reads: an owner trusts only its own file at the path itself; a reader follows links (Kubernetes). */
type Trust = 'owner' | 'reader';

interface ReadOptions {
  /** The parameters of a base32 key file, which one line cannot carry. */
  totp?: TotpOptions | undefined;
  /** The path errors name (a reader reads a claimed copy under another name). Default: the file. */
  shownAs?: string | undefined;
}

/** A buffer for the content of the file opened as `stats`, after the checks that need no content. */
function bufferFor(stats: fs.Stats, trust: Trust, shownAs: string): Buffer {
  if (!stats.isFile()) throw malformed(shownAs, 'it is not a regular file');
  if (trust === 'owner') checkOwnership(stats, shownAs);
  if (stats.size > MAX_KEY_FILE_BYTES) throw malformed(shownAs, `it is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  // One spare byte: a file that grew after the fstat is seen as too large, not cut short.
  return Buffer.alloc(stats.size + 1);
}

/** The key in what was read; the version comes from the descriptor read, so it names exactly the content parsed. */
function loaded(buffer: Buffer, bytesRead: number, stats: fs.Stats, shownAs: string, totp: TotpOptions | undefined): LoadedKey {
  if (bytesRead > stats.size) throw malformed(shownAs, 'it changed while being read');
  const { key, format } = parseKeyFile(buffer.toString('utf8', 0, bytesRead), shownAs, totp);
  return { key, format, version: versionOf(stats), mtimeMs: stats.mtimeMs, mode: stats.mode & 0o777 };
}

/** Any failure of a read, as the OtpError it means. */
function readFailure(error: unknown, trust: Trust, shownAs: string): OtpError {
  if (isOtpError(error)) return error;
  if (trust === 'owner' && isRefusedSymlink(error)) return untrusted(shownAs, 'it is a symbolic link');
  return isAbsent(error) ? missingKeyFile(shownAs) : keyFileIoError(shownAs, 'read', error);
}

const openFlags = (trust: Trust): number => (trust === 'owner' ? NOFOLLOW_READ_FLAGS : READ_FLAGS);

async function readAs(trust: Trust, file: string, { totp, shownAs = file }: ReadOptions): Promise<LoadedKey> {
  let handle: fsp.FileHandle | undefined;
  let buffer: Buffer | undefined;
  try {
    handle = await fsp.open(file, openFlags(trust));
    const stats = await handle.stat();
    buffer = bufferFor(stats, trust, shownAs);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return loaded(buffer, bytesRead, stats, shownAs, totp);
  } catch (error) {
    throw readFailure(error, trust, shownAs);
  } finally {
    buffer?.fill(0);
    // A failed close must not replace the error that ended the read, nor fail a read that worked.
    await handle?.close().catch(() => undefined);
  }
}

/**
 * readOwnKeyFile without waiting, for the one place that must not: KeyOwner's look at the file
 * when a code fails (a client that saw a rotation before the owner's watcher did).
 */
export function readOwnKeyFileSync(file: string, { totp }: ReadOptions = {}): LoadedKey {
  let fd: number | undefined;
  let buffer: Buffer | undefined;
  try {
    fd = fs.openSync(file, openFlags('owner'));
    const stats = fs.fstatSync(fd);
    buffer = bufferFor(stats, 'owner', file);
    return loaded(buffer, fs.readSync(fd, buffer, 0, buffer.length, 0), stats, file, totp);
  } catch (error) {
    throw readFailure(error, 'owner', file);
  } finally {
    buffer?.fill(0);
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // As above: the read's own outcome stands.
      }
    }
  }
}

/**
 * Reads and parses the key file as a thin client does: through symbolic links (a Kubernetes
 * secret volume is one), whoever owns it. Throws ERR_OTP_KEY_MISSING, _MALFORMED or _IO.
 */
export function readKeyFile(file: string, options: ReadOptions = {}): Promise<LoadedKey> {
  return readAs('reader', file, options);
}

/**
 * Reads the key file as a KeyOwner does: only a regular file at the path itself (no symbolic
 * link at the last component), owned by this process's effective uid and not writable by group
 * or others; any other is refused with ERR_OTP_KEY_MALFORMED saying why.
 */
export function readOwnKeyFile(file: string, options: ReadOptions = {}): Promise<LoadedKey> {
  return readAs('owner', file, options);
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

function foreign(file: string, why: string): OtpError {
  return new OtpError(
    'ERR_OTP_KEY_FOREIGN',
    `${file} is not a key file (${why}); it is never overwritten: move it away or choose another path for the key`,
  );
}

// What another tool's key file may hold: base32 without spaces, or in groups of four as apps
// show it, of at least 16 symbols (80 bits, the shortest secret in common use); or a URI.
const BASE32_LINE = /^(?:[A-Za-z2-7]{16,}|(?:[A-Za-z2-7]{4} ){3,}[A-Za-z2-7]{1,4})=*$/;

/**
 * Whether `text` is what some key file holds: nothing at all, or one line holding a base32
 * secret or an otpauth URI (a secret too short for this package, down to 80 bits, is still
 * somebody's key, written for another tool). Prose, settings, JSON are not.
 */
function isKeyFileText(text: string): boolean {
  const content = text.trim();
  if (content.length === 0) return true;
  const uri = /^otpauth:/i.test(content);
  if (/[\r\n]/.test(content) || (!uri && !BASE32_LINE.test(content))) return false;
  try {
    const secret = uri ? parseOtpauthUri(content).secret : decodeBase32(content);
    secret.fill(0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws ERR_OTP_KEY_FOREIGN unless whatever is at `file` may be replaced by a key file: nothing,
 * a key file (whoever owns it: an owner replaces a key it does not trust), a symbolic link (the
 * rename replaces the link, not its target), or a file this process cannot read, when it is no
 * larger than a key file and lies in a directory of this process's user (a key written by
 * another user, e.g. root, in the owner's own key directory). Anything else (a .env, a
 * package.json, a directory, a FIFO) is somebody's data.
 */
async function checkReplaceable(file: string): Promise<void> {
  const stats = await fsp.lstat(file).catch((error: unknown) => {
    if (isAbsent(error)) return undefined;
    throw keyFileIoError(file, 'examined', error);
  });
  if (stats === undefined || stats.isSymbolicLink()) return;
  if (!stats.isFile()) throw foreign(file, 'it is not a regular file');
  if (stats.size > MAX_KEY_FILE_BYTES) throw foreign(file, `it is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  let handle: fsp.FileHandle | undefined;
  const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
  try {
    handle = await fsp.open(file, NOFOLLOW_READ_FLAGS);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (!isKeyFileText(buffer.toString('utf8', 0, bytesRead))) throw foreign(file, 'it does not hold a key');
  } catch (error) {
    if (isOtpError(error)) throw error;
    if (isAbsent(error)) return;
    const euid = effectiveUid();
    const dir = await fsp.stat(path.dirname(file)).catch(() => undefined);
    if (errorCode(error) !== 'EACCES' || euid === undefined || dir?.uid !== euid) throw keyFileIoError(file, 'examined', error);
  } finally {
    buffer.fill(0);
    await handle?.close().catch(() => undefined);
  }
}

export interface WriteOptions {
  format: KeyFileFormat;
  /** Permission bits, applied before the secret is written. */
  mode: number;
  /** Give the file to this user and group (a command run as root keeps the key file's owner). */
  chown?: { uid: number; gid: number } | undefined;
}

/**
 * Replaces `file` with `key` atomically: a temp file in the same directory is created with
 * O_EXCL and given `mode` (and `chown`) before the secret is written (fchmod, so the umask cannot
 * widen or narrow it), fsynced, renamed over the target, and the directory fsynced. A reader sees
 * the old file or the new one, never a mix; on any failure the temp file is removed and the
 * target is untouched. A target that is not a key file is never replaced (ERR_OTP_KEY_FOREIGN).
 * Resolves to the new file's stats (undefined if another writer replaced it at once).
 * Throws ERR_OTP_KEY_IO.
 */
export async function writeKeyFile(file: string, key: TotpKey, { format, mode, chown }: WriteOptions): Promise<fs.Stats | undefined> {
  await checkReplaceable(file);
  const temp = siblingName(file, 'tmp');
  const content = formatKeyFile(key, format);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
    await handle.chmod(mode);
    if (chown !== undefined) await handle.chown(chown.uid, chown.gid);
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
 * Deletes `file` if it is still the version `version` (the one an owner wrote or read last); a
 * newer one (another owner's rotation) is left alone. Run under the rotation lock, so no owner
 * replaces the file between the look and the delete. Throws ERR_OTP_KEY_IO if it cannot be deleted.
 */
export async function removeKeyFileIfVersion(file: string, version: PathVersion): Promise<void> {
  const stats = await fsp.lstat(file).catch(() => undefined);
  if (stats === undefined || versionOf(stats) !== version) return;
  await fsp.rm(file, { force: true }).catch((error: unknown) => {
    throw keyFileIoError(file, 'deleted', error);
  });
}

/**
 * Writes a fresh random key (CSPRNG, 20 bytes) with `totp`'s parameters to `file`, as writeKeyFile
 * does: the one way owners and the CLI rotate. The caller holds the rotation lock. The key is
 * the caller's to keep or destroy; on failure it is destroyed here.
 */
export async function writeNewKey(file: string, options: WriteOptions & { totp: TotpOptions }): Promise<{ key: TotpKey; stats: fs.Stats | undefined }> {
  const key = TotpKey.random(options.totp);
  try {
    return { key, stats: await writeKeyFile(file, key, options) };
  } catch (error) {
    key.destroy();
    throw error;
  }
}
