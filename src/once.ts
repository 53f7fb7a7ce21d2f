// One-shot codes: generate or verify a TOTP or HOTP code from a secret, with no key object.
//
// Each call is one crossing into the engine, which builds the key state, computes, and wipes
// everything it held before returning; base32 text is decoded by the addon itself, so no decoded
// copy of the secret is made in JavaScript. The exceptions (src/secret.ts): text the addon refuses
// is decoded here, to give its error, and a secret that comes with a malformed code (which never
// reaches the engine) is checked the same way; both copies are wiped. Nothing is cached: for many checks
// with one secret, a TotpKey is cheaper per check (its codes are cached for the current step).
import { engine as defaultEngine } from './engine/index.js';
import { type Engine, MAX_LOOK_AHEAD, SECRET_REFUSED, type SecretInput, SLOT_DELTAS } from './engine/types.js';
import { parseCode } from './internal/code.js';
import { fail, optionsObject } from './internal/options.js';
import { stepAt } from './internal/steps.js';
import { ALGORITHM_IDS } from './otp-key.js';
import {
  type Algorithm,
  DEFAULT_WINDOW,
  type ResolvedTotpOptions,
  resolveTime,
  resolveTotpOptions,
  resolveWindow,
  type ShortSecretOption,
  TOTP_DEFAULTS,
  type TotpOptions,
  type VerifyOptions,
} from './options.js';
import { assertSecret, resolveMinSecretBytes, retryWithBytes, secretInput, type SecretKind } from './secret.js';

/** A secret as the one-shot functions take it: base32 text (as key files hold it) or raw bytes. */
export type OtpSecret = string | Uint8Array;

/** Options of checkTotp and verifyTotp: the key's parameters and the verification's. */
export interface TotpCheckOptions extends TotpOptions, VerifyOptions, ShortSecretOption {}

/** Options of generateTotp. */
export interface TotpGenerateOptions extends TotpOptions, ShortSecretOption {
  /** The time to generate at, in milliseconds since the Unix epoch. Default now. */
  timeMs?: number;
}

/** HOTP parameters (RFC 4226): the hash and the code length. */
export interface HotpOptions {
  /** HMAC hash. Default 'SHA1', as RFC 4226 specifies. */
  algorithm?: Algorithm;
  /** Code length. Default 6. */
  digits?: 6 | 7 | 8;
}

/** Options of generateHotp: the HOTP parameters, and the opt-in for short secrets. */
export interface HotpGenerateOptions extends HotpOptions, ShortSecretOption {}

/** Options of checkHotp and verifyHotp. */
export interface HotpCheckOptions extends HotpOptions, ShortSecretOption {
  /**
   * How many counters past `counter` to try as well (RFC 4226 §7.4 resynchronisation): counter,
   * counter + 1, ... counter + lookAhead, lowest first. Default 0; at most 20.
   */
  lookAhead?: number;
}

const TOTP_CHECK_OPTIONS: ReadonlySet<string> = new Set(['algorithm', 'digits', 'period', 'epoch', 'window', 'timeMs', 'minSecretBytes']);
const TOTP_GENERATE_OPTIONS: ReadonlySet<string> = new Set(['algorithm', 'digits', 'period', 'epoch', 'timeMs', 'minSecretBytes']);
const HOTP_GENERATE_OPTIONS = ['algorithm', 'digits', 'minSecretBytes'];
const HOTP_CHECK_OPTIONS = ['algorithm', 'digits', 'lookAhead', 'minSecretBytes'];

/**
 * The TOTP parameters of a one-shot call's options, which must be an object of known option
 * names. Allocates nothing when they set none of the key's parameters (the usual call gives
 * only timeMs or window): a one-shot verification is a few hundred nanoseconds, and an options
 * object copied and frozen on every call would be a tenth of it.
 */
function totpParameters(options: object, what: string, known: ReadonlySet<string>): ResolvedTotpOptions {
  if (options === null || typeof options !== 'object') fail(`${what} options must be an object`);
  for (const name in options) {
    if (!known.has(name)) optionsObject(options, what, [...known]); // throws, naming it and the nearest
  }
  const { algorithm, digits, period, epoch } = options as TotpOptions;
  return algorithm === undefined && digits === undefined && period === undefined && epoch === undefined
    ? TOTP_DEFAULTS
    : resolveTotpOptions({ algorithm, digits, period, epoch } as TotpOptions);
}

/** The algorithm and digits of HOTP options (the TOTP table of defaults, whose checks they share). */
export function resolveHotpOptions(options: HotpOptions | undefined): { algorithm: Algorithm; digits: 6 | 7 | 8 } {
  // HOTP options are TOTP options without period and epoch (refused by name before this is called).
  if (options === undefined) return TOTP_DEFAULTS;
  const { algorithm, digits } = options;
  return resolveTotpOptions({ algorithm, digits } as TotpOptions);
}

/** An HOTP counter: a whole number from 0 with room for the look-ahead below 2^53. */
export function resolveCounter(counter: unknown, lookAhead = 0): number {
  if (!Number.isSafeInteger(counter) || (counter as number) < 0 || (counter as number) > Number.MAX_SAFE_INTEGER - lookAhead) {
    fail(`counter must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER - lookAhead}`);
  }
  return counter as number;
}

export function resolveLookAhead(lookAhead: unknown): number {
  if (lookAhead === undefined) return 0;
  if (!Number.isInteger(lookAhead) || (lookAhead as number) < 0 || (lookAhead as number) > MAX_LOOK_AHEAD) {
    fail(`lookAhead must be a whole number from 0 to ${MAX_LOOK_AHEAD}`);
  }
  return lookAhead as number;
}

/** checkTotp on a given engine: for tests that run both engines in one process. */
export function checkTotpOn(engine: Engine, given: OtpSecret, code: string, options?: TotpCheckOptions): number | null {
  const secret = secretInput(given);
  let parameters = TOTP_DEFAULTS;
  let window = DEFAULT_WINDOW;
  let timeMs: number;
  let minSecretBytes: number | undefined;
  if (options === undefined) {
    timeMs = Date.now();
  } else {
    parameters = totpParameters(options, 'checkTotp', TOTP_CHECK_OPTIONS);
    window = resolveWindow(options.window);
    timeMs = resolveTime(options.timeMs);
    minSecretBytes = resolveMinSecretBytes(options.minSecretBytes);
  }
  const { algorithm, digits, period, epoch } = parameters;
  const value = parseCode(code, digits);
  // A bad code is a refusal, not an error; a bad secret is an error whatever the code.
  if (value < 0 || timeMs < epoch * 1000) {
    assertSecret(secret, 'TOTP', minSecretBytes);
    return null;
  }
  const counter = stepAt(timeMs, period * 1000, epoch * 1000);
  const id = ALGORITHM_IDS[algorithm];
  let slot = engine.findCodeOnce(id, secret, digits, counter, value, window);
  if (slot === SECRET_REFUSED) {
    slot = retryWithBytes(secret, 'TOTP', (bytes) => engine.findCodeOnce(id, bytes, digits, counter, value, window), minSecretBytes);
  }
  return slot >= 0 ? (SLOT_DELTAS[slot] as number) : null; // fails closed on anything but a match
}

/** generateTotp on a given engine: for tests. */
export function generateTotpOn(engine: Engine, given: OtpSecret, options?: TotpGenerateOptions): string {
  const secret = secretInput(given);
  const { algorithm, digits, period, epoch } = options === undefined ? TOTP_DEFAULTS : totpParameters(options, 'generateTotp', TOTP_GENERATE_OPTIONS);
  const counter = stepAt(resolveTime(options?.timeMs), period * 1000, epoch * 1000);
  if (counter < 0) fail('the time is before the epoch');
  return codeOnce(engine, secret, 'TOTP', algorithm, digits, counter, resolveMinSecretBytes(options?.minSecretBytes));
}

/** checkHotp on a given engine: for tests. */
export function checkHotpOn(engine: Engine, given: OtpSecret, code: string, counter: number, options?: HotpCheckOptions): number | null {
  const secret = secretInput(given);
  const checked = optionsObject(options, 'checkHotp', HOTP_CHECK_OPTIONS);
  const { algorithm, digits } = resolveHotpOptions(checked);
  const lookAhead = resolveLookAhead(checked?.lookAhead);
  const start = resolveCounter(counter, lookAhead);
  const minSecretBytes = resolveMinSecretBytes(checked?.minSecretBytes);
  const value = parseCode(code, digits);
  if (value < 0) {
    assertSecret(secret, 'HOTP', minSecretBytes);
    return null;
  }
  const id = ALGORITHM_IDS[algorithm];
  let found = engine.findCounterOnce(id, secret, digits, start, value, lookAhead);
  if (found === SECRET_REFUSED) {
    found = retryWithBytes(secret, 'HOTP', (bytes) => engine.findCounterOnce(id, bytes, digits, start, value, lookAhead), minSecretBytes);
  }
  return found >= 0 ? start + found : null; // fails closed on anything but a match
}

/** generateHotp on a given engine: for tests. */
export function generateHotpOn(engine: Engine, secret: OtpSecret, counter: number, options?: HotpGenerateOptions): string {
  const checked = optionsObject(options, 'generateHotp', HOTP_GENERATE_OPTIONS);
  const { algorithm, digits } = resolveHotpOptions(checked);
  const minSecretBytes = resolveMinSecretBytes(checked?.minSecretBytes);
  return codeOnce(engine, secretInput(secret), 'HOTP', algorithm, digits, resolveCounter(counter), minSecretBytes);
}

function codeOnce(engine: Engine, secret: SecretInput, kind: SecretKind, algorithm: Algorithm, digits: number, counter: number, minSecretBytes?: number): string {
  const id = ALGORITHM_IDS[algorithm];
  let code = engine.codeOnce(id, secret, digits, counter);
  if (code === SECRET_REFUSED) code = retryWithBytes(secret, kind, (bytes) => engine.codeOnce(id, bytes, digits, counter), minSecretBytes);
  return String(code).padStart(digits, '0');
}

/**
 * The step offset at which `code` is valid for `secret` (the code's step minus the current
 * step: -1 is one step old), or null; no key object, nothing kept. The current step is tried
 * first, then -1, +1, -2, +2, ... within `window` (default 1). A bad code (wrong type or length,
 * non-digits) is null; a bad secret or bad options throw OtpError.
 *
 * @example
 * ```ts
 * const delta = checkTotp(process.env.TOTP_SECRET, req.headers['x-otp']); // 0, -1, 1 or null
 * ```
 */
export function checkTotp(secret: OtpSecret, code: string, options?: TotpCheckOptions): number | null {
  return checkTotpOn(defaultEngine, secret, code, options);
}

/** Whether `code` is valid for `secret` within `window` steps (default 1) of `timeMs` (default now); see checkTotp. */
export function verifyTotp(secret: OtpSecret, code: string, options?: TotpCheckOptions): boolean {
  return checkTotpOn(defaultEngine, secret, code, options) !== null;
}

/** The TOTP code of `secret` at `timeMs` (default now), zero-padded to `digits`; no key object. */
export function generateTotp(secret: OtpSecret, options?: TotpGenerateOptions): string {
  return generateTotpOn(defaultEngine, secret, options);
}

/**
 * The counter at which `code` is valid for `secret` (RFC 4226), trying `counter` and then up to
 * `lookAhead` counters after it (default 0), or null. Store the returned counter + 1 as the next
 * counter to expect, so that no code is accepted twice.
 *
 * @example
 * ```ts
 * const matched = checkHotp(secret, code, user.counter, { lookAhead: 5 });
 * if (matched !== null) user.counter = matched + 1;
 * ```
 */
export function checkHotp(secret: OtpSecret, code: string, counter: number, options?: HotpCheckOptions): number | null {
  return checkHotpOn(defaultEngine, secret, code, counter, options);
}

/** Whether `code` is valid for `secret` at `counter` or up to `lookAhead` counters after it; see checkHotp. */
export function verifyHotp(secret: OtpSecret, code: string, counter: number, options?: HotpCheckOptions): boolean {
  return checkHotpOn(defaultEngine, secret, code, counter, options) !== null;
}

/** The HOTP code of `secret` at `counter` (RFC 4226), zero-padded to `digits`; no key object. */
export function generateHotp(secret: OtpSecret, counter: number, options?: HotpGenerateOptions): string {
  return generateHotpOn(defaultEngine, secret, counter, options);
}
