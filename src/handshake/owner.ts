// KeyOwner: the API side of the handshake (SPEC §3). It holds the key the thin clients read from
// the key file, writes that file when it creates or rotates a key, and follows the file when
// another owner or the CLI rotates it.
import { isOtpError, OtpError } from '../errors.js';
import { TotpKey } from '../key.js';
import {
  DEFAULT_WINDOW,
  type ResolvedTotpOptions,
  resolveTime,
  resolveTotpOptions,
  resolveVerifyOptions,
  resolveWindow,
  type TotpOptions,
  type VerifyOptions,
} from '../options.js';
import { type AuditEvent, type AuditListener, emitEvent } from './events.js';
import { formatMode, type KeyFileFormat, removeKeyFileIfHolds, removeLeftovers, signatureOf, writeKeyFile } from './keyfile.js';
import { withLock } from './lock.js';
import { KeyRing } from './ring.js';
import { later } from './timer.js';
import { isLoaded, KeySource, type ReadOutcome } from './source.js';
import type { CheckResult, KeyTiming, OtpVerifier } from './types.js';
import * as valid from './validate.js';
import { KeyFileWatcher } from './watch.js';

export interface KeyOwnerOptions {
  /** The key file, e.g. '/opt/shared/otp.key'. Its directory must exist. */
  path: string;
  /**
   * Rotate every this many ms, counted from the key file's mtime so that owners sharing the file
   * agree on when. 0 or undefined: no scheduled rotation (`rotate()` and the CLI still rotate).
   */
  rotateEvery?: number;
  /** How long (ms) a replaced key stays valid. Default two TOTP periods (60 s). */
  grace?: number;
  /** Adopt a valid existing key file instead of writing a new key at start. Default true. */
  adopt?: boolean;
  /** Delete the key file on close() if it still holds this owner's key. Default false. */
  removeOnClose?: boolean;
  /** Permission bits of the key file. Default 0o600: only the owner's user can read the secret. */
  fileMode?: number;
  /** 'base32' (default, what oathtool reads) or 'uri' (carries algorithm, digits and period). */
  format?: KeyFileFormat;
  /** Parameters of the keys this owner creates. Default SHA1, 6 digits, 30 s. */
  totp?: TotpOptions;
  /**
   * Receives `load`, `rotate` and `error` events (`verify` events come from the HTTP guards, so
   * that the hot path stays free of them). To log with pino, or any `{ info, warn, error }` logger:
   * `onEvent: (event) => (event.type === 'error' ? logger.error(event, 'otp key') : logger.info(event, 'otp key'))`.
   */
  onEvent?: AuditListener;
}

// A scheduled rotation that failed (ENOSPC, EROFS) is retried this often, not in a loop.
const MAX_RETRY_MS = 60_000;
const NO_KEY: CheckResult = Object.freeze({ ok: false, reason: 'no-key' });

function closedError(): OtpError {
  return new OtpError('ERR_OTP_DESTROYED', 'this KeyOwner is closed');
}

function isCode(code: unknown, digits: number): code is string {
  if (typeof code !== 'string' || code.length !== digits) return false;
  for (let i = 0; i < digits; i++) {
    const c = code.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The API side: creates or adopts the shared key, verifies codes against it, rotates it.
 *
 * Verification is synchronous; a valid code costs no system call and no allocation beyond the
 * result. A code that fails against the keys in memory costs one stat of the key file, and a
 * re-read if it changed: no owner refuses a code made with the key the file holds now, even
 * before its watcher has noticed the change.
 *
 * Timers and the file watch are unref'd: an owner never keeps a process alive. Call close() to
 * wipe the keys from memory and, with `removeOnClose`, to delete the key file; a process that
 * exits without it leaves the file for the next owner to adopt.
 *
 * @example
 * ```ts
 * const owner = await KeyOwner.start({ path: '/opt/shared/otp.key', rotateEvery: 3_600_000 });
 * const { ok, reason } = owner.check(req.headers['x-otp']);
 * process.once('SIGTERM', () => void owner.close());
 * ```
 */
export class KeyOwner implements OtpVerifier {
  readonly path: string;
  readonly #totp: ResolvedTotpOptions;
  readonly #rotateEvery: number;
  readonly #removeOnClose: boolean;
  readonly #fileMode: number;
  readonly #format: KeyFileFormat;
  readonly #onEvent: AuditListener | undefined;
  readonly #source: KeySource;
  readonly #keys: KeyRing;
  #watcher: KeyFileWatcher | undefined;
  /** The mtime of the file version that brought the current key: scheduled rotations count from it. */
  #bornAt = 0;
  #lastKeyId: string | undefined;
  #rotationTimer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  // Aborted by close(): a rotation still waiting for the lock gives up instead of holding close() up.
  readonly #abort = new AbortController();
  // Reused for every check, so that the hot path allocates nothing.
  readonly #scratch = { window: DEFAULT_WINDOW, timeMs: 0 };

  private constructor(options: KeyOwnerOptions) {
    this.path = valid.keyPath(options.path);
    this.#totp = resolveTotpOptions(options.totp);
    this.#format = valid.keyFileFormat(options.format);
    if (this.#format === 'uri' && this.#totp.epoch !== 0) valid.fail("format 'uri' cannot carry a non-zero epoch");
    this.#rotateEvery = valid.milliseconds(options.rotateEvery, 'rotateEvery', 0);
    this.#keys = new KeyRing(valid.milliseconds(options.grace, 'grace', 2 * this.#totp.period * 1000));
    this.#removeOnClose = valid.flag(options.removeOnClose, 'removeOnClose', false);
    this.#fileMode = valid.fileMode(options.fileMode);
    this.#onEvent = valid.listener(options.onEvent);
    // An owner trusts only a file of its own user that no one else can write, at the path itself.
    this.#source = new KeySource(this.path, this.#totp, true);
  }

  /**
   * Adopts the key in the file at `path` (unless `adopt: false`) or writes a new one, then
   * follows the file. Rejects with ERR_OTP_OPTIONS for bad options and ERR_OTP_KEY_IO when no
   * key can be adopted and none can be written.
   */
  static async start(options: KeyOwnerOptions): Promise<KeyOwner> {
    valid.optionsObject(options, 'KeyOwner');
    const owner = new KeyOwner(options);
    try {
      await owner.#init(valid.flag(options.adopt, 'adopt', true));
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
    const current = this.#keys.current;
    return current !== undefined && isCode(code, current.digits) && this.#find(code, options) !== undefined;
  }

  /**
   * Checks any value as a code: `no-key` (closed), `missing` (undefined, null or ''), `malformed`
   * (not `digits` ASCII digits), `invalid`, or ok with the matching key, offset and time step.
   * Throws only for bad options.
   */
  check(code: unknown, options?: VerifyOptions): CheckResult {
    const current = this.#keys.current;
    if (current === undefined) return NO_KEY;
    if (code === undefined || code === null || code === '') return { ok: false, reason: 'missing', keyId: current.id };
    if (!isCode(code, current.digits)) return { ok: false, reason: 'malformed', keyId: current.id };
    const key = this.#find(code, options);
    if (key === undefined) return { ok: false, reason: 'invalid', keyId: this.#keys.current?.id ?? current.id };
    const delta = this.#keys.delta;
    const step = Math.floor((this.#scratch.timeMs - key.epoch * 1000) / (key.period * 1000)) + delta;
    return { ok: true, keyId: key.id, delta, step };
  }

  /**
   * Writes a new key now, under the rotation lock; the replaced key stays valid for `grace`.
   * On failure the current key keeps serving, no partial file is left, an `error` event is
   * emitted and the promise rejects with ERR_OTP_KEY_IO. Rejects with ERR_OTP_DESTROYED, writing
   * nothing, if close() is called before it has taken the lock.
   */
  rotate(reason = 'rotate() was called'): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    return this.#exclusive(async () => {
      // close() may have been called while this rotation waited its turn: it must not write then.
      if (this.#closing !== undefined) throw closedError();
      await this.#writeNew(reason);
    });
  }

  /**
   * Stops following the file and rotating, and wipes the keys: from now on every check is
   * `no-key`. Waits for a rotation under way (one still waiting for the lock is given up), then
   * (with `removeOnClose`) deletes the key file if it still holds this owner's key. Never
   * rejects: a failed delete is an `error` event.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    clearTimeout(this.#rotationTimer);
    this.#watcher?.close();
    this.#keys.wipe();
    this.#closing = this.#queue.then(async () => {
      if (!this.#removeOnClose || this.#lastKeyId === undefined) return;
      const keyId = this.#lastKeyId;
      await withLock(this.path, () => removeKeyFileIfHolds(this.path, keyId, this.#totp)).catch((error: unknown) => this.#reportError(error));
    });
    // After #closing is set: a queued rotation that wakes up now sees the owner closed.
    this.#abort.abort(closedError());
    return this.#closing;
  }

  async #init(adopt: boolean): Promise<void> {
    if (adopt) this.#apply(await this.#source.read(), true);
    if (this.#keys.current === undefined) {
      await this.#exclusive(async () => {
        // Another owner starting at the same moment may have written a key while this one waited.
        if (adopt) this.#apply(await this.#source.refresh(), true);
        if (this.#keys.current === undefined) await this.#writeNew(adopt ? 'no valid key file to adopt' : 'start');
      });
    }
    // A killed owner's temp file holds a key that was never used; nothing else would remove it
    // when this owner adopts the file and does not rotate.
    await removeLeftovers(this.path);
    // Queued behind this owner's own rotations, so that it never reads a file it is writing as if
    // someone else had.
    this.#watcher = new KeyFileWatcher(this.path, () => this.#serial(async () => this.#apply(await this.#source.refresh(), false)));
  }

  /** Acts on a read of the key file: a new key is switched to; a bad file is reported. */
  #apply(outcome: ReadOutcome | undefined, starting: boolean): void {
    if (outcome === undefined) return;
    if (isLoaded(outcome)) {
      // A closing owner takes no new key: removeOnClose must judge the file by what it held.
      if (this.#closing !== undefined) return outcome.key.destroy();
      this.#install(outcome.key, outcome.mtimeMs, { type: 'load', message: `read a key from ${this.path}` });
      this.#reportWideMode(outcome.mode);
    } else if (outcome.code === 'ERR_OTP_KEY_IO' && starting) {
      throw outcome;
    } else if (outcome.code !== 'ERR_OTP_KEY_MISSING') {
      // A missing file is what a reader with deleteAfterRead leaves: nothing to report. A bad
      // one is reported and left alone; the next rotation replaces it.
      this.#reportError(outcome);
    }
  }

  /**
   * A file found with more permissions than fileMode (written by hand, by `cp`, or chmod'ed) lets
   * more users read the key than intended. It is used, since refusing it would stop the service,
   * and reported as an error until a rotation writes the file again with fileMode.
   */
  #reportWideMode(mode: number): void {
    const extra = mode & ~this.#fileMode & 0o777;
    if (extra === 0) return;
    const [found, wanted] = [formatMode(mode), formatMode(this.#fileMode)];
    this.#reportError(new Error(`the key file ${this.path} has mode ${found}, wider than fileMode ${wanted}; the next rotation writes it with ${wanted}`));
  }

  #reportError(error: unknown): void {
    const event: Omit<AuditEvent, 'at'> = { type: 'error', message: (error as Error)?.message ?? String(error) };
    if (isOtpError(error, 'ERR_OTP_KEY_MALFORMED')) event.reason = 'malformed';
    const current = this.#keys.current;
    if (current !== undefined) event.keyId = current.id;
    emitEvent(this.#onEvent, event);
  }

  /** Runs `task` after the file work already queued in this process. */
  #serial(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Runs `task` alone in this process and under the lock file across processes; reports its failure. */
  #exclusive(task: () => Promise<void>): Promise<void> {
    return this.#serial(() => withLock(this.path, task, { signal: this.#abort.signal })).catch((error: unknown) => {
      // A rotation given up because the owner closed is no failure to report.
      if (!isOtpError(error, 'ERR_OTP_DESTROYED')) this.#reportError(error);
      throw error;
    });
  }

  async #writeNew(reason: string): Promise<void> {
    const key = TotpKey.random(this.#totp);
    let stats;
    try {
      stats = await writeKeyFile(this.path, key, this.#format, this.#fileMode);
    } catch (error) {
      key.destroy();
      throw error;
    }
    // Another writer replacing the file at once is left for the watcher to find.
    if (stats !== undefined) this.#source.assume(signatureOf(stats));
    this.#install(key, stats?.mtimeMs ?? Date.now(), { type: 'rotate', message: `wrote a new key to ${this.path} (${reason})` });
  }

  #install(key: TotpKey, bornAt: number, event: Omit<AuditEvent, 'at'>): void {
    this.#lastKeyId = key.id;
    this.#bornAt = bornAt;
    let installed = false;
    if (this.#closing === undefined) installed = this.#keys.install(key);
    else key.destroy();
    this.#scheduleRotation();
    // The same key rewritten is no news; a rotation is reported even when a failed code made this
    // owner read its own new file before the write returned, or when it finished during close().
    if (installed || event.type === 'rotate') emitEvent(this.#onEvent, { ...event, keyId: key.id });
  }

  /** The key that accepts `code` (offset in #keys.delta), re-reading a changed file before refusing. */
  #find(code: string, options: VerifyOptions | undefined): TotpKey | undefined {
    const scratch = this.#scratch;
    const requested = resolveVerifyOptions(options);
    scratch.window = requested === undefined ? DEFAULT_WINDOW : resolveWindow(requested.window);
    scratch.timeMs = requested === undefined ? Date.now() : resolveTime(requested.timeMs);
    const key = this.#keys.match(code, scratch);
    if (key !== undefined || this.#closing !== undefined) return key;
    const outcome = this.#source.refreshSync();
    if (outcome === undefined) return undefined;
    this.#apply(outcome, false);
    return isLoaded(outcome) ? this.#keys.match(code, scratch) : undefined;
  }

  #scheduleRotation(delay = this.#bornAt + this.#rotateEvery - Date.now()): void {
    clearTimeout(this.#rotationTimer);
    if (this.#rotateEvery === 0 || this.#closing !== undefined) return;
    this.#rotationTimer = later(() => void this.#rotateIfDue(), delay);
  }

  async #rotateIfDue(): Promise<void> {
    try {
      await this.#exclusive(async () => {
        if (this.#closing !== undefined) return;
        // Another owner, or the CLI, may have rotated while this one waited for the lock.
        this.#apply(await this.#source.refresh(), false);
        if (Date.now() >= this.#bornAt + this.#rotateEvery) await this.#writeNew('scheduled rotation');
      });
      this.#scheduleRotation();
    } catch {
      // Reported as an `error` event; the current key keeps serving until a retry succeeds.
      this.#scheduleRotation(Math.min(this.#rotateEvery, MAX_RETRY_MS));
    }
  }
}
