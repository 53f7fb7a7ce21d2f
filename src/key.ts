import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { decodeBase32, encodeBase32 } from './base32.js';
import { engine as defaultEngine } from './engine/index.js';
import { type AlgorithmId, type Engine, type EngineKey, SLOT_DELTAS } from './engine/types.js';
import { OtpError } from './errors.js';
import { parseCode } from './internal/code.js';
import { rejectUnknownOptions } from './internal/options.js';
import { stepAt } from './internal/steps.js';
import {
  type Algorithm,
  DEFAULT_SECRET_BYTES,
  DEFAULT_WINDOW,
  MAX_SECRET_BYTES,
  MIN_SECRET_BYTES,
  type ResolvedTotpOptions,
  resolveTime,
  resolveTotpOptions,
  resolveVerifyOptions,
  resolveWindow,
  TOTP_OPTION_NAMES,
  type TotpOptions,
  type VerifyOptions,
} from './options.js';
import { formatOtpauthUri, parseOtpauthUri } from './uri.js';

const ALGORITHM_IDS: Record<Algorithm, AlgorithmId> = { SHA1: 0, SHA256: 1, SHA512: 2 };
const CONSTRUCT = Symbol('TotpKey');

function checkSecretLength(length: number): void {
  if (length < MIN_SECRET_BYTES) {
    throw new OtpError(
      'ERR_OTP_SECRET_LENGTH',
      `a TOTP secret must be at least ${MIN_SECRET_BYTES} bytes (128 bits, RFC 4226 §4); this one has ${length}`,
    );
  }
  if (length > MAX_SECRET_BYTES) {
    throw new OtpError('ERR_OTP_SECRET_LENGTH', `a TOTP secret must be at most ${MAX_SECRET_BYTES} bytes; this one has ${length}`);
  }
}

/**
 * A short fingerprint for logs and audit events: the first 32 bits of a domain-separated SHA-256
 * of the secret. One-way, and the same in every process that holds the key, so an owner's and a
 * reader's events name a key alike.
 */
function fingerprint(secret: Uint8Array): string {
  return createHash('sha256').update('totp-handshake key id\0').update(secret).digest('hex').slice(0, 8);
}

let construct: (secret: Uint8Array, options: ResolvedTotpOptions, engine: Engine) => TotpKey;

/**
 * A TOTP key (RFC 6238): generates and verifies codes.
 *
 * Verification is synchronous and allocation-free: the codes of the window around the current
 * step are computed once per step (in the native addon when it is loaded) and then compared as
 * integers, so time does not depend on how many digits of a wrong code are right.
 *
 * @example
 * ```ts
 * const key = TotpKey.fromBase32('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
 * const code = req.headers['x-otp'];
 * const ok = typeof code === 'string' && key.verify(code); // within ±1 step (30 s) of the sender's clock
 * ```
 */
export class TotpKey {
  /** A short, non-secret fingerprint of the secret, for logs. */
  readonly id: string;
  readonly algorithm: Algorithm;
  readonly digits: number;
  /** Time step in seconds. */
  readonly period: number;
  /** Unix time in seconds at which step 0 starts. */
  readonly epoch: number;

  #secret: Uint8Array | null;
  #engineKey: EngineKey | null;
  readonly #periodMs: number;
  readonly #epochMs: number;
  // The engine writes each step's candidate codes into #candidates (slot order 0, -1, +1, ...).
  // Slots [0, #known) hold the codes of counter #cachedCounter; later checks in the same step
  // compare against them without calling the engine.
  readonly #candidates: Int32Array;
  #cachedCounter = -1;
  #known = 0;

  static {
    construct = (secret, options, engine) => new TotpKey(CONSTRUCT, secret, options, engine);
  }

  private constructor(token: symbol, secret: Uint8Array, options: ResolvedTotpOptions, engine: Engine) {
    if (token !== CONSTRUCT) throw new TypeError('use TotpKey.fromBase32, fromBytes, fromUri or random');
    checkSecretLength(secret.length);
    this.#secret = Uint8Array.from(secret);
    this.algorithm = options.algorithm;
    this.digits = options.digits;
    this.period = options.period;
    this.epoch = options.epoch;
    this.#periodMs = options.period * 1000;
    this.#epochMs = options.epoch * 1000;
    this.id = fingerprint(secret);
    this.#engineKey = engine.createKey(ALGORITHM_IDS[options.algorithm], this.#secret, options.digits);
    this.#candidates = this.#engineKey.candidates;
  }

  /** A key from a base32 secret (RFC 4648; any case; spaces and '=' padding are ignored). */
  static fromBase32(secret: string, options?: TotpOptions): TotpKey {
    const bytes = decodeBase32(secret);
    try {
      return construct(bytes, resolveTotpOptions(options), defaultEngine);
    } finally {
      bytes.fill(0);
    }
  }

  /** A key from raw secret bytes (copied; at least 16 bytes). */
  static fromBytes(secret: Uint8Array, options?: TotpOptions): TotpKey {
    if (!(secret instanceof Uint8Array)) throw new OtpError('ERR_OTP_OPTIONS', 'secret must be a Uint8Array');
    return construct(secret, resolveTotpOptions(options), defaultEngine);
  }

  /** A key from an otpauth://totp/ URI, with the URI's algorithm, digits and period. */
  static fromUri(uri: string): TotpKey {
    const parsed = parseOtpauthUri(uri);
    try {
      return construct(parsed.secret, parsed.options, defaultEngine);
    } finally {
      parsed.secret.fill(0);
    }
  }

  /** A new key from the operating system's CSPRNG: `bytes` long (default 20, at least 16). */
  static random(options?: TotpOptions & { bytes?: number }): TotpKey {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new OtpError('ERR_OTP_OPTIONS', 'TotpKey.random options must be an object');
    }
    if (options !== undefined) rejectUnknownOptions(options, [...TOTP_OPTION_NAMES, 'bytes'], 'TotpKey.random');
    const { bytes = DEFAULT_SECRET_BYTES, ...totp } = options ?? {};
    if (!Number.isInteger(bytes)) throw new OtpError('ERR_OTP_OPTIONS', 'bytes must be a whole number');
    checkSecretLength(bytes);
    const secret = randomBytes(bytes);
    try {
      return construct(secret, resolveTotpOptions(totp), defaultEngine);
    } finally {
      secret.fill(0);
    }
  }

  /** The secret as base32 without padding: what key files hold and `oathtool -b` reads. */
  toBase32(): string {
    return encodeBase32(this.#liveSecret());
  }

  /** An otpauth://totp/ URI for this key; `label` is the account name. */
  toUri(label = 'totp-handshake', issuer?: string): string {
    return formatOtpauthUri(this.#liveSecret(), this.#options(), label, issuer);
  }

  /** The code at `timeMs` (default now), zero-padded to `digits`. */
  generate(timeMs?: number): string {
    const engineKey = this.#liveEngineKey();
    const counter = this.#counterAt(resolveTime(timeMs));
    const code =
      counter === this.#cachedCounter && this.#known > 0 ? (this.#candidates[0] as number) : engineKey.codeAt(counter);
    return String(code).padStart(this.digits, '0');
  }

  /**
   * Whether `code` is valid within `window` steps (default 1) of `timeMs` (default now).
   * Any bad code (wrong type or length, non-digits) is simply false; only misuse throws.
   */
  verify(code: string, options?: VerifyOptions): boolean {
    return this.check(code, options) !== null;
  }

  /**
   * The step offset at which `code` is valid (the code's step minus the current step: -1 is
   * one step old), or null. The current step is tried first, then -1, +1, -2, +2, ...
   */
  check(code: string, options?: VerifyOptions): number | null {
    const engineKey = this.#liveEngineKey();
    let window = DEFAULT_WINDOW;
    let timeMs: number;
    if (options === undefined) {
      timeMs = Date.now();
    } else {
      const { window: requested, timeMs: at } = resolveVerifyOptions(options) as VerifyOptions;
      window = resolveWindow(requested);
      timeMs = resolveTime(at);
    }
    const value = parseCode(code, this.digits);
    // Before the key's epoch there is no step, so no code is valid: a clock set back, or a key
    // made to start later, refuses codes rather than throwing on a request path.
    if (value < 0 || timeMs < this.#epochMs) return null;
    const counter = this.#counterAt(timeMs);
    const slots = 2 * window + 1;
    if (counter === this.#cachedCounter) {
      // Integer comparisons: the time taken does not depend on how close a wrong code is.
      const known = this.#known < slots ? this.#known : slots;
      const candidates = this.#candidates;
      for (let slot = 0; slot < known; slot++) {
        if (candidates[slot] === value) return SLOT_DELTAS[slot] as number;
      }
      if (known === slots) return null;
    }
    const slot = engineKey.findCode(counter, value, window);
    this.#cachedCounter = counter;
    this.#known = slot < 0 ? slots : slot + 1;
    return slot < 0 ? null : (SLOT_DELTAS[slot] as number);
  }

  /**
   * Whether `other` is the same key: the same secret (compared in constant time) and the same
   * parameters. A fingerprint would not do: two keys whose 32-bit ids collide must stay apart.
   */
  equals(other: TotpKey): boolean {
    if (!(other instanceof TotpKey)) return false;
    const mine = this.#liveSecret();
    const theirs = other.#liveSecret();
    return (
      this.algorithm === other.algorithm &&
      this.digits === other.digits &&
      this.period === other.period &&
      this.epoch === other.epoch &&
      mine.length === theirs.length &&
      timingSafeEqual(mine, theirs)
    );
  }

  /** Wipes the secret and the engine's copy of it; every later call throws ERR_OTP_DESTROYED. */
  destroy(): void {
    this.#engineKey?.destroy();
    this.#engineKey = null;
    this.#secret?.fill(0);
    this.#secret = null;
    this.#candidates.fill(0);
    this.#cachedCounter = -1;
    this.#known = 0;
  }

  /** Keeps the secret out of console.log and util.inspect. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `TotpKey { id: '${this.id}', algorithm: '${this.algorithm}', digits: ${this.digits}, period: ${this.period} }`;
  }

  toJSON(): { id: string; algorithm: Algorithm; digits: number; period: number; epoch: number } {
    return { id: this.id, algorithm: this.algorithm, digits: this.digits, period: this.period, epoch: this.epoch };
  }

  #counterAt(timeMs: number): number {
    const counter = stepAt(timeMs, this.#periodMs, this.#epochMs);
    if (counter < 0) throw new OtpError('ERR_OTP_OPTIONS', 'the time is before the key\'s epoch');
    return counter;
  }

  #options(): ResolvedTotpOptions {
    return { algorithm: this.algorithm, digits: this.digits as 6 | 7 | 8, period: this.period, epoch: this.epoch };
  }

  #liveEngineKey(): EngineKey {
    if (this.#engineKey === null) throw new OtpError('ERR_OTP_DESTROYED', 'this TotpKey was destroyed');
    return this.#engineKey;
  }

  #liveSecret(): Uint8Array {
    if (this.#secret === null) throw new OtpError('ERR_OTP_DESTROYED', 'this TotpKey was destroyed');
    return this.#secret;
  }
}

/** A key on a given engine: for tests that run both engines in one process. Not exported publicly. */
export function createKeyOnEngine(engine: Engine, secret: Uint8Array, options?: TotpOptions): TotpKey {
  if (!(secret instanceof Uint8Array)) throw new OtpError('ERR_OTP_OPTIONS', 'secret must be a Uint8Array');
  return construct(secret, resolveTotpOptions(options), engine);
}
