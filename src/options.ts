// TOTP parameters: the one table of defaults and the checks every entry point shares.
import { fail, rejectUnknownOptions } from './internal/options.js';

export type Algorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpOptions {
  /** HMAC hash. Default 'SHA1', what oathtool, Google Authenticator and most peers assume. */
  algorithm?: Algorithm;
  /** Code length. Default 6. */
  digits?: 6 | 7 | 8;
  /** Time step in seconds (RFC 6238 X). Default 30. */
  period?: number;
  /** Unix time in seconds at which step 0 starts (RFC 6238 T0). Default 0. */
  epoch?: number;
}

/**
 * The explicit opt-in for secrets shorter than RFC 4226's 128 bits, for keys made from a secret
 * the caller gives (base32, bytes, a URI, the one-shot functions); random keys are never short.
 */
export interface ShortSecretOption {
  /**
   * The shortest secret accepted, in bytes: a whole number from 1 to 16. Default 16 (RFC 4226
   * §4 R6). Lower it only for existing enrolments (10-byte secrets are common): each byte below
   * 16 is 8 bits less for an attacker who sees codes to search for the secret offline.
   */
  minSecretBytes?: number;
}

export interface VerifyOptions {
  /** Steps accepted on each side of the current one. Default 1 (= -1, 0, +1); at most 10. */
  window?: number;
  /** The time to verify at, in milliseconds since the Unix epoch. Default now. */
  timeMs?: number;
}

export type ResolvedTotpOptions = Readonly<Required<TotpOptions>>;

/** RFC 6238 / oathtool / Google Authenticator defaults. */
export const TOTP_DEFAULTS: ResolvedTotpOptions = Object.freeze({
  algorithm: 'SHA1',
  digits: 6,
  period: 30,
  epoch: 0,
});

export const TOTP_OPTION_NAMES: readonly (keyof TotpOptions)[] = ['algorithm', 'digits', 'period', 'epoch'];

export const DEFAULT_WINDOW = 1;
/** Each extra step adds two codes an attacker may hit; ten on each side is five minutes at 30 s. */
export const MAX_WINDOW = 10;
export const MIN_SECRET_BYTES = 16;
export const MAX_SECRET_BYTES = 1024;
export const DEFAULT_SECRET_BYTES = 20;

export const ALGORITHMS: readonly Algorithm[] = Object.freeze(['SHA1', 'SHA256', 'SHA512']);
const MAX_PERIOD = 2 ** 31 - 1;

export function resolveTotpOptions(options: TotpOptions | undefined): ResolvedTotpOptions {
  if (options === undefined) return TOTP_DEFAULTS;
  if (options === null || typeof options !== 'object') fail('TOTP options must be an object');
  rejectUnknownOptions(options, TOTP_OPTION_NAMES, 'TOTP options');
  const { algorithm = TOTP_DEFAULTS.algorithm, digits = TOTP_DEFAULTS.digits } = options;
  const { period = TOTP_DEFAULTS.period, epoch = TOTP_DEFAULTS.epoch } = options;
  if (!ALGORITHMS.includes(algorithm)) fail(`algorithm must be one of ${ALGORITHMS.join(', ')}`);
  if (digits !== 6 && digits !== 7 && digits !== 8) fail('digits must be 6, 7 or 8');
  if (!Number.isInteger(period) || period < 1 || period > MAX_PERIOD) {
    fail(`period must be a whole number of seconds from 1 to ${MAX_PERIOD}`);
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_TIME_MS / 1000) {
    fail(`epoch must be a whole number of seconds, from 0 to ${MAX_TIME_MS / 1000}`);
  }
  return Object.freeze({ algorithm, digits, period, epoch });
}

export function resolveWindow(window: unknown): number {
  if (window === undefined) return DEFAULT_WINDOW;
  if (!Number.isInteger(window) || (window as number) < 0 || (window as number) > MAX_WINDOW) {
    fail(`window must be a whole number from 0 to ${MAX_WINDOW}`);
  }
  return window as number;
}

/** The last millisecond a JavaScript Date can represent (ECMA-262 §21.4.1.22): 275760-09-13. */
export const MAX_TIME_MS = 8.64e15;

export function resolveTime(timeMs: unknown): number {
  if (timeMs === undefined) return Date.now();
  // Bounded so that every step counter, even at a 1 s period, stays an exact integer (< 2^53).
  if (typeof timeMs !== 'number' || !(timeMs >= 0 && timeMs <= MAX_TIME_MS)) {
    fail(`timeMs must be a number of milliseconds since the Unix epoch, from 0 to ${MAX_TIME_MS}`);
  }
  return timeMs;
}

/** The options object of verify/check: undefined, or an object with no other names than window and timeMs. */
export function resolveVerifyOptions(options: unknown): VerifyOptions | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') fail('verify options must be an object');
  // On the hot path: a for-in over two names, not the general check, unless a name is unknown.
  for (const name in options) {
    if (name !== 'window' && name !== 'timeMs') rejectUnknownOptions(options, VERIFY_OPTION_NAMES, 'verify options');
  }
  return options as VerifyOptions;
}

const VERIFY_OPTION_NAMES: readonly (keyof VerifyOptions)[] = ['window', 'timeMs'];

/**
 * Fills `target` (a verifier's own options object, reused for every check so that the hot path
 * allocates nothing) from the caller's verify options: the window and the time to check at.
 */
export function resolveVerifyOptionsInto(target: { window: number; timeMs: number }, options: unknown): void {
  const requested = resolveVerifyOptions(options);
  target.window = requested === undefined ? DEFAULT_WINDOW : resolveWindow(requested.window);
  target.timeMs = requested === undefined ? Date.now() : resolveTime(requested.timeMs);
}
