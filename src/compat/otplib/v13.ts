// otplib 13's functional API: generate, generateSync, verify, verifySync, generateSecret,
// generateURI, with its validation order, error classes and messages, guardrails, hooks and
// crypto/base32 plugins. With the default plugins the codes come from ../internal/otp.ts; a
// plugin or hook the caller supplies is called exactly where otplib calls it.
import { webcrypto } from 'node:crypto';

import { encodeBase32 } from '../../base32.js';
import { parseCode } from '../../internal/code.js';
import * as otp from '../internal/otp.js';
import { CounterList } from '../internal/window.js';
import {
  AfterTimeStepNegativeError,
  AfterTimeStepNotIntegerError,
  AfterTimeStepRangeExceededError,
  AlgorithmUnsupportedError,
  Base32PluginMissingError,
  ConfigurationError,
  CounterNegativeError,
  CounterNotIntegerError,
  CounterOverflowError,
  CounterToleranceError,
  CounterToleranceNegativeError,
  CounterToleranceTooLargeError,
  CryptoPluginMissingError,
  EpochToleranceError,
  EpochToleranceNegativeError,
  EpochToleranceTooLargeError,
  HMACError,
  type OTPError,
  PeriodTooLargeError,
  PeriodTooSmallError,
  SecretMissingError,
  SecretTooLongError,
  SecretTooShortError,
  TimeNegativeError,
  TimeNotFiniteError,
  TokenFormatError,
  TokenLengthError,
} from './errors.js';

export type HashAlgorithm = 'sha1' | 'sha256' | 'sha512';
export type Digits = number;
export type OTPStrategy = 'totp' | 'hotp';

export interface CryptoPlugin {
  readonly name: string;
  readonly algorithms?: readonly HashAlgorithm[];
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> | Uint8Array;
  randomBytes(length: number): Uint8Array;
  constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean;
}

export interface Base32Plugin {
  readonly name: string;
  encode(data: Uint8Array, options?: { padding?: boolean }): string;
  decode(str: string): Uint8Array;
}

export interface OTPHooks {
  readonly encodeToken?: (truncatedValue: number, digits: number) => string;
  readonly validateToken?: (token: string, digits: number) => void;
  readonly truncateDigest?: (hmacResult: Uint8Array) => number;
}

export interface OTPGuardrailsConfig {
  MIN_SECRET_BYTES: number;
  MAX_SECRET_BYTES: number;
  MIN_PERIOD: number;
  MAX_PERIOD: number;
  MAX_COUNTER: number;
  MAX_WINDOW: number;
}

export type OTPGuardrails = Readonly<OTPGuardrailsConfig>;

export interface OTPGenerateOptions {
  secret: string | Uint8Array;
  strategy?: OTPStrategy;
  crypto?: CryptoPlugin;
  base32?: Base32Plugin;
  algorithm?: HashAlgorithm;
  digits?: Digits;
  /** TOTP step in seconds. Default 30. */
  period?: number;
  /** TOTP: the time in seconds since the Unix epoch. Default now. */
  epoch?: number;
  /** TOTP: the time of step 0, in seconds. Default 0. */
  t0?: number;
  /** HOTP: the counter (required for the 'hotp' strategy). */
  counter?: number | bigint;
  guardrails?: OTPGuardrails;
  hooks?: OTPHooks;
}

export interface OTPVerifyOptions extends OTPGenerateOptions {
  token: string;
  /** TOTP: seconds of tolerance on each side, or [past, future]. Default 0. */
  epochTolerance?: number | [number, number];
  /** HOTP: counters ahead (a number), or [behind, ahead]. Default 0. */
  counterTolerance?: number | [number, number];
  /** TOTP: refuse codes of this time step and earlier (replay protection). */
  afterTimeStep?: number;
}

export type VerifyResult =
  | { readonly valid: true; readonly delta: number; readonly epoch?: number; readonly timeStep?: number }
  | { readonly valid: false };

// ---- Guardrails and checks (otplib's, in its order, with its errors) -------------------------------

const OVERRIDDEN = Symbol('otplib.guardrails.override');

const DEFAULT_GUARDRAILS: OTPGuardrails = Object.freeze({
  MIN_SECRET_BYTES: 16,
  MAX_SECRET_BYTES: 64,
  MIN_PERIOD: 1,
  MAX_PERIOD: 3600,
  MAX_COUNTER: Number.MAX_SAFE_INTEGER,
  MAX_WINDOW: 99,
  [OVERRIDDEN]: false,
});

function guardrailInteger(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ConfigurationError(`Guardrail '${name}' must be a safe integer`);
  if (value < min) throw new ConfigurationError(`Guardrail '${name}' must be >= ${min}`);
}

/** otplib's guardrails: the default limits, or these overrides checked and merged into them. */
export function createGuardrails(custom?: Partial<OTPGuardrailsConfig>): OTPGuardrails {
  if (!custom) return DEFAULT_GUARDRAILS;
  const minimums: [keyof OTPGuardrailsConfig, number][] = [
    ['MIN_SECRET_BYTES', 1],
    ['MAX_SECRET_BYTES', 1],
    ['MIN_PERIOD', 1],
    ['MAX_PERIOD', 1],
    ['MAX_COUNTER', 0],
    ['MAX_WINDOW', 1],
  ];
  for (const [name, min] of minimums) if (custom[name] !== undefined) guardrailInteger(name, custom[name], min);
  const merged = { ...DEFAULT_GUARDRAILS, ...custom };
  if (merged.MIN_SECRET_BYTES > merged.MAX_SECRET_BYTES) throw new ConfigurationError("Guardrail 'MIN_SECRET_BYTES' must be <= 'MAX_SECRET_BYTES'");
  if (merged.MIN_PERIOD > merged.MAX_PERIOD) throw new ConfigurationError("Guardrail 'MIN_PERIOD' must be <= 'MAX_PERIOD'");
  return Object.freeze({ ...merged, [OVERRIDDEN]: true });
}

const HASH_ALGORITHMS: readonly HashAlgorithm[] = Object.freeze(['sha1', 'sha256', 'sha512']);
const ALIASES: ReadonlyMap<string, HashAlgorithm> = new Map(
  HASH_ALGORITHMS.flatMap((name) => [name, name.replace('sha', 'sha-'), name.replace('sha', 'sha_')].map((alias) => [alias, name] as const)),
);

function normalizeHashAlgorithm(value: unknown, options: { supported?: readonly string[] | undefined; plugin?: string | undefined } = {}): HashAlgorithm {
  const { supported: declared, plugin } = options;
  // The default plugin declares the full set itself: no filtered copy on every call for it.
  const supported = declared === undefined || declared === HASH_ALGORITHMS ? HASH_ALGORITHMS : HASH_ALGORITHMS.filter((name) => declared.includes(name));
  if (typeof value === 'string') {
    const canonical = ALIASES.get(value.toLowerCase());
    if (canonical !== undefined && supported.includes(canonical)) return canonical;
  }
  throw new AlgorithmUnsupportedError(value, { supported, plugin: plugin as string });
}

function validateSecret(secret: Uint8Array, guardrails: OTPGuardrails = DEFAULT_GUARDRAILS): void {
  if (secret.length < guardrails.MIN_SECRET_BYTES) throw new SecretTooShortError(guardrails.MIN_SECRET_BYTES, secret.length);
  if (secret.length > guardrails.MAX_SECRET_BYTES) throw new SecretTooLongError(guardrails.MAX_SECRET_BYTES, secret.length);
}

function validateCounter(counter: number | bigint, guardrails: OTPGuardrails = DEFAULT_GUARDRAILS): void {
  if (typeof counter === 'number') {
    if (!Number.isFinite(counter) || !Number.isInteger(counter)) throw new CounterNotIntegerError();
    if (!Number.isSafeInteger(counter)) throw new CounterOverflowError();
  }
  const value = typeof counter === 'bigint' ? counter : BigInt(counter);
  if (value < 0n) throw new CounterNegativeError();
  if (value > BigInt(guardrails.MAX_COUNTER)) throw new CounterOverflowError();
}

function validateTime(time: number): void {
  if (!Number.isFinite(time)) throw new TimeNotFiniteError();
  if (time < 0) throw new TimeNegativeError();
}

function validatePeriod(period: number, guardrails: OTPGuardrails = DEFAULT_GUARDRAILS): void {
  if (!Number.isInteger(period) || period < guardrails.MIN_PERIOD) throw new PeriodTooSmallError(guardrails.MIN_PERIOD);
  if (period > guardrails.MAX_PERIOD) throw new PeriodTooLargeError(guardrails.MAX_PERIOD);
}

function validateToken(token: string, digits: number): void {
  if (token.length !== digits) throw new TokenLengthError(digits, token.length);
  if (!/^\d+$/.test(token)) throw new TokenFormatError();
}

const counterTolerance = (value: number | [number, number] = 0): [number, number] => (Array.isArray(value) ? value : [0, value]);
const epochTolerance = (value: number | [number, number] = 0): [number, number] => (Array.isArray(value) ? value : [value, value]);

function validateCounterTolerance(value: number | [number, number], guardrails: OTPGuardrails = DEFAULT_GUARDRAILS): void {
  const [past, future] = counterTolerance(value);
  if (!Number.isSafeInteger(past) || !Number.isSafeInteger(future)) throw new CounterToleranceError('Counter tolerance values must be safe integers');
  if (past < 0 || future < 0) throw new CounterToleranceNegativeError();
  const totalChecks = past + future + 1;
  if (totalChecks > guardrails.MAX_WINDOW) throw new CounterToleranceTooLargeError(guardrails.MAX_WINDOW, totalChecks);
}

function validateEpochTolerance(value: number | [number, number], period = 30, guardrails: OTPGuardrails = DEFAULT_GUARDRAILS): void {
  const [past, future] = Array.isArray(value) ? value : [value, value];
  if (!Number.isSafeInteger(past) || !Number.isSafeInteger(future)) throw new EpochToleranceError('Epoch tolerance values must be safe integers');
  if (past < 0 || future < 0) throw new EpochToleranceNegativeError();
  const max = (guardrails.MAX_WINDOW - 1) * period;
  if (past + future > max) throw new EpochToleranceTooLargeError(max, past + future);
}

function requireSecret<T>(secret: T | undefined): asserts secret is T {
  if (!secret) throw new SecretMissingError();
}

function requireCryptoPlugin<T>(crypto: T | undefined): asserts crypto is T {
  if (!crypto) throw new CryptoPluginMissingError();
}

function requireBase32Plugin<T>(base32: T | undefined): asserts base32 is T {
  if (!base32) throw new Base32PluginMissingError();
}

function normalizeSecret(secret: string | Uint8Array, base32: Base32Plugin | undefined): Uint8Array {
  if (typeof secret === 'string') {
    requireBase32Plugin(base32);
    return base32.decode(secret);
  }
  return secret;
}

const textEncoder = new TextEncoder();

/** A string as UTF-8 bytes; bytes as they are. */
export function stringToBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? textEncoder.encode(value) : value;
}

function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const left = stringToBytes(a);
  const right = stringToBytes(b);
  if (left.length !== right.length) return false;
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= (left[i] as number) ^ (right[i] as number);
  return difference === 0;
}

function counterToBytes(value: number | bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, typeof value === 'bigint' ? value : BigInt(value), false);
  return bytes;
}

const truncateDigits = (value: number, digits: number): string => (value % 10 ** digits).toString().padStart(digits, '0');

// ---- The default plugins, on node:crypto and this package's base32 ---------------------------------

/**
 * Stands in for otplib's default crypto plugin (@noble/hashes), and keeps its name so that
 * messages naming the plugin read the same; the HMAC is node:crypto's.
 */
export class NobleCryptoPlugin implements CryptoPlugin {
  readonly name: string = 'noble';
  readonly algorithms: readonly HashAlgorithm[] = HASH_ALGORITHMS;

  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
    const name = normalizeHashAlgorithm(algorithm, { supported: this.algorithms, plugin: this.name });
    // @noble/hashes' check and message, which otplib wraps in an HMACError.
    if (!(key instanceof Uint8Array)) throw new TypeError(`"key" expected Uint8Array, got type=${typeof key}`);
    const mac = otp.digest(name, key, data);
    return new Uint8Array(mac.buffer, mac.byteOffset, mac.length);
  }

  randomBytes(length: number): Uint8Array {
    if (typeof length !== 'number') throw new TypeError(`"bytesLength" expected number, got ${typeof length}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`"bytesLength" expected integer >= 0, got ${length}`);
    if (length > 65536) throw new RangeError(`"bytesLength" expected <= 65536, got ${length}`);
    return webcrypto.getRandomValues(new Uint8Array(length));
  }

  constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
    return constantTimeEqual(a, b);
  }
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE32_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE32_ALPHABET.length; i++) BASE32_VALUES[BASE32_ALPHABET.charCodeAt(i)] = i;

/**
 * Strict RFC 4648 base32, as @scure/base decodes it after otplib upper-cases the input and pads
 * it to a multiple of 8: no spaces, canonical trailing bits, no excess padding.
 */
function decodeStrictBase32(padded: string): Uint8Array {
  let end = padded.length;
  for (; end > 0 && padded[end - 1] === '='; end--) {
    if (((end - 1) * 5) % 8 === 0) throw new Error('padding: excess padding');
  }
  const out = new Uint8Array(Math.floor((end * 5) / 8));
  let carry = 0;
  let bits = 0;
  let length = 0;
  for (let i = 0; i < end; i++) {
    const code = padded.charCodeAt(i);
    const value = code < 128 ? (BASE32_VALUES[code] as number) : -1;
    // @scure/base quotes the letter; a secret's characters are not quoted here.
    if (value === -1) {
      out.fill(0);
      throw new Error(`Unknown letter at position ${i}. Allowed: ${BASE32_ALPHABET}`);
    }
    carry = ((carry << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (carry >> bits) & 0xff;
    }
  }
  const rest = (carry << (8 - bits)) & 0xff;
  if (bits >= 5) {
    out.fill(0);
    throw new Error('Excess padding');
  }
  if (rest > 0) {
    out.fill(0);
    throw new Error(`Non-zero padding: ${rest}`);
  }
  return out;
}

/** Stands in for otplib's default base32 plugin (@scure/base): the same strictness and messages. */
export class ScureBase32Plugin implements Base32Plugin {
  readonly name: string = 'scure';

  encode(data: Uint8Array, options: { padding?: boolean } = {}): string {
    const { padding = false } = options;
    const encoded = encodeBase32(data);
    return padding ? encoded.padEnd(Math.ceil(encoded.length / 8) * 8, '=') : encoded;
  }

  decode(str: string): Uint8Array {
    try {
      const upper = str.toUpperCase();
      return decodeStrictBase32(upper.padEnd(Math.ceil(upper.length / 8) * 8, '='));
    } catch (error) {
      throw new Error(`Invalid Base32 string: ${(error as Error).message}`);
    }
  }
}

const defaultCrypto: CryptoPlugin = Object.freeze(new NobleCryptoPlugin());
const defaultBase32: Base32Plugin = Object.freeze(new ScureBase32Plugin());

const isPromiseLike = (value: unknown): boolean => typeof (value as { then?: unknown } | null)?.then === 'function';

function hmacFailure(error: unknown): HMACError {
  return new HMACError(error instanceof Error ? error.message : String(error), { cause: error });
}

/** otplib's CryptoContext#hmacSync: the plugin's HMAC, its failures wrapped in HMACError. */
function contextHmacSync(crypto: CryptoPlugin, algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  const name = normalizeHashAlgorithm(algorithm, { supported: crypto.algorithms, plugin: crypto.name });
  let result: Uint8Array | Promise<Uint8Array>;
  try {
    result = crypto.hmac(name, key, data);
  } catch (error) {
    throw hmacFailure(error);
  }
  if (!isPromiseLike(result)) return result as Uint8Array;
  void Promise.resolve(result).catch(() => undefined);
  throw new HMACError('Crypto plugin does not support synchronous HMAC operations');
}

async function contextHmac(crypto: CryptoPlugin, algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const name = normalizeHashAlgorithm(algorithm, { supported: crypto.algorithms, plugin: crypto.name });
  try {
    return await crypto.hmac(name, key, data);
  } catch (error) {
    throw hmacFailure(error);
  }
}

// ---- HOTP and TOTP, step by step as otplib runs them ------------------------------------------------

/** What HOTP and TOTP inputs share. */
interface OtpInput {
  secret: string | Uint8Array;
  algorithm?: HashAlgorithm | undefined;
  digits?: Digits | undefined;
  crypto: CryptoPlugin;
  base32?: Base32Plugin | undefined;
  guardrails?: OTPGuardrails | undefined;
  hooks?: OTPHooks | undefined;
}

interface HotpInput extends OtpInput {
  counter: number | bigint;
}

interface HotpParts {
  crypto: CryptoPlugin;
  algorithm: HashAlgorithm;
  digits: Digits;
  secret: Uint8Array;
  counter: number | bigint;
  hooks: OTPHooks | undefined;
}

/** HOTP's checks, in otplib's order: the secret, the plugin, the counter, the algorithm. */
function checkedHotp(input: HotpInput) {
  const { secret, counter, algorithm: raw = 'sha1', digits = 6, crypto, base32, guardrails, hooks } = input;
  requireSecret(secret);
  requireCryptoPlugin(crypto);
  const bytes = normalizeSecret(secret, base32);
  validateSecret(bytes, guardrails);
  validateCounter(counter, guardrails);
  const algorithm = normalizeHashAlgorithm(raw, { supported: crypto.algorithms, plugin: crypto.name });
  return { bytes, counter, algorithm, digits, crypto, hooks };
}

function hotpParts(input: HotpInput): HotpParts {
  const { bytes, counter, algorithm, digits, crypto, hooks } = checkedHotp(input);
  return { crypto, algorithm, digits, secret: bytes, counter, hooks };
}

/** Whether a code can come straight from otp.code: default plugin, no hooks that change it. */
function direct(crypto: CryptoPlugin, secret: unknown, digits: unknown, hooks: OTPHooks | undefined): boolean {
  return crypto === defaultCrypto && secret instanceof Uint8Array && otp.servesDigits(digits) && !hooks?.truncateDigest && !hooks?.encodeToken;
}

function finish(mac: Uint8Array, digits: Digits, hooks: OTPHooks | undefined): string {
  const value = hooks?.truncateDigest ? hooks.truncateDigest(mac) : otp.truncate(mac);
  return hooks?.encodeToken ? hooks.encodeToken(value, digits) : truncateDigits(value, digits);
}

/**
 * A computation that may need the crypto plugin's HMAC: it yields each HMAC it needs and is
 * resumed with the result. One generator per computation serves both the Sync functions
 * (runSync) and the promise-returning ones (runAsync), as otplib's pairs do.
 */
type HmacRequest = { crypto: CryptoPlugin; algorithm: HashAlgorithm; key: Uint8Array; data: Uint8Array };
type Computation<T> = Generator<HmacRequest, T, Uint8Array>;

function runSync<T>(computation: Computation<T>): T {
  let step = computation.next();
  while (!step.done) {
    const { crypto, algorithm, key, data } = step.value;
    step = computation.next(contextHmacSync(crypto, algorithm, key, data));
  }
  return step.value;
}

async function runAsync<T>(computation: Computation<T>): Promise<T> {
  let step = computation.next();
  while (!step.done) {
    const { crypto, algorithm, key, data } = step.value;
    step = computation.next(await contextHmac(crypto, algorithm, key, data));
  }
  return step.value;
}

function* hotpCode(input: HotpInput): Computation<string> {
  const p = hotpParts(input);
  if (typeof p.counter === 'number' && direct(p.crypto, p.secret, p.digits, p.hooks)) {
    return String(otp.code(p.algorithm, p.secret, p.counter, p.digits)).padStart(p.digits, '0');
  }
  const mac = yield { crypto: p.crypto, algorithm: p.algorithm, key: p.secret, data: counterToBytes(p.counter) };
  return finish(mac, p.digits, p.hooks);
}

interface TotpInput extends OtpInput {
  epoch?: number | undefined;
  t0?: number | undefined;
  period?: number | undefined;
}

/** TOTP's checks, in otplib's order: the secret, the plugin, the time, the period, the algorithm. */
function checkedTotp(input: TotpInput) {
  const { secret, epoch = Math.floor(Date.now() / 1000), t0 = 0, period = 30, algorithm: raw = 'sha1', digits = 6, crypto, base32 } = input;
  const { guardrails = createGuardrails(), hooks } = input;
  requireSecret(secret);
  requireCryptoPlugin(crypto);
  const bytes = normalizeSecret(secret, base32);
  validateSecret(bytes, guardrails);
  validateTime(epoch);
  validatePeriod(period, guardrails);
  const algorithm = normalizeHashAlgorithm(raw, { supported: crypto.algorithms, plugin: crypto.name });
  return { bytes, epoch, t0, period, algorithm, digits, crypto, guardrails, hooks };
}

/** TOTP's checks, then the HOTP input for its step (otplib's getTOTPGenerateOptions). */
function totpToHotp(input: TotpInput): HotpInput {
  const { bytes, epoch, t0, period, algorithm, digits, crypto, guardrails, hooks } = checkedTotp(input);
  return { secret: bytes, counter: Math.floor((epoch - t0) / period), algorithm, digits, crypto, guardrails, hooks };
}

interface TotpVerifyInput extends TotpInput {
  token: string;
  epochTolerance?: number | [number, number] | undefined;
  afterTimeStep?: number | undefined;
}

interface TotpWindow {
  token: string;
  crypto: CryptoPlugin;
  minCounter: number;
  maxCounter: number;
  currentCounter: number;
  t0: number;
  period: number;
  afterTimeStep: number | undefined;
  secret: Uint8Array;
  algorithm: HashAlgorithm;
  digits: Digits;
  guardrails: OTPGuardrails;
  hooks: OTPHooks | undefined;
}

function totpWindow(input: TotpVerifyInput): TotpWindow {
  const { token, epochTolerance: tolerance = 0, afterTimeStep } = input;
  const { bytes, epoch, t0, period, algorithm, digits, crypto, guardrails, hooks } = checkedTotp(input);
  if (hooks?.validateToken) hooks.validateToken(token, digits);
  else validateToken(token, digits);
  validateEpochTolerance(tolerance, period, guardrails);
  const currentCounter = Math.floor((epoch - t0) / period);
  const [past, future] = epochTolerance(tolerance);
  const minCounter = Math.max(0, Math.floor((epoch - past - t0) / period));
  const maxCounter = Math.floor((epoch + future - t0) / period);
  if (afterTimeStep !== undefined) {
    if (afterTimeStep < 0) throw new AfterTimeStepNegativeError();
    if (!Number.isSafeInteger(afterTimeStep)) throw new AfterTimeStepNotIntegerError();
    if (afterTimeStep > maxCounter) throw new AfterTimeStepRangeExceededError();
  }
  return { token, crypto, minCounter, maxCounter, currentCounter, t0, period, afterTimeStep, secret: bytes, algorithm, digits, guardrails, hooks };
}

/** The TOTP input otplib builds for one step of a verification window. */
function stepInput(w: TotpWindow, counter: number): TotpInput {
  const { secret, t0, period, algorithm, digits, crypto, guardrails, hooks } = w;
  return { secret, epoch: counter * period + t0, t0, period, algorithm, digits, crypto, guardrails, hooks };
}

const valid = (w: TotpWindow, counter: number): VerifyResult => ({ valid: true, delta: counter - w.currentCounter, epoch: counter * w.period + w.t0, timeStep: counter });
const invalid = (): VerifyResult => ({ valid: false });

const counters = new CounterList();

/**
 * The listed counters searched for the token; `found` turns the tag of the match into the
 * result. A step that failed its checks (`failure`, which ended the list) throws only when no
 * step before it matched, as in otplib's loop.
 */
function searchListed(w: { algorithm: HashAlgorithm; secret: Uint8Array; digits: Digits; token: string }, failure: OTPError | undefined, found: (tag: number) => VerifyResult): VerifyResult {
  const index = otp.search(w.algorithm, w.secret, counters.values, counters.count, w.digits, parseCode(w.token, w.digits));
  if (index >= 0) return found(counters.tags[index] as number);
  if (failure !== undefined) throw failure;
  return invalid();
}

/**
 * The window with the default plugin: each step's checks as otplib runs them (a step whose
 * epoch or counter is out of range throws, but only once the steps before it have not
 * matched), the codes from otp.search. Undefined when the fast path does not apply.
 */
function searchTotpWindow(w: TotpWindow): VerifyResult | undefined {
  if (!direct(w.crypto, w.secret, w.digits, w.hooks) || w.hooks?.validateToken) return undefined;
  if (w.maxCounter - w.minCounter > 4096) return undefined;
  counters.reset();
  let failure: OTPError | undefined;
  for (let counter = w.minCounter; counter <= w.maxCounter; counter++) {
    if (w.afterTimeStep !== undefined && counter <= w.afterTimeStep) continue;
    const epoch = counter * w.period + w.t0;
    const step = Math.floor((epoch - w.t0) / w.period);
    try {
      validateTime(epoch);
      validateCounter(step, w.guardrails);
    } catch (error) {
      failure = error as OTPError;
      break;
    }
    counters.add(step, counter);
  }
  return searchListed(w, failure, (counter) => valid(w, counter));
}

/** otplib's TOTP window step by step, each code through the crypto plugin. */
function* totpSteps(w: TotpWindow): Computation<VerifyResult> {
  for (let counter = w.minCounter; counter <= w.maxCounter; counter++) {
    if (w.afterTimeStep !== undefined && counter <= w.afterTimeStep) continue;
    const expected = yield* hotpCode(totpToHotp(stepInput(w, counter)));
    if (w.crypto.constantTimeEqual(expected, w.token)) return valid(w, counter);
  }
  return invalid();
}

interface HotpVerifyInput extends HotpInput {
  token: string;
  counterTolerance?: number | [number, number] | undefined;
}

interface HotpWindow {
  token: string;
  counter: number;
  past: number;
  totalChecks: number;
  crypto: CryptoPlugin;
  input: (counter: number) => HotpInput;
  secret: Uint8Array;
  algorithm: HashAlgorithm;
  digits: Digits;
  guardrails: OTPGuardrails;
  hooks: OTPHooks | undefined;
}

function hotpWindow(input: HotpVerifyInput): HotpWindow {
  const { token, counterTolerance: tolerance = 0 } = input;
  const guardrails = input.guardrails ?? createGuardrails();
  const { bytes, counter, algorithm, digits, crypto, hooks } = checkedHotp({ ...input, guardrails });
  if (hooks?.validateToken) hooks.validateToken(token, digits);
  else validateToken(token, digits);
  validateCounterTolerance(tolerance, guardrails);
  const [past, future] = counterTolerance(tolerance);
  return {
    token,
    counter: typeof counter === 'bigint' ? Number(counter) : counter,
    past,
    totalChecks: past + future + 1,
    crypto,
    input: (at) => ({ secret: bytes, counter: at, algorithm, digits, crypto, guardrails, hooks }),
    secret: bytes,
    algorithm,
    digits,
    guardrails,
    hooks,
  };
}

/** HOTP's window with the default plugin (see searchTotpWindow); undefined when it does not apply. */
function searchHotpWindow(w: HotpWindow): VerifyResult | undefined {
  if (!direct(w.crypto, w.secret, w.digits, w.hooks) || w.hooks?.validateToken) return undefined;
  counters.reset();
  let failure: OTPError | undefined;
  for (let i = Math.max(0, w.past - w.counter); i < w.totalChecks; i++) {
    const offset = i - w.past;
    try {
      validateCounter(w.counter + offset, w.guardrails);
    } catch (error) {
      failure = error as OTPError;
      break;
    }
    counters.add(w.counter + offset, offset);
  }
  return searchListed(w, failure, (offset) => ({ valid: true, delta: offset | 0 }));
}

/** otplib's HOTP window counter by counter, each code through the crypto plugin. */
function* hotpSteps(w: HotpWindow): Computation<VerifyResult> {
  for (let i = Math.max(0, w.past - w.counter); i < w.totalChecks; i++) {
    const offset = i - w.past;
    const expected = yield* hotpCode(w.input(w.counter + offset));
    if (w.crypto.constantTimeEqual(expected, w.token)) return { valid: true, delta: offset | 0 };
  }
  return invalid();
}

// ---- The functional API ----------------------------------------------------------------------------

function strategyOf(strategy: unknown, counter: number | bigint | undefined): OTPStrategy {
  if (strategy === 'totp') return strategy;
  if (strategy === 'hotp') {
    if (counter === undefined) throw new ConfigurationError("Counter is required for HOTP strategy. Example: { strategy: 'hotp', counter: 0 }");
    return strategy;
  }
  throw new ConfigurationError(`Unknown OTP strategy: ${String(strategy)}. Valid strategies are 'totp' or 'hotp'.`);
}

/** otplib's option defaults (`??`: null counts as absent), read in its order, in one object. */
function withDefaults(options: OTPVerifyOptions) {
  return {
    secret: options.secret,
    strategy: options.strategy ?? 'totp',
    crypto: options.crypto ?? defaultCrypto,
    base32: options.base32 ?? defaultBase32,
    algorithm: options.algorithm ?? 'sha1',
    digits: options.digits ?? 6,
    period: options.period ?? 30,
    epoch: options.epoch ?? Math.floor(Date.now() / 1000),
    t0: options.t0 ?? 0,
    counter: options.counter,
    guardrails: options.guardrails ?? createGuardrails(),
    hooks: options.hooks,
    token: options.token,
    epochTolerance: options.epochTolerance ?? 0,
    counterTolerance: options.counterTolerance ?? 0,
    afterTimeStep: options.afterTimeStep,
  };
}

/** A base32 secret of `length` random bytes (default 20), unpadded. */
export function generateSecret(options?: { length?: number; crypto?: CryptoPlugin; base32?: Base32Plugin }): string {
  const { crypto = defaultCrypto, base32 = defaultBase32, length = 20 } = options || {};
  requireCryptoPlugin(crypto);
  requireBase32Plugin(base32);
  return base32.encode(crypto.randomBytes(length), { padding: false });
}

export interface URIOptions {
  strategy?: OTPStrategy;
  issuer: string;
  label: string;
  secret: string;
  algorithm?: HashAlgorithm;
  digits?: Digits;
  period?: number;
  counter?: number;
}

/** An otpauth:// key URI; parameters at their defaults (SHA1, 6 digits, 30 s) are left out. */
export function generateURI(options: URIOptions): string {
  const { strategy = 'totp', issuer, label, secret, algorithm = 'sha1', digits = 6, period = 30, counter } = options;
  return strategyOf(strategy, counter) === 'totp'
    ? keyUri('totp', issuer, label, { secret, algorithm, digits, period })
    : keyUri('hotp', issuer, label, { secret, algorithm, digits, counter: counter as number });
}

function keyUri(type: OTPStrategy, issuer: string, account: string, params: { secret: string; algorithm: string; digits: Digits; period?: number; counter?: number | bigint }): string {
  const label = issuer ? `${issuer}:${account}` : account;
  const query: string[] = [];
  if (params.secret) query.push(`secret=${encodeURIComponent(params.secret)}`);
  if (issuer) query.push(`issuer=${encodeURIComponent(issuer)}`);
  if (params.algorithm) {
    const algorithm = normalizeHashAlgorithm(params.algorithm);
    if (algorithm !== 'sha1') query.push(`algorithm=${algorithm.toUpperCase()}`);
  }
  if (params.digits && params.digits !== 6) query.push(`digits=${params.digits}`);
  if (type === 'hotp' && params.counter !== undefined) query.push(`counter=${params.counter}`);
  if (type === 'totp' && params.period !== undefined && params.period !== 30) query.push(`period=${params.period}`);
  const encodedLabel = label
    .split(':')
    .map((part) => encodeURIComponent(part))
    .join(':');
  return `otpauth://${type}/${encodedLabel}?${query.join('&')}`;
}

/** The current code (or a given one: `epoch` in seconds, or `strategy: 'hotp'` with a counter). */
export async function generate(options: OTPGenerateOptions): Promise<string> {
  const o = withDefaults(options as OTPVerifyOptions);
  return runAsync(hotpCode(strategyOf(o.strategy, o.counter) === 'totp' ? totpToHotp(o) : (o as HotpInput)));
}

/** generate() without a promise. As in otplib, `hooks` are not applied here. */
export function generateSync(options: OTPGenerateOptions): string {
  const o = { ...withDefaults(options as OTPVerifyOptions), hooks: undefined };
  return runSync(hotpCode(strategyOf(o.strategy, o.counter) === 'totp' ? totpToHotp(o) : (o as HotpInput)));
}

/**
 * Resolves to `{ valid: true, delta, epoch, timeStep }` (TOTP) or `{ valid: true, delta }`
 * (HOTP) for a matching token, `{ valid: false }` otherwise. A token that is not `digits`
 * digits rejects with TokenLengthError or TokenFormatError, as in otplib.
 */
export async function verify(options: OTPVerifyOptions): Promise<VerifyResult> {
  return verifyWith(options, runAsync);
}

/** verify() without a promise. */
export function verifySync(options: OTPVerifyOptions): VerifyResult {
  return verifyWith(options, runSync);
}

/** The window searched with the fast path when it applies, else step by step, run by `run` (sync or async). */
function verifyWith<R>(options: OTPVerifyOptions, run: (computation: Computation<VerifyResult>) => R): VerifyResult | R {
  const o = withDefaults(options);
  if (strategyOf(o.strategy, o.counter) === 'totp') {
    const w = totpWindow(o);
    return searchTotpWindow(w) ?? run(totpSteps(w));
  }
  const w = hotpWindow(o as HotpVerifyInput);
  return searchHotpWindow(w) ?? run(hotpSteps(w));
}

export type OTPResult<T, E = Error> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** otplib's wrapResult: a function that returns { ok, value } or { ok: false, error } instead of throwing. */
export function wrapResult<T, Args extends unknown[]>(fn: (...args: Args) => T): (...args: Args) => OTPResult<T, OTPError> {
  return (...args) => {
    try {
      return { ok: true, value: fn(...args) };
    } catch (error) {
      return { ok: false, error: error as OTPError };
    }
  };
}

/** wrapResult for async functions. */
export function wrapResultAsync<T, Args extends unknown[]>(fn: (...args: Args) => Promise<T>): (...args: Args) => Promise<OTPResult<T, OTPError>> {
  return async (...args) => {
    try {
      return { ok: true, value: await fn(...args) };
    } catch (error) {
      return { ok: false, error: error as OTPError };
    }
  };
}
