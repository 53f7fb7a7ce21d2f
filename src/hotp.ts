// HotpKey: counter-based codes (RFC 4226), the key-object side of checkHotp/generateHotp.
import { engine as defaultEngine } from './engine/index.js';
import type { Engine } from './engine/types.js';
import { OtpError } from './errors.js';
import { parseCode } from './internal/code.js';
import { optionsObject } from './internal/options.js';
import { type HotpCheckOptions, type HotpOptions, resolveCounter, resolveHotpOptions, resolveLookAhead } from './once.js';
import type { Algorithm, ShortSecretOption } from './options.js';
import { OtpKey } from './otp-key.js';
import { fromRandomSecret, resolveMinSecretBytes } from './secret.js';

const CONSTRUCT = Symbol('HotpKey');
const KEY_OPTIONS = ['algorithm', 'digits', 'minSecretBytes'];
const CHECK_OPTIONS = ['lookAhead'];
const RANDOM_OPTIONS = ['algorithm', 'digits', 'bytes'];

let construct: (secret: Uint8Array | string, options: HotpKeyOptions | undefined, engine: Engine) => HotpKey;

/** Options of HotpKey.fromBase32 and fromBytes: the key's parameters, and the opt-in for short secrets. */
export interface HotpKeyOptions extends HotpOptions, ShortSecretOption {}

/**
 * An HOTP key (RFC 4226): codes for a counter that both sides advance. The key keeps no
 * counter: the caller stores it (per user, per device) and passes it in, and after a match stores
 * the matched counter + 1, so that a code is never accepted twice (RFC 4226 §7.2).
 *
 * @example
 * ```ts
 * const key = HotpKey.fromBase32(secret);
 * const matched = key.check(code, device.counter, { lookAhead: 10 }); // resynchronises across 10 unused codes
 * if (matched !== null) device.counter = matched + 1;
 * ```
 */
export class HotpKey extends OtpKey {
  static {
    construct = (secret, options, engine) => new HotpKey(CONSTRUCT, secret, options, engine);
  }

  private constructor(token: symbol, secret: Uint8Array | string, options: HotpKeyOptions | undefined, engine: Engine) {
    if (token !== CONSTRUCT) throw new TypeError('use HotpKey.fromBase32, fromBytes or random');
    const checked = optionsObject(options, 'HotpKey', KEY_OPTIONS);
    const { algorithm, digits } = resolveHotpOptions(checked);
    super(engine, secret, algorithm, digits, 'HOTP', resolveMinSecretBytes(checked?.minSecretBytes));
  }

  /**
   * A key from a base32 secret (RFC 4648; any case; spaces and '=' padding are ignored) of at
   * least 16 bytes, or `minSecretBytes`.
   */
  static fromBase32(secret: string, options?: HotpKeyOptions): HotpKey {
    if (typeof secret !== 'string') throw new OtpError('ERR_OTP_BASE32', 'a base32 secret must be a string');
    return construct(secret, options, defaultEngine);
  }

  /** A key from raw secret bytes (copied; at least 16 bytes, or `minSecretBytes`). */
  static fromBytes(secret: Uint8Array, options?: HotpKeyOptions): HotpKey {
    return createHotpKeyOnEngine(defaultEngine, secret, options);
  }

  /** A new key from the operating system's CSPRNG: `bytes` long (default 20, at least 16). */
  static random(options?: HotpOptions & { bytes?: number }): HotpKey {
    optionsObject(options, 'HotpKey.random', RANDOM_OPTIONS); // a random secret is never short: no minSecretBytes
    return fromRandomSecret<HotpOptions, HotpKey>(options, 'HOTP', 'HotpKey.random', (secret, hotp) => construct(secret, hotp, defaultEngine));
  }

  /** The code at `counter`, zero-padded to `digits`. */
  generate(counter: number): string {
    const handle = this.liveHandle();
    return String(this.engine.codeAt(handle, resolveCounter(counter))).padStart(this.digits, '0');
  }

  /** Whether `code` is the code at `counter`, or at one of the `lookAhead` counters after it. */
  verify(code: string, counter: number, options?: Pick<HotpCheckOptions, 'lookAhead'>): boolean {
    return this.check(code, counter, options) !== null;
  }

  /**
   * The counter at which `code` is valid: `counter`, or up to `lookAhead` (default 0, at most 20)
   * counters after it, lowest first; or null. A bad code (wrong type or length, non-digits) is
   * null; only misuse throws.
   */
  check(code: string, counter: number, options?: Pick<HotpCheckOptions, 'lookAhead'>): number | null {
    const handle = this.liveHandle();
    const lookAhead = resolveLookAhead(optionsObject(options, 'HotpKey check', CHECK_OPTIONS)?.lookAhead);
    const start = resolveCounter(counter, lookAhead);
    const value = parseCode(code, this.digits);
    if (value < 0) return null;
    const found = this.engine.findCounter(handle, start, value, lookAhead);
    return found >= 0 ? start + found : null; // fails closed on anything but a match
  }

  /** Keeps the secret out of console.log and util.inspect. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `HotpKey { id: '${this.id}', algorithm: '${this.algorithm}', digits: ${this.digits} }`;
  }

  toJSON(): { id: string; algorithm: Algorithm; digits: number } {
    return { id: this.id, algorithm: this.algorithm, digits: this.digits };
  }
}

/** An HotpKey on a given engine: for tests that run both engines in one process. Not exported publicly. */
export function createHotpKeyOnEngine(engine: Engine, secret: Uint8Array, options?: HotpKeyOptions): HotpKey {
  if (!(secret instanceof Uint8Array)) throw new OtpError('ERR_OTP_OPTIONS', 'secret must be a Uint8Array');
  return construct(secret, options, engine);
}
