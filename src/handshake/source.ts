// Which version of the key file a process last read, so that it re-reads only what changed and
// reports each problem once per file version rather than once per look.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';

import { isOtpError, type OtpError } from '../errors.js';
import { ABSENT, type PathVersion, versionOf, versionOfFailure } from '../internal/fs.js';
import type { TotpOptions } from '../options.js';
import { keyFileIoError, type LoadedKey, missingKeyFile, readKeyFile, readOwnKeyFile, readOwnKeyFileSync } from './keyfile.js';

/** A fresh read: a key, or why there is none (ERR_OTP_KEY_MISSING, _MALFORMED or _IO). */
export type ReadOutcome = LoadedKey | OtpError;

export function isLoaded(outcome: ReadOutcome): outcome is LoadedKey {
  return 'key' in outcome;
}

export interface KeySourceOptions {
  /** The parameters of a base32 key file. */
  totp: TotpOptions | undefined;
  /**
   * 'owner': only a regular file of this process's user that no other user can write, looked at
   * at the path itself, not through a symbolic link (see readOwnKeyFile). 'reader': any key file,
   * through links.
   */
  trust: 'owner' | 'reader';
}

export class KeySource {
  readonly path: string;
  readonly totp: TotpOptions | undefined;
  readonly #trust: 'owner' | 'reader';
  /** The version last read (or known to be current); undefined before the first read. */
  #version: PathVersion | undefined;
  // Bumped whenever #version is set: a read that started before a newer version was applied (this
  // process's own write, or another read) must not win with an older key.
  #generation = 0;

  constructor(file: string, { totp, trust }: KeySourceOptions) {
    this.path = file;
    this.totp = totp;
    this.#trust = trust;
  }

  /** Records a version this process knows without reading it: one it wrote, or removed (ABSENT). */
  assume(version: PathVersion): void {
    this.#version = version;
    this.#generation++;
  }

  /** Reads the file now, whatever its version. */
  async read(): Promise<ReadOutcome> {
    // Undefined only when a newer version was applied meanwhile: read again, so that the answer
    // is about the file as it is now.
    return (await this.#look(true)) ?? this.read();
  }

  /**
   * Reads the file if its version differs from the last one read: undefined when it does not, or
   * when a newer version was applied while this read was under way.
   */
  refresh(): Promise<ReadOutcome | undefined> {
    return this.#look(false);
  }

  /**
   * `refresh` without waiting, for an owner's source: one lstat when nothing changed, and a read
   * when something did. Any read still under way is then discarded in favour of this one.
   */
  refreshSync(): ReadOutcome | undefined {
    let version: PathVersion;
    try {
      version = versionOf(fs.lstatSync(this.path));
    } catch (error) {
      version = versionOfFailure(error);
    }
    if (version === this.#version) return undefined;
    if (version === ABSENT) {
      this.assume(ABSENT);
      return missingKeyFile(this.path);
    }
    let outcome: ReadOutcome;
    try {
      outcome = readOwnKeyFileSync(this.path, { totp: this.totp });
    } catch (error) {
      outcome = isOtpError(error) ? error : keyFileIoError(this.path, 'read', error);
    }
    this.#record(outcome, version);
    return outcome;
  }

  async #look(always: boolean): Promise<ReadOutcome | undefined> {
    const generation = this.#generation;
    const stat = this.#trust === 'owner' ? fsp.lstat : fsp.stat;
    const version = await stat(this.path).then(versionOf, versionOfFailure);
    if (generation !== this.#generation || (version === this.#version && !always)) return undefined;
    if (version === ABSENT) {
      this.assume(ABSENT);
      return missingKeyFile(this.path);
    }
    const read = this.#trust === 'owner' ? readOwnKeyFile : readKeyFile;
    const outcome = await read(this.path, { totp: this.totp }).catch((error: unknown) =>
      isOtpError(error) ? error : keyFileIoError(this.path, 'read', error),
    );
    if (generation !== this.#generation) {
      if (isLoaded(outcome)) outcome.key.destroy();
      return undefined;
    }
    this.#record(outcome, version);
    return outcome;
  }

  /**
   * Remembers the version an outcome came from: a key knows its own (from the descriptor it was
   * read through); a malformed or unreadable file stands under the stat that led to the read, so
   * it is not read, nor reported, again until it changes.
   */
  #record(outcome: ReadOutcome, statVersion: PathVersion): void {
    if (isLoaded(outcome)) this.assume(outcome.version);
    else if (outcome.code === 'ERR_OTP_KEY_MISSING') this.assume(ABSENT);
    else this.assume(statVersion);
  }
}
