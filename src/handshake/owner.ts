// KeyOwner: the API side of the handshake (SPEC §3). It holds the key the thin clients read from
// the key file, writes that file when it creates or rotates a key, and follows the file when
// another owner or the CLI rotates it.
import { closedError, isOtpError } from '../errors.js';
import { type AuditEvent, type AuditListener, emitEvent } from '../events.js';
import { formatMode, isLocalFileSystem, type PathVersion, versionOf } from '../internal/fs.js';
import path from 'node:path';
import { flag, optionsObject } from '../internal/options.js';
import { SerialQueue } from '../internal/serial.js';
import type { TotpKey } from '../key.js';
import { DEFAULT_WINDOW, type ResolvedTotpOptions, resolveTotpOptions, resolveVerifyOptionsInto, type TotpOptions, type VerifyOptions } from '../options.js';
import { type CheckResult, type KeyTiming, type OtpVerifier, refusalOfNonCode } from '../verifier.js';
import { type KeyFileFormat, type LoadedKey, removeKeyFileIfVersion, removeLeftovers, writeNewKey } from './keyfile.js';
import { withLock } from './lock.js';
import { KeyRing } from './ring.js';
import { isLoaded, KeySource, type ReadOutcome } from './source.js';
import { later } from './timer.js';
import { fileMode, graceOption, isDefaultTotp, keyFileFormat, keyPath, listener, rotateEveryOption } from './validate.js';
import { KeyFileWatcher } from './watch.js';

export interface KeyOwnerOptions {
  /** The key file, e.g. '/opt/shared/otp.key'. Its directory must exist. */
  path: string;
  /**
   * Rotate every this many milliseconds, counted from the key file's mtime so that owners sharing
   * the file agree on when (and never later than this long after the key was loaded, whatever the
   * file's mtime says). At least one TOTP period: a smaller value is taken for seconds meant as
   * milliseconds. 0 or undefined: no scheduled rotation (`rotate()` and the CLI still rotate).
   */
  rotateEvery?: number;
  /** How long (ms) a replaced key stays valid: 0, or at least 1000. Default two TOTP periods (60 s). */
  grace?: number;
  /** Adopt a valid existing key file instead of writing a new key at start. Default true. */
  adopt?: boolean;
  /** Delete the key file on close() if it is still the one this owner wrote or read. Default false. */
  removeOnClose?: boolean;
  /**
   * Permission bits of the key file. Default 0o600: only the owner's user can read the secret;
   * 0o640 for readers in the file's group. Group or others may never write it.
   */
  fileMode?: number;
  /**
   * 'base32' (what oathtool reads) or 'uri' (carries algorithm, digits and period). Default:
   * base32 for the default parameters, uri for any other; base32 with other parameters is refused.
   */
  format?: KeyFileFormat;
  /** Parameters of the keys this owner creates. Default SHA1, 6 digits, 30 s; no epoch. */
  totp?: TotpOptions;
  /**
   * Receives `load`, `rotate` and `error` events (`verify` events come from the HTTP guards, so
   * that the hot path stays free of them). To log with pino, or any `{ info, warn, error }` logger:
   * `onEvent: (event) => (event.type === 'error' ? logger.error(event, 'otp key') : logger.info(event, 'otp key'))`.
   */
  onEvent?: AuditListener;
}

const OPTION_NAMES: readonly (keyof KeyOwnerOptions)[] = ['path', 'rotateEvery', 'grace', 'adopt', 'removeOnClose', 'fileMode', 'format', 'totp', 'onEvent'];
// A scheduled rotation that failed (ENOSPC, EROFS) is retried this often, not in a loop.
const MAX_RETRY_MS = 60_000;
const NO_KEY: CheckResult = Object.freeze({ ok: false, reason: 'no-key' });
// A look at a key file on tmpfs or a local disk takes microseconds. A busy machine can stop a
// process for tens of ms at any moment, so one slow look proves nothing; several in a row mean a
// filesystem that must not be waited for on the request path.
const SLOW_LOOK_MS = 50;
const SLOW_LOOKS = 3;

/** What a loaded key file and an owner's configuration disagree on, if they do. */
function mismatch(loaded: LoadedKey, totp: ResolvedTotpOptions): string | undefined {
  const { key, format } = loaded;
  if (key.algorithm !== totp.algorithm || key.digits !== totp.digits || key.period !== totp.period) {
    return `its key is ${key.algorithm}, ${key.digits} digits, ${key.period} s, and this owner's keys are ${totp.algorithm}, ${totp.digits} digits, ${totp.period} s`;
  }
  if (format === 'base32' && !isDefaultTotp(totp)) return 'it is a base32 line, which cannot tell readers these parameters';
  return undefined;
}

/**
 * The API side: creates or adopts the shared key, verifies codes against it, rotates it.
 *
 * Verification is synchronous; a valid code costs no system call and no allocation beyond the
 * result. A code that fails against the keys in memory costs one lstat of the key file, and a
 * re-read if it changed: no owner refuses a code made with the key the file holds now, even
 * before its watcher has noticed the change (on a filesystem too slow for that, the look moves
 * off the request path; see #matchAfterLook).
 *
 * Timers and the file watch are unref'd: an owner never keeps a process alive. Call close() to
 * wipe the keys from memory and, with `removeOnClose`, to delete the key file; a process that
 * exits without it leaves the file for the next owner to adopt.
 *
 * @example
 * ```ts
 * const owner = await KeyOwner.start({ path: '/opt/shared/otp.key', rotateEvery: 3_600_000 });
 * const { ok, reason } = owner.check(req.headers['x-otp']);
 * ```
 */
export class KeyOwner implements OtpVerifier {
  readonly path: string;
  /** The key file's permission bits. */
  readonly fileMode: number;
  readonly #totp: ResolvedTotpOptions;
  readonly #rotateEvery: number;
  readonly #removeOnClose: boolean;
  readonly #format: KeyFileFormat;
  readonly #onEvent: AuditListener | undefined;
  readonly #source: KeySource;
  readonly #keys: KeyRing;
  readonly #fileWork = new SerialQueue();
  #watcher: KeyFileWatcher | undefined;
  /** When the current key is due for rotation, by the clock and by elapsed time (performance.now()). */
  #dueAt = 0;
  #dueAtElapsed = 0;
  /** The key file version this owner wrote or read last: removeOnClose deletes only that one. */
  #lastVersion: PathVersion | undefined;
  #rotationTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #lookingInBackground = false;
  /** Whether a refused code may look at the key file on the request path (see #matchAfterLook). */
  #looksOnRequestPath = false;
  #slowLooks = 0;
  // Aborted by close(): a rotation still waiting for the lock gives up instead of holding close() up.
  readonly #abort = new AbortController();
  // Reused for every check, so that the hot path allocates nothing for it.
  readonly #verifyOptions = { window: DEFAULT_WINDOW, timeMs: 0 };

  private constructor(options: KeyOwnerOptions) {
    this.path = keyPath(options.path);
    this.#totp = resolveTotpOptions(options.totp);
    const periodMs = this.#totp.period * 1000;
    this.#format = keyFileFormat(options.format, this.#totp);
    this.#rotateEvery = rotateEveryOption(options.rotateEvery, periodMs);
    this.#keys = new KeyRing(graceOption(options.grace, periodMs));
    this.#removeOnClose = flag(options.removeOnClose, 'removeOnClose', false);
    this.fileMode = fileMode(options.fileMode);
    this.#onEvent = listener(options.onEvent);
    this.#source = new KeySource(this.path, { totp: this.#totp, trust: 'owner' });
  }

  /**
   * Adopts the key in the file at `path` (unless `adopt: false`) or writes a new one, then
   * follows the file. Rejects with ERR_OTP_OPTIONS for bad options, ERR_OTP_KEY_FOREIGN when
   * the path holds something that is not a key file (it is never overwritten), and
   * ERR_OTP_KEY_IO when no key can be adopted and none can be written.
   */
  static async start(options: KeyOwnerOptions): Promise<KeyOwner> {
    optionsObject(options, 'KeyOwner', OPTION_NAMES, true);
    const owner = new KeyOwner(options);
    try {
      await owner.#init(flag(options.adopt, 'adopt', true));
    } catch (error) {
      await owner.close();
      throw error;
    }
    return owner;
  }

  /** The current key's fingerprint (undefined once closed). */
  get keyId(): string | undefined {
    return this.#keys.current?.id;
  }

  timing(): KeyTiming | undefined {
    return this.#keys.timing;
  }

  /** Whether `code` is valid now (or at `options.timeMs`) for the current key or one within grace. */
  verify(code: unknown, options?: VerifyOptions): boolean {
    return this.check(code, options).ok;
  }

  /**
   * Checks any value as a code: `no-key` (closed), `missing` (undefined, null or ''), `malformed`
   * (not `digits` ASCII digits), `invalid`, or ok with the matching key, offset, time step and
   * the time the code expires. Throws only for bad options.
   */
  check(code: unknown, options?: VerifyOptions): CheckResult {
    const current = this.#keys.current;
    if (current === undefined) return NO_KEY;
    const refusal = refusalOfNonCode(code, current);
    if (refusal !== undefined) return refusal;
    const verifyOptions = this.#verifyOptions;
    resolveVerifyOptionsInto(verifyOptions, options);
    const result = this.#keys.match(code as string, verifyOptions) ?? this.#matchAfterLook(code as string, verifyOptions);
    return result ?? { ok: false, reason: 'invalid', keyId: this.#keys.current?.id ?? current.id };
  }

  /**
   * Writes a new key now, under the rotation lock; the replaced key stays valid for `grace`.
   * On failure the current key keeps serving, no partial file is left, an `error` event is
   * emitted and the promise rejects (ERR_OTP_KEY_IO, or ERR_OTP_KEY_FOREIGN when something that
   * is not a key file has taken the path). Rejects with ERR_OTP_DESTROYED, writing nothing, if
   * close() is called before it has taken the lock.
   */
  rotate(reason = 'rotate() was called'): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError('this KeyOwner'));
    return this.#exclusive(async () => {
      // close() may have been called while this rotation waited its turn: it must not write then.
      if (this.#closing !== undefined) throw closedError('this KeyOwner');
      await this.#writeNew(reason);
    });
  }

  /**
   * Stops following the file and rotating, and wipes the keys: from now on every check is
   * `no-key`. Waits for a rotation under way (one still waiting for the lock is given up), then
   * (with `removeOnClose`) deletes the key file if it is still the version this owner wrote or
   * read. Never rejects: a failed delete is an `error` event.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    clearTimeout(this.#rotationTimer);
    this.#watcher?.close();
    this.#keys.wipe();
    this.#closing = this.#fileWork.idle().then(async () => {
      const version = this.#lastVersion;
      if (!this.#removeOnClose || version === undefined) return;
      await withLock(this.path, () => removeKeyFileIfVersion(this.path, version)).catch((error: unknown) => this.#reportError(error));
    });
    // After #closing is set: a queued rotation that wakes up now sees the owner closed.
    this.#abort.abort(closedError('this KeyOwner'));
    return this.#closing;
  }

  async #init(adopt: boolean): Promise<void> {
    this.#looksOnRequestPath = await isLocalFileSystem(path.dirname(this.path));
    if (adopt) this.#adopt(await this.#source.read());
    if (this.#keys.current === undefined) {
      await this.#exclusive(async () => {
        // Another owner starting at the same moment may have written a key while this one waited.
        if (adopt) this.#adopt(await this.#source.refresh());
        if (this.#keys.current === undefined) await this.#writeNew(adopt ? 'no valid key file to adopt' : 'start');
      });
    }
    // A killed owner's temp file holds a key that was never used; nothing else would remove it
    // when this owner adopts the file and does not rotate.
    await removeLeftovers(this.path);
    // Queued behind this owner's own rotations, so that it never reads a file it is writing as if
    // someone else had.
    this.#watcher = new KeyFileWatcher(this.path, () => this.#fileWork.run(async () => this.#follow(await this.#source.refresh())));
  }

  /**
   * At start: a key file that suits this owner is adopted. Anything else is reported and left for
   * #writeNew, which replaces a key file (one this owner does not trust, or with other parameters)
   * and refuses to replace what is not one.
   */
  #adopt(outcome: ReadOutcome | undefined): void {
    if (outcome === undefined) return;
    if (!isLoaded(outcome)) {
      if (outcome.code !== 'ERR_OTP_KEY_MISSING') this.#reportError(outcome);
      return;
    }
    const why = mismatch(outcome, this.#totp);
    if (why === undefined) return this.#follow(outcome);
    outcome.key.destroy();
    this.#reportError(new Error(`the key file ${this.path} is not adopted: ${why}; a new key replaces it`));
  }

  /** Acts on a read of the key file while running: a new key is switched to; a bad file is reported. */
  #follow(outcome: ReadOutcome | undefined): void {
    if (outcome === undefined) return;
    if (!isLoaded(outcome)) {
      // A missing file is what a reader with deleteAfterRead leaves: nothing to report. A bad
      // one is reported and left alone; the next rotation replaces it if it is a key file.
      if (outcome.code !== 'ERR_OTP_KEY_MISSING') this.#reportError(outcome);
      return;
    }
    // A closing owner takes no new key: removeOnClose must judge the file by what it held.
    if (this.#closing !== undefined) return outcome.key.destroy();
    this.#install(outcome.key, outcome.version, outcome.mtimeMs, { type: 'load', message: `read a key from ${this.path}` });
    this.#reportWideMode(outcome.mode);
  }

  /**
   * A file found with more permissions than fileMode (written by hand, by `cp`, or chmod'ed) lets
   * more users read the key than intended. It is used, since refusing it would stop the service,
   * and reported as an error until a rotation writes the file again with fileMode.
   */
  #reportWideMode(mode: number): void {
    const extra = mode & ~this.fileMode & 0o777;
    if (extra === 0) return;
    const [found, wanted] = [formatMode(mode), formatMode(this.fileMode)];
    this.#reportError(new Error(`the key file ${this.path} has mode ${found}, wider than fileMode ${wanted}; the next rotation writes it with ${wanted}`));
  }

  #reportError(error: unknown): void {
    const event: Omit<AuditEvent, 'at'> = { type: 'error', message: (error as Error)?.message ?? String(error) };
    if (isOtpError(error, 'ERR_OTP_KEY_MALFORMED')) event.reason = 'malformed';
    const current = this.#keys.current;
    if (current !== undefined) event.keyId = current.id;
    emitEvent(this.#onEvent, event);
  }

  /**
   * After a code the keys in memory refuse: the key file may hold a key this owner has not seen
   * yet (a client can notice another owner's rotation before this owner's watcher does). On a
   * local filesystem (tmpfs, a local disk) one lstat tells, on the request path, because the
   * answer is wanted now; the file is read only when it changed, and the guards' throttle bounds
   * how often wrong codes get here. Where a stat may wait on a network (NFS, CIFS, FUSE), or
   * should looks here turn out slow SLOW_LOOKS times in a row, the look happens in the
   * background instead, and the client's retry finds the new key.
   */
  #matchAfterLook(code: string, verifyOptions: { window: number; timeMs: number }): CheckResult | undefined {
    if (this.#closing !== undefined) return undefined;
    if (!this.#looksOnRequestPath) {
      this.#lookInBackground();
      return undefined;
    }
    const started = performance.now();
    const outcome = this.#source.refreshSync();
    const took = performance.now() - started;
    this.#slowLooks = took > SLOW_LOOK_MS ? this.#slowLooks + 1 : 0;
    if (this.#slowLooks >= SLOW_LOOKS) {
      this.#looksOnRequestPath = false;
      this.#reportError(new Error(`looking at the key file ${this.path} took over ${SLOW_LOOK_MS} ms ${SLOW_LOOKS} times in a row; refused codes no longer look at it on the request path`));
    }
    if (outcome === undefined) return undefined;
    this.#follow(outcome);
    return isLoaded(outcome) ? this.#keys.match(code, verifyOptions) : undefined;
  }

  /** Reads the key file in the background if it changed, at most one look at a time. */
  #lookInBackground(): void {
    if (this.#lookingInBackground) return;
    this.#lookingInBackground = true;
    void this.#fileWork
      .run(async () => this.#follow(await this.#source.refresh()))
      .catch(() => undefined)
      .finally(() => (this.#lookingInBackground = false));
  }

  /** Runs `task` alone in this process and under the lock file across processes; reports its failure. */
  #exclusive(task: () => Promise<void>): Promise<void> {
    return this.#fileWork.run(() => withLock(this.path, task, { signal: this.#abort.signal })).catch((error: unknown) => {
      // A rotation given up because the owner closed is no failure to report.
      if (!isOtpError(error, 'ERR_OTP_DESTROYED')) this.#reportError(error);
      throw error;
    });
  }

  async #writeNew(reason: string): Promise<void> {
    const { key, stats } = await writeNewKey(this.path, { totp: this.#totp, format: this.#format, mode: this.fileMode });
    // Another writer replacing the file at once is left for the watcher to find.
    const version = stats === undefined ? undefined : versionOf(stats);
    if (version !== undefined) this.#source.assume(version);
    this.#install(key, version, stats?.mtimeMs ?? Date.now(), { type: 'rotate', message: `wrote a new key to ${this.path} (${reason})` });
  }

  #install(key: TotpKey, version: PathVersion | undefined, writtenAt: number, event: Omit<AuditEvent, 'at'>): void {
    this.#lastVersion = version;
    let installed = false;
    if (this.#closing === undefined) installed = this.#keys.install(key);
    else key.destroy();
    if (installed || event.type === 'rotate') this.#setDue(writtenAt);
    // The same key rewritten is no news; a rotation is reported even when it finished during close().
    if (installed || event.type === 'rotate') emitEvent(this.#onEvent, { ...event, keyId: key.id });
  }

  /**
   * A key is due for rotation `rotateEvery` after its file was written, by the clock, so that
   * owners sharing the file agree; and never later than `rotateEvery` of elapsed time after this
   * owner got it, so that a file dated in the future (a clock set back, a planted mtime) cannot
   * postpone rotation.
   */
  #setDue(writtenAt: number): void {
    this.#dueAt = Math.min(writtenAt, Date.now()) + this.#rotateEvery;
    this.#dueAtElapsed = performance.now() + this.#rotateEvery;
    this.#scheduleRotation();
  }

  #isDue(): boolean {
    return Date.now() >= this.#dueAt || performance.now() >= this.#dueAtElapsed;
  }

  #scheduleRotation(delay = Math.min(this.#dueAt - Date.now(), this.#dueAtElapsed - performance.now())): void {
    clearTimeout(this.#rotationTimer);
    if (this.#rotateEvery === 0 || this.#closing !== undefined) return;
    this.#rotationTimer = later(() => void this.#rotateIfDue(), delay);
  }

  async #rotateIfDue(): Promise<void> {
    try {
      await this.#exclusive(async () => {
        if (this.#closing !== undefined) return;
        // Another owner, or the CLI, may have rotated while this one waited for the lock.
        this.#follow(await this.#source.refresh());
        if (this.#isDue()) await this.#writeNew('scheduled rotation');
      });
      this.#scheduleRotation();
    } catch {
      // Reported as an `error` event; the current key keeps serving until a retry succeeds.
      this.#scheduleRotation(Math.min(this.#rotateEvery, MAX_RETRY_MS));
    }
  }
}
