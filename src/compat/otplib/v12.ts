// otplib 12's `authenticator`, `totp` and `hotp` (the preset-default objects most code still
// imports), with the same classes, options merging, validation messages, formats and window
// search order. Codes come from ../internal/otp.ts; the original's plugin options
// (createDigest, createHmacKey, keyDecoder, keyEncoder, createRandomBytes, digest) are honoured
// when given, through the same hex-string pipeline as the original.
import { randomBytes } from 'node:crypto';

import { encodeBase32 } from '../../base32.js';
import { parseCode } from '../../internal/code.js';
import * as otp from '../internal/otp.js';
import { CounterList, MAX_LISTED } from '../internal/window.js';
import { decodeThirtyTwo, encodeThirtyTwo } from './thirty-two.js';

export type HashAlgorithm = 'sha1' | 'sha256' | 'sha512';
export type KeyEncoding = 'ascii' | 'base64' | 'hex' | 'latin1' | 'utf8';

/** otplib 12's `HashAlgorithms` enum (from @otplib/core), as a frozen object. */
export const HashAlgorithms = Object.freeze({ SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' } as const);
/** otplib 12's `KeyEncodings` enum (from @otplib/core), as a frozen object. */
export const KeyEncodings = Object.freeze({ ASCII: 'ascii', BASE64: 'base64', HEX: 'hex', LATIN1: 'latin1', UTF8: 'utf8' } as const);

const HASH_ALGORITHMS: readonly string[] = Object.values(HashAlgorithms);
const KEY_ENCODINGS: readonly string[] = Object.values(KeyEncodings);

export type CreateDigest = (algorithm: HashAlgorithm, hmacKey: string, counter: string) => string;
export type CreateHmacKey = (algorithm: HashAlgorithm, secret: string, encoding: KeyEncoding) => string;
export type KeyEncoder = (secret: string, encoding: KeyEncoding) => string;
export type KeyDecoder = (encodedSecret: string, encoding: KeyEncoding) => string;
export type CreateRandomBytes = (size: number, encoding: KeyEncoding) => string;

export interface HOTPOptions {
  [key: string]: unknown;
  createDigest: CreateDigest;
  createHmacKey: CreateHmacKey;
  algorithm: HashAlgorithm;
  /** A precomputed hex digest: every code is computed from it instead of the secret. */
  digest?: string;
  digits: number;
  encoding: KeyEncoding;
}

export interface TOTPOptions extends HOTPOptions {
  /** The time to compute at, in milliseconds since the Unix epoch. Default: now. */
  epoch: number;
  /** The time step in seconds. Default 30. */
  step: number;
  /** Steps accepted on each side, or [past, future]. Default 0. */
  window: number | [number, number];
}

export interface AuthenticatorOptions extends TOTPOptions {
  keyEncoder: KeyEncoder;
  keyDecoder: KeyDecoder;
  createRandomBytes: CreateRandomBytes;
}

// ---- The defaults and the preset's plugins, on node:crypto ---------------------------------------

const createDigestPlaceholder: CreateDigest = () => {
  throw new Error('Please provide an options.createDigest implementation.');
};

/** The preset's createDigest: HMAC of a hex counter under a hex key, as a hex digest. */
const createDigest: CreateDigest = (algorithm, hmacKey, counter) =>
  otp.digest(algorithm, Buffer.from(hmacKey, 'hex'), Buffer.from(counter, 'hex')).toString('hex');

const createRandomBytes: CreateRandomBytes = (size, encoding) => randomBytes(size).toString(encoding);

const keyDecoder: KeyDecoder = (encodedSecret, encoding) => decodeThirtyTwo(encodedSecret).toString(encoding);

// Through an 'ascii' string, as the original does: the top bit of every byte is lost.
const keyEncoder: KeyEncoder = (secret, encoding) =>
  encodeThirtyTwo(Buffer.from(Buffer.from(secret, encoding).toString('ascii'))).replace(/=/g, '');

const hotpCreateHmacKey: CreateHmacKey = (_algorithm, secret, encoding) => Buffer.from(secret, encoding).toString('hex');

/** HMAC key size per algorithm: a TOTP secret shorter than this is repeated up to it. */
const PADDED_LENGTH: Readonly<Record<string, number>> = { sha1: 20, sha256: 32, sha512: 64 };

/**
 * The TOTP HMAC key: the secret's bytes, repeated (length - secret.length) times and cut to
 * `length` bytes when the secret has fewer than `length` characters (in the string's own
 * encoding: a hex secret counts its hex digits), else the bytes as they are.
 */
function paddedKey(secret: string, encoding: string, length: number): Buffer {
  const characters = secret.length;
  return padKey(Buffer.from(secret, encoding as BufferEncoding), characters, length);
}

function padKey(bytes: Buffer, characters: number, length: number): Buffer {
  const shortBy = length - characters;
  if (!(shortBy > 0)) return bytes;
  const repeated = Buffer.alloc(Math.min(length, bytes.length * shortBy));
  for (let at = 0; at < repeated.length; at += bytes.length) bytes.copy(repeated, at);
  return repeated;
}

const totpCreateHmacKey: CreateHmacKey = (algorithm, secret, encoding) => {
  const length = PADDED_LENGTH[algorithm];
  if (length === undefined) throw new Error(`Expecting algorithm to be one of ${HASH_ALGORITHMS.join(', ')}. Received ${algorithm}.`);
  return paddedKey(secret, encoding, length).toString('hex');
};

function hotpDefaultOptions(): Record<string, unknown> {
  return { algorithm: 'sha1', createHmacKey: hotpCreateHmacKey, createDigest: createDigestPlaceholder, digits: 6, encoding: 'ascii' };
}

function totpDefaultOptions(encoding: KeyEncoding): Record<string, unknown> {
  return {
    algorithm: 'sha1',
    createDigest: createDigestPlaceholder,
    createHmacKey: totpCreateHmacKey,
    digits: 6,
    encoding,
    epoch: Date.now(),
    step: 30,
    window: 0,
  };
}

// ---- Validation (the original's checks, order and messages) ----------------------------------------

type Options = Record<string, any>;

function validateHotpOptions(options: Options): void {
  if (typeof options.createDigest !== 'function') throw new Error('Expecting options.createDigest to be a function.');
  if (typeof options.createHmacKey !== 'function') throw new Error('Expecting options.createHmacKey to be a function.');
  if (typeof options.digits !== 'number') throw new Error('Expecting options.digits to be a number.');
  if (!options.algorithm || !HASH_ALGORITHMS.includes(options.algorithm)) {
    throw new Error(`Expecting options.algorithm to be one of ${HASH_ALGORITHMS.join(', ')}. Received ${options.algorithm}.`);
  }
  if (!options.encoding || !KEY_ENCODINGS.includes(options.encoding)) {
    throw new Error(`Expecting options.encoding to be one of ${KEY_ENCODINGS.join(', ')}. Received ${options.encoding}.`);
  }
}

/** [past, future] step counts of a window option. */
function windowBounds(window: unknown): [number, number] {
  if (typeof window === 'number') return [Math.abs(window), Math.abs(window)];
  if (Array.isArray(window)) {
    const [past, future] = window;
    if (typeof past === 'number' && typeof future === 'number') return [Math.abs(past), Math.abs(future)];
  }
  throw new Error('Expecting options.window to be an number or [number, number].');
}

function validateTotpOptions(options: Options): void {
  validateHotpOptions(options);
  windowBounds(options.window);
  if (typeof options.epoch !== 'number') throw new Error('Expecting options.epoch to be a number.');
  if (typeof options.step !== 'number') throw new Error('Expecting options.step to be a number.');
}

function validateAuthenticatorOptions(options: Options): void {
  validateTotpOptions(options);
  if (typeof options.keyDecoder !== 'function') throw new Error('Expecting options.keyDecoder to be a function.');
  if (options.keyEncoder && typeof options.keyEncoder !== 'function') throw new Error('Expecting options.keyEncoder to be a function.');
}

// ---- Codes: the original's pipeline, and the direct path to ../internal/otp.ts ----------------------

const isTokenValid = (value: unknown): boolean => /^(\d+)$/.test(value as string);

/** The original's left padding: a code shorter than `length` is padded with '0' to it. */
function padCode(value: string, length: number): string {
  if (value.length >= length) return value;
  if (!Number.isInteger(length) || length >= 2 ** 32 - 1) throw new RangeError('Invalid array length');
  return value.padStart(length, '0');
}

function hexCounter(counter: number): string {
  const hex: string = counter.toString(16);
  return hex.length >= 16 ? hex : hex.padStart(16, '0');
}

function digestToToken(hexDigest: string, digits: number): string {
  const value = otp.truncate(Buffer.from(hexDigest, 'hex'));
  return padCode(String(value % Math.pow(10, digits)), digits);
}

/** A code the way the original computes it: createHmacKey, createDigest, hex all the way. */
function pipelineToken(secret: string, counter: number, o: Options): string {
  const hexDigest = o.digest || o.createDigest(o.algorithm, o.createHmacKey(o.algorithm, secret, o.encoding), hexCounter(counter));
  return digestToToken(hexDigest, o.digits);
}

const fastCode = (algorithm: string, key: Uint8Array, counter: number, digits: number): string =>
  String(otp.code(algorithm, key, counter, digits)).padStart(digits, '0');

// ---- Per-instance resolved options ----------------------------------------------------------------

type Kind = 'hotp' | 'totp' | 'authenticator';

/**
 * An instance's options merged and validated once, until `_defaultOptions` or `_options` is
 * replaced (the setter, resetOptions, or an assignment: both are checked by identity).
 */
interface Resolved {
  defaults: object;
  options: object;
  /** The merged options, with `epoch` only if given (the default is the time of each call). */
  merged: Options;
  epochGiven: boolean;
  past: number;
  future: number;
  /** The key is the secret's bytes and codes come from otp.code: no plugin or digest overrides. */
  direct: boolean;
}

const counters = new CounterList();

export class OTP<T extends Options = Options> {
  protected _defaultOptions: Readonly<Partial<T>>;
  protected _options: Readonly<Partial<T>>;

  constructor(defaultOptions: Partial<T> = {}) {
    this._defaultOptions = Object.freeze({ ...defaultOptions });
    this._options = Object.freeze({});
  }

  create(defaultOptions: Partial<T> = {}): OTP<T> {
    return new OTP(defaultOptions);
  }

  clone(defaultOptions: Partial<T> = {}): ReturnType<this['create']> {
    const instance = this.create({ ...this._defaultOptions, ...defaultOptions });
    instance.options = this._options;
    return instance as ReturnType<this['create']>;
  }

  get options(): Partial<T> {
    return Object.freeze({ ...this._defaultOptions, ...this._options });
  }

  set options(options: Partial<T>) {
    this._options = Object.freeze({ ...this._options, ...options });
  }

  allOptions(): Readonly<T> {
    return this.options as Readonly<T>;
  }

  resetOptions(): void {
    this._options = Object.freeze({});
  }
}

export class HOTP<T extends HOTPOptions = HOTPOptions> extends OTP<T> {
  #resolved: Resolved | undefined;

  override create(defaultOptions: Partial<T> = {}): HOTP<T> {
    return new HOTP(defaultOptions);
  }

  protected kind(): Kind {
    return 'hotp';
  }

  /** The merged defaults for this kind, as the original builds them (epoch: now). */
  protected defaultsOf(): Options {
    return hotpDefaultOptions();
  }

  protected validate(options: Options): void {
    validateHotpOptions(options);
  }

  override allOptions(): Readonly<T> {
    const options = { ...this.defaultsOf(), ...this.options };
    this.validate(options);
    return Object.freeze(options) as Readonly<T>;
  }

  /** The options in force for one call (validated; throws as the original would). */
  protected resolve(): Resolved {
    const cached = this.#resolved;
    if (cached !== undefined && cached.defaults === this._defaultOptions && cached.options === this._options) return cached;
    const given: Options = { ...this._defaultOptions, ...this._options };
    const merged: Options = { ...this.defaultsOf(), ...given };
    this.validate(merged);
    const epochGiven = Object.hasOwn(given, 'epoch');
    if (!epochGiven) delete merged.epoch;
    const kind = this.kind();
    const [past, future] = kind === 'hotp' ? [0, 0] : windowBounds(merged.window);
    const direct =
      merged.createDigest === createDigest &&
      merged.createHmacKey === (kind === 'hotp' ? hotpCreateHmacKey : totpCreateHmacKey) &&
      !merged.digest &&
      otp.servesDigits(merged.digits) &&
      (kind !== 'authenticator' || merged.keyDecoder === keyDecoder);
    const resolved = { defaults: this._defaultOptions, options: this._options, merged, epochGiven, past, future, direct };
    this.#resolved = resolved;
    return resolved;
  }

  generate(secret: string, counter: number): string {
    const { merged: o, direct } = this.resolve();
    if (direct && typeof counter === 'number' && otp.servesCounter(counter)) {
      return fastCode(o.algorithm, Buffer.from(secret, o.encoding), counter, o.digits);
    }
    return pipelineToken(secret, counter, o);
  }

  check(token: string, secret: string, counter: number): boolean {
    const { merged: o, direct } = this.resolve();
    if (!isTokenValid(token)) return false;
    if (direct && typeof counter === 'number' && otp.servesCounter(counter)) {
      const key = Buffer.from(secret, o.encoding);
      const target = parseCode(token, o.digits);
      return target >= 0 && otp.code(o.algorithm, key, counter, o.digits) === target;
    }
    return token === pipelineToken(secret, counter, o);
  }

  verify(opts: { token: string; secret: string; counter: number }): boolean {
    if (typeof opts !== 'object') throw new Error('Expecting argument 0 of verify to be an object');
    return this.check(opts.token, opts.secret, opts.counter);
  }

  keyuri(accountName: string, issuer: string, secret: string, counter: number): string {
    const o = this.allOptions();
    return keyuri({ algorithm: o.algorithm, digits: o.digits, type: 'hotp', accountName, counter, issuer, secret });
  }
}

export class TOTP<T extends TOTPOptions = TOTPOptions> extends HOTP<T> {
  override create(defaultOptions: Partial<T> = {}): TOTP<T> {
    return new TOTP(defaultOptions);
  }

  protected override kind(): Kind {
    return 'totp';
  }

  protected override defaultsOf(): Options {
    return totpDefaultOptions('ascii');
  }

  protected override validate(options: Options): void {
    validateTotpOptions(options);
  }

  /** The secret as the TOTP pipeline takes it (the authenticator decodes its base32 first). */
  protected keySecret(secret: string, _o: Options): string {
    return secret;
  }

  /** On the direct path: the HMAC key bytes, as createHmacKey would give them in hex. */
  protected directKey(secret: string, o: Options): Buffer {
    return paddedKey(this.keySecret(secret, o), o.encoding, PADDED_LENGTH[o.algorithm] as number);
  }

  override generate(secret: string): string {
    const r = this.resolve();
    const o = r.merged;
    const epoch: number = r.epochGiven ? o.epoch : Date.now();
    const counter = Math.floor(epoch / o.step / 1000);
    if (r.direct && otp.servesCounter(counter)) return fastCode(o.algorithm, this.directKey(secret, o), counter, o.digits);
    return pipelineToken(this.keySecret(secret, o), counter, o);
  }

  /** The step offset of the token within the window (0 first, then the past, then the future), or null. */
  checkDelta(token: string, secret: string): number | null {
    const r = this.resolve();
    const o = r.merged;
    const epoch: number = r.epochGiven ? o.epoch : Date.now();
    // The authenticator decodes the secret before it looks at the token; a TOTP derives the key
    // only for a well-formed token.
    const decodesFirst = this.kind() === 'authenticator';
    const early = !decodesFirst ? undefined : r.direct ? this.directKey(secret, o) : this.keySecret(secret, o);
    if (!isTokenValid(token)) return null;
    // The original checks epoch, then epoch - k steps (k = 1..past), then epoch + k steps,
    // each step's counter computed from its epoch in milliseconds.
    const stepMs = o.step * 1000;
    if (r.direct && r.past + r.future < MAX_LISTED) {
      counters.reset();
      counters.add(Math.floor(epoch / o.step / 1000));
      for (let k = 1; k <= r.past; k++) counters.add(Math.floor((epoch + -k * stepMs) / o.step / 1000));
      const futureStart = counters.count;
      for (let k = 1; k <= r.future; k++) counters.add(Math.floor((epoch + k * stepMs) / o.step / 1000));
      const futureCount = counters.count - futureStart;
      if (counters.servable) {
        const key = early instanceof Buffer ? early : this.directKey(secret, o);
        const target = parseCode(token, o.digits);
        if (target < 0) return null;
        const index = otp.search(o.algorithm, key, counters.values, counters.count, o.digits, target);
        if (index < 0) return null;
        const pastCount = counters.count - 1 - futureCount;
        return index === 0 ? 0 : index <= pastCount ? -index : index - pastCount;
      }
    }
    const keySecret = typeof early === 'string' ? early : this.keySecret(secret, o);
    const matches = (at: number) => token === pipelineToken(keySecret, Math.floor(at / o.step / 1000), o);
    if (matches(epoch)) return 0;
    for (let k = 1; k <= r.past; k++) if (matches(epoch + -k * stepMs)) return -k;
    for (let k = 1; k <= r.future; k++) if (matches(epoch + k * stepMs)) return k;
    return null;
  }

  override check(token: string, secret: string): boolean {
    return typeof this.checkDelta(token, secret) === 'number';
  }

  override verify(opts: { token: string; secret: string }): boolean {
    if (typeof opts !== 'object') throw new Error('Expecting argument 0 of verify to be an object');
    return this.check(opts.token, opts.secret);
  }

  /** Seconds left in the current step. */
  timeRemaining(): number {
    const o = this.allOptions();
    return o.step - timeUsed(o.epoch, o.step);
  }

  /** Seconds of the current step already gone. */
  timeUsed(): number {
    const o = this.allOptions();
    return timeUsed(o.epoch, o.step);
  }

  override keyuri(accountName: string, issuer: string, secret: string): string {
    const o = this.allOptions();
    return keyuri({ algorithm: o.algorithm, digits: o.digits, step: o.step, type: 'totp', accountName, issuer, secret });
  }
}

const timeUsed = (epoch: number, step: number): number => Math.floor(epoch / 1000) % step;

export class Authenticator<T extends AuthenticatorOptions = AuthenticatorOptions> extends TOTP<T> {
  override create(defaultOptions: Partial<T> = {}): Authenticator<T> {
    return new Authenticator(defaultOptions);
  }

  protected override kind(): Kind {
    return 'authenticator';
  }

  protected override defaultsOf(): Options {
    return totpDefaultOptions('hex');
  }

  protected override validate(options: Options): void {
    validateAuthenticatorOptions(options);
  }

  protected override keySecret(secret: string, o: Options): string {
    return o.keyDecoder(secret, o.encoding);
  }

  // With the default 'hex' encoding the decoded bytes are the key: no hex string in between
  // (the padding still counts the hex digits, as the original's does).
  protected override directKey(secret: string, o: Options): Buffer {
    if (o.encoding !== 'hex') return super.directKey(secret, o);
    const bytes = decodeThirtyTwo(secret);
    return padKey(bytes, bytes.length * 2, PADDED_LENGTH[o.algorithm] as number);
  }

  encode(secret: string): string {
    const o = this.allOptions();
    return o.keyEncoder(secret, o.encoding);
  }

  decode(secret: string): string {
    const o = this.allOptions();
    return o.keyDecoder(secret, o.encoding);
  }

  /**
   * A random base32 secret of `numberOfBytes` bytes (default 10). With the preset's plugins the
   * bytes are used whole; the original passed them through an ASCII string, which cleared the
   * top bit of every byte (70 bits of entropy in its default 10 bytes).
   */
  generateSecret(numberOfBytes = 10): string {
    const o = this.allOptions();
    if (o.createRandomBytes === createRandomBytes && o.keyEncoder === keyEncoder) return encodeBase32(randomBytes(numberOfBytes));
    return o.keyEncoder(o.createRandomBytes(numberOfBytes, o.encoding), o.encoding);
  }
}

// ---- Key URIs ----------------------------------------------------------------------------------------

interface KeyUriOptions {
  type: 'hotp' | 'totp';
  accountName: string;
  issuer: string;
  secret: string;
  algorithm?: string;
  counter?: number;
  digits?: number;
  step?: number;
}

function keyuri(options: KeyUriOptions): string {
  const params: string[] = [];
  if (options.type === 'hotp') {
    if (options.counter == null || typeof options.counter !== 'number') {
      throw new Error('Expecting options.counter to be a number when options.type is "hotp".');
    }
    params.push(`&counter=${options.counter}`);
  }
  if (options.type === 'totp' && options.step) params.push(`&period=${options.step}`);
  if (options.digits) params.push(`&digits=${options.digits}`);
  if (options.algorithm) params.push(`&algorithm=${options.algorithm.toUpperCase()}`);
  if (options.issuer) params.push(`&issuer=${encodeURIComponent(options.issuer)}`);
  // Filled in as the original does, one String#replace at a time: a '$' pattern or a later
  // placeholder inside the (unencoded) secret is treated the same way.
  return `otpauth://${options.type}/{labelPrefix}:{accountName}?secret={secret}{query}`
    .replace('{labelPrefix}', encodeURIComponent(options.issuer || options.accountName))
    .replace('{accountName}', encodeURIComponent(options.accountName))
    .replace('{secret}', options.secret)
    .replace('{query}', params.join(''));
}

// ---- The preset objects ------------------------------------------------------------------------------

/** otplib 12's `hotp`: an HOTP with node:crypto digests; secrets in `encoding` (default 'ascii'). */
export const hotp = new HOTP<HOTPOptions>({ createDigest } as Partial<HOTPOptions>);
/** otplib 12's `totp`: a TOTP with node:crypto digests; secrets in `encoding` (default 'ascii'). */
export const totp = new TOTP<TOTPOptions>({ createDigest } as Partial<TOTPOptions>);
/** otplib 12's `authenticator`: a TOTP taking base32 secrets (Google Authenticator style). */
export const authenticator = new Authenticator<AuthenticatorOptions>({
  createDigest,
  createRandomBytes,
  keyDecoder,
  keyEncoder,
} as Partial<AuthenticatorOptions>);
