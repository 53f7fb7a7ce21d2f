// KeyReader: the thin-client side of the handshake (SPEC §3). It reads the key the owner wrote,
// follows the file through rotations, and makes the codes to send.
import * as fsp from 'node:fs/promises';
import path from 'node:path';

import { OtpError } from '../errors.js';
import type { TotpKey } from '../key.js';
import { resolveTotpOptions, type TotpOptions } from '../options.js';
import { type AuditEvent, type AuditListener, emitEvent } from './events.js';
import { errorCode, isAbsent, keyFileIoError, MISSING, missingKeyFile, readKeyFile, siblingName, syncDirectory } from './keyfile.js';
import { isLoaded, KeySource, type ReadOutcome, sameKey } from './source.js';
import * as valid from './validate.js';
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
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(options: KeyReaderOptions) {
    this.path = valid.keyPath(options.path);
    this.#deleteAfterRead = valid.flag(options.deleteAfterRead, 'deleteAfterRead', false);
    this.#onEvent = valid.listener(options.onEvent);
    this.#source = new KeySource(this.path, resolveTotpOptions(options.totp));
  }

  /**
   * Reads the key file, waiting up to `wait` ms for a valid one to appear. Rejects with
   * ERR_OTP_KEY_MISSING if none did, or with the last problem found (ERR_OTP_KEY_MALFORMED,
   * ERR_OTP_KEY_IO); ERR_OTP_OPTIONS for bad options.
   */
  static async open(options: KeyReaderOptions): Promise<KeyReader> {
    valid.optionsObject(options, 'KeyReader');
    const reader = new KeyReader(options);
    const watch = valid.flag(options.watch, 'watch', true);
    const wait = valid.milliseconds(options.wait, 'wait', DEFAULT_WAIT_MS);
    try {
      const first = await reader.#take(true);
      if (isLoaded(first)) reader.#install(first.key);
      else await reader.#waitForKey(wait, first);
    } catch (error) {
      reader.close();
      throw error;
    }
    if (watch) reader.#watcher = new KeyFileWatcher(reader.path, () => reader.#serial(() => reader.#follow()));
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
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#serial(async () => {
      const outcome = await this.#take(true);
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
    if (this.#key === undefined) throw this.#closedError();
    return this.#key;
  }

  #closedError(): OtpError {
    return new OtpError('ERR_OTP_DESTROYED', 'this KeyReader is closed');
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #follow(): Promise<void> {
    const outcome = await this.#take(false);
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
        this.#serial(async () => settle(last.code === 'ERR_OTP_KEY_MISSING' ? missing : last));
      }, wait);
      const look = async (): Promise<void> => {
        if (settled) return;
        const outcome = await this.#take(false);
        if (outcome === undefined) return;
        if (isLoaded(outcome)) {
          this.#install(outcome.key);
          return settle();
        }
        last = outcome;
        // A file not there yet is what waiting is for; a bad one is worth saying.
        if (outcome.code !== 'ERR_OTP_KEY_MISSING') this.#report(outcome);
      };
      const watcher = new KeyFileWatcher(this.path, () => this.#serial(look), { pollInterval: WAIT_POLL_MS });
    });
  }

  /**
   * Reads the file (`force`) or, when it changed, its new version. With deleteAfterRead the file
   * is first claimed by renaming it to a private name: whatever version the rename moved is the
   * one read and then deleted, so a key written between a read and a delete is never lost.
   */
  #take(force: true): Promise<ReadOutcome>;
  #take(force: false): Promise<ReadOutcome | undefined>;
  async #take(force: boolean): Promise<ReadOutcome | undefined> {
    if (!this.#deleteAfterRead || !this.#canDelete) return force ? this.#source.read() : this.#source.refresh();
    const claimed = siblingName(this.path, 'claimed');
    try {
      await fsp.rename(this.path, claimed);
    } catch (error) {
      // Nothing there: the last key was taken already, which is the normal state here.
      if (isAbsent(error)) return force ? missingKeyFile(this.path) : undefined;
      if (!CANNOT_DELETE.has(errorCode(error))) return keyFileIoError(this.path, 'deleted after reading', error);
      this.#canDelete = false;
      this.#report(keyFileIoError(this.path, 'deleted after reading', error), 'it is left in place and followed');
      return force ? this.#take(true) : this.#take(false);
    }
    try {
      return await readKeyFile(claimed, this.#source.totp, this.path).catch((error: OtpError) => error);
    } finally {
      this.#source.assume(MISSING);
      await fsp.rm(claimed, { force: true }).catch(() => undefined);
      await syncDirectory(path.dirname(this.path));
    }
  }

  #install(key: TotpKey): void {
    if (this.#closed || (this.#key !== undefined && sameKey(this.#key, key))) return key.destroy();
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
