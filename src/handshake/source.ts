// Which version of the key file a process last read, so that it re-reads only what changed and
// reports each problem once per file version rather than once per look.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';

import type { OtpError } from '../errors.js';
import type { TotpKey } from '../key.js';
import type { TotpOptions } from '../options.js';
import { errorCode, isAbsent, type LoadedKey, MISSING, missingKeyFile, readKeyFile, readKeyFileSync, signatureOf } from './keyfile.js';

/** A fresh read: a key, or why there is none (ERR_OTP_KEY_MISSING, _MALFORMED or _IO). */
export type ReadOutcome = LoadedKey | OtpError;

export function isLoaded(outcome: ReadOutcome): outcome is LoadedKey {
  return 'key' in outcome;
}

// A path that cannot even be stat'ed (EACCES on a directory, ELOOP) is a version of its own, so
// that the error is reported once, and again only if it turns into a different one.
function statFailure(error: unknown): string {
  return isAbsent(error) ? MISSING : `error:${errorCode(error)}`;
}

/** Two keys with the same fingerprint and parameters are taken for the same key (a false match is a 2^-32 chance). */
export function sameKey(a: TotpKey, b: TotpKey): boolean {
  return a.id === b.id && a.algorithm === b.algorithm && a.digits === b.digits && a.period === b.period && a.epoch === b.epoch;
}

export class KeySource {
  readonly path: string;
  /** The parameters of a base32 key file. */
  readonly totp: TotpOptions | undefined;
  /** The version last read (or known to be current); undefined before the first read. */
  #signature: string | undefined;
  // Bumped whenever #signature is set: an async read that started before a newer version was
  // read (synchronously, or by this process's own write) must not win with an older key.
  #generation = 0;

  /**
   * KeyOwner's source: reads only a regular file of this process's user that no other user can
   * write (see readKeyFile's `own`), and looks at the path itself, not through a symbolic link.
   */
  readonly own: boolean;

  constructor(file: string, totp: TotpOptions | undefined, own = false) {
    this.path = file;
    this.totp = totp;
    this.own = own;
  }

  /** Records a version this process knows without reading it: one it wrote, or removed (MISSING). */
  assume(signature: string): void {
    this.#signature = signature;
    this.#generation++;
  }

  /** Reads the file now, whatever its version. */
  async read(): Promise<ReadOutcome> {
    // Undefined only when a newer version was applied meanwhile: read again, so that the answer
    // is about the file as it is now.
    return (await this.refresh(true)) ?? this.read();
  }

  /**
   * Reads the file if its version differs from the last one read (or if `force`d): undefined
   * when it does not, or when a newer version was read while this read was under way (that one
   * has been applied).
   */
  async refresh(force = false): Promise<ReadOutcome | undefined> {
    const generation = this.#generation;
    const signature = await (this.own ? fsp.lstat(this.path) : fsp.stat(this.path)).then(signatureOf, statFailure);
    if (generation !== this.#generation || (signature === this.#signature && !force)) return undefined;
    if (signature === MISSING) return this.#absent();
    const outcome = await readKeyFile(this.path, this.totp, this.path, this.own).catch((error: OtpError) => error);
    if (generation !== this.#generation) {
      if (isLoaded(outcome)) outcome.key.destroy();
      return undefined;
    }
    this.#record(outcome, signature);
    return outcome;
  }

  /** `refresh` without waiting: one stat when nothing changed. */
  refreshSync(): ReadOutcome | undefined {
    let signature: string;
    try {
      const stats = (this.own ? fs.lstatSync : fs.statSync)(this.path, { throwIfNoEntry: false });
      signature = stats === undefined ? MISSING : signatureOf(stats);
    } catch (error) {
      signature = statFailure(error);
    }
    if (signature === this.#signature) return undefined;
    if (signature === MISSING) return this.#absent();
    let outcome: ReadOutcome;
    try {
      outcome = readKeyFileSync(this.path, this.totp, this.own);
    } catch (error) {
      outcome = error as OtpError;
    }
    this.#record(outcome, signature);
    return outcome;
  }

  #absent(): OtpError {
    this.assume(MISSING);
    return missingKeyFile(this.path);
  }

  /**
   * Remembers the version an outcome came from: a key knows its own (from the descriptor it was
   * read through); a malformed or unreadable file stands under the stat that led to the read, so
   * it is not read, nor reported, again until it changes.
   */
  #record(outcome: ReadOutcome, statSignature: string | undefined): void {
    if (isLoaded(outcome)) this.assume(outcome.signature);
    else if (outcome.code === 'ERR_OTP_KEY_MISSING') this.assume(MISSING);
    else if (statSignature !== undefined) this.assume(statSignature);
  }
}
