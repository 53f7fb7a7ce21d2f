// KeyReader: the thin-client side of the handshake (SPEC §3). It reads the key the owner wrote,
// follows the file through rotations, and makes the codes to send.
import * as fsp from 'node:fs/promises';
import path from 'node:path';

import { closedError, isOtpError, OtpError } from '../errors.js';
import { type AuditEvent, type AuditListener, emitEvent } from '../events.js';
import { ABSENT, errorCode, isAbsent, siblingName, syncDirectory } from '../internal/fs.js';
import { flag, milliseconds, optionsObject } from '../internal/options.js';
import { SerialQueue } from '../internal/serial.js';
import type { TotpKey } from '../key.js';
import { resolveTotpOptions, type TotpOptions } from '../options.js';
import { keyFileIoError, missingKeyFile, readKeyFile } from './keyfile.js';
import { isLoaded, KeySource, type ReadOutcome } from './source.js';
import { keyPath, listener } from './validate.js';
import { KeyFileWatcher } from './watch.js';

export interface KeyReaderOptions {
  /** The key file the owner writes, e.g. '/opt/shared/otp.key'. */
  path: string;
  /**
   * Delete the file once read and keep the key in memory only; a new file is still picked up
   * (and deleted). Meant for one reader per file. Where the file cannot be deleted (a read-only
   * mount, a Kubernetes secret volume) the reader says so once in an `error` event and carries on.
   */
  deleteAfterRead?: boolean;
  /** Follow the file through rotations. Default true; false: only reload() re-reads it. */
  watch?: boolean;
  /** How long open() waits for a valid key file to appear (ms). Default 10000. */
  wait?: number;
  /**
   * The parameters of a base32 key file, which one line cannot carry (a URI file carries its
   * own). Default SHA1, 6 digits, 30 s: the owner's default.
   */
  totp?: TotpOptions;
  /** Receives `load` and `error` events (see KeyOwnerOptions.onEvent for plugging in a logger). */
  onEvent?: AuditListener;
}

const OPTION_NAMES: readonly (keyof KeyReaderOptions)[] = ['path', 'deleteAfterRead', 'watch', 'wait', 'totp', 'onEvent'];
const DEFAULT_WAIT_MS = 10_000;
// While open() waits, a directory that does not exist yet is polled this often.
const WAIT_POLL_MS = 250;
// What a delete fails with where the file is not the reader's to delete.
const CANNOT_DELETE = new Set(['EROFS', 'EPERM', 'EACCES', 'EBUSY']);

function reasonOf(error: OtpError): AuditEvent['reason'] {
  if (error.code === 'ERR_OTP_KEY_MISSING') return 'missing';
  return error.code === 'ERR_OTP_KEY_MALFORMED' ? 'malformed' : undefined;
}

/**
 * The thin-client side: reads the shared key from the key file and makes the code to send.
 *
 * The watch is unref'd: a reader never keeps a process alive. close() stops it and wipes the key
 * from memory.
 *
 * @example
 * ```ts
 * const reader = await KeyReader.open({ path: '/opt/shared/otp.key' });
 * await fetch('http://api:8080/secure', { method: 'POST', headers: reader.headers() });
 * ```
 */
export class KeyReader {
  readonly path: string;
  readonly #deleteAfterRead: boolean;
  readonly #onEvent: AuditListener | undefined;
  readonly #source: KeySource;
  #canDelete = true;
  #key: TotpKey | undefined;
  #watcher: KeyFileWatcher | undefined;
  readonly #fileWork = new SerialQueue();
  #closed = false;

  private constructor(options: KeyReaderOptions) {
    this.path = keyPath(options.path);
    this.#deleteAfterRead = flag(options.deleteAfterRead, 'deleteAfterRead', false);
    this.#onEvent = listener(options.onEvent);
    this.#source = new KeySource(this.path, { totp: resolveTotpOptions(options.totp), trust: 'reader' });
  }

  /**
   * Reads the key file, waiting up to `wait` ms for a valid one to appear. Rejects with
   * ERR_OTP_KEY_MISSING if none did, or with the last problem found (ERR_OTP_KEY_MALFORMED,
   * ERR_OTP_KEY_IO); ERR_OTP_OPTIONS for bad options.
   */
  static async open(options: KeyReaderOptions): Promise<KeyReader> {
    optionsObject(options, 'KeyReader', OPTION_NAMES, true);
    const reader = new KeyReader(options);
    const watch = flag(options.watch, 'watch', true);
    const wait = milliseconds(options.wait, 'wait', DEFAULT_WAIT_MS);
    try {
      const first = await reader.#readNow();
      if (isLoaded(first)) reader.#install(first.key);
      else await reader.#waitForKey(wait, first);
    } catch (error) {
      reader.close();
      throw error;
    }
    if (watch) reader.#watcher = new KeyFileWatcher(reader.path, () => reader.#fileWork.run(() => reader.#follow()));
    return reader;
  }

  /** The current key's fingerprint, for logs (undefined once closed). */
  get keyId(): string | undefined {
    return this.#key?.id;
  }

  /** The code at `timeMs` (default now). Throws ERR_OTP_DESTROYED once closed. */
  code(timeMs?: number): string {
    return this.#live().generate(timeMs);
  }

  /** The header to send: `{ 'X-OTP': code }`. */
  headers(): { 'X-OTP': string } {
    return { 'X-OTP': this.code() };
  }

  /**
   * Reads the key file now (e.g. after a 401). Rejects, and emits an `error` event, when it is
   * missing or bad; the current key then stays.
   */
  reload(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError('this KeyReader'));
    return this.#fileWork.run(async () => {
      const outcome = await this.#readNow();
      if (isLoaded(outcome)) return this.#install(outcome.key);
      this.#report(outcome);
      throw outcome;
    });
  }

  /** Stops following the file and wipes the key. */
  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#key?.destroy();
    this.#key = undefined;
  }

  #live(): TotpKey {
    if (this.#key === undefined) throw closedError('this KeyReader');
    return this.#key;
  }

  async #follow(): Promise<void> {
    const outcome = await this.#readIfChanged();
    if (outcome === undefined) return;
    if (isLoaded(outcome)) this.#install(outcome.key);
    else this.#report(outcome);
  }

  #waitForKey(wait: number, first: OtpError): Promise<void> {
    if (first.code !== 'ERR_OTP_KEY_MISSING') this.#report(first);
    if (wait === 0) return Promise.reject(first);
    return new Promise((resolve, reject) => {
      let last = first;
      let settled = false;
      const settle = (error?: OtpError): void => {
        settled = true;
        clearTimeout(deadline);
        watcher.close();
        if (error === undefined) resolve();
        else reject(error);
      };
      // Not unref'd: a process awaiting open() stays alive until it settles.
      const deadline = setTimeout(() => {
        const missing = new OtpError('ERR_OTP_KEY_MISSING', `no key file appeared at ${this.path} within ${wait} ms`);
        void this.#fileWork.run(async () => settle(last.code === 'ERR_OTP_KEY_MISSING' ? missing : last));
      }, wait);
      const look = async (): Promise<void> => {
        if (settled) return;
        const outcome = await this.#readIfChanged();
        if (outcome === undefined) return;
        if (isLoaded(outcome)) {
          this.#install(outcome.key);
          return settle();
        }
        last = outcome;
        // A file not there yet is what waiting is for; a bad one is worth saying.
        if (outcome.code !== 'ERR_OTP_KEY_MISSING') this.#report(outcome);
      };
      const watcher = new KeyFileWatcher(this.path, () => this.#fileWork.run(look), { pollInterval: WAIT_POLL_MS });
    });
  }

  /** Reads the key file now, whatever its version (claiming it first with deleteAfterRead). */
  #readNow(): Promise<ReadOutcome> {
    return this.#claimOr(() => this.#source.read(), missingKeyFile(this.path)) as Promise<ReadOutcome>;
  }

  /** Reads the key file if it is a version not read yet; undefined when there is none. */
  #readIfChanged(): Promise<ReadOutcome | undefined> {
    return this.#claimOr(() => this.#source.refresh(), undefined);
  }

  /**
   * With deleteAfterRead, claims the file by renaming it to a private name and reads that: whatever
   * version the rename moved is the one read and then deleted, so a key written between a read
   * and a delete is never lost. Nothing to claim gives `nothing`. Without deleteAfterRead, or where
   * the file cannot be deleted (reported once), `read` reads it in place.
   */
  async #claimOr<T extends ReadOutcome | undefined>(read: () => Promise<T>, nothing: T): Promise<ReadOutcome | T> {
    if (!this.#deleteAfterRead || !this.#canDelete) return read();
    const claimed = siblingName(this.path, 'claimed');
    try {
      await fsp.rename(this.path, claimed);
    } catch (error) {
      // Nothing there: the last key was taken already, which is the normal state here.
      if (isAbsent(error)) return nothing;
      if (!CANNOT_DELETE.has(errorCode(error))) return keyFileIoError(this.path, 'deleted after reading', error);
      this.#canDelete = false;
      this.#report(keyFileIoError(this.path, 'deleted after reading', error), 'it is left in place and followed');
      return read();
    }
    try {
      return await readKeyFile(claimed, { totp: this.#source.totp, shownAs: this.path }).catch((error: unknown) =>
        isOtpError(error) ? error : keyFileIoError(this.path, 'read', error),
      );
    } finally {
      this.#source.assume(ABSENT);
      await fsp.rm(claimed, { force: true }).catch(() => undefined);
      await syncDirectory(path.dirname(this.path));
    }
  }

  #install(key: TotpKey): void {
    if (this.#closed || this.#key?.equals(key) === true) return key.destroy();
    this.#key?.destroy();
    this.#key = key;
    emitEvent(this.#onEvent, { type: 'load', keyId: key.id, message: `read a key from ${this.path}` });
  }

  #report(error: OtpError, consequence?: string): void {
    const message = consequence === undefined ? error.message : `${error.message}: ${consequence}`;
    const event: Omit<AuditEvent, 'at'> = { type: 'error', message };
    const reason = reasonOf(error);
    if (reason !== undefined) event.reason = reason;
    if (this.#key !== undefined) event.keyId = this.#key.id;
    emitEvent(this.#onEvent, event);
  }
}
