import { timingSafeEqual } from 'node:crypto';

import { engine as defaultEngine } from './engine/index.js';
import { type Engine, NO_CODE, SLOT_DELTAS } from './engine/types.js';
import { OtpError } from './errors.js';
import { parseCode } from './internal/code.js';
import { optionsObject } from './internal/options.js';
import { stepAt } from './internal/steps.js';
import { OtpKey } from './otp-key.js';
import {
  type Algorithm,
  DEFAULT_WINDOW,
  type ResolvedTotpOptions,
  type ShortSecretOption,
  resolveTime,
  resolveTotpOptions,
  resolveVerifyOptions,
  resolveWindow,
  type TotpOptions,
  type VerifyOptions,
} from './options.js';
import { fromRandomSecret, resolveMinSecretBytes } from './secret.js';
import { formatOtpauthUri, parseOtpauthUri } from './uri.js';

const CONSTRUCT = Symbol('TotpKey');

let construct: (secret: Uint8Array | string, options: ResolvedTotpOptions, engine: Engine, minSecretBytes?: number) => TotpKey;

/** Options of TotpKey.fromBase32 and fromBytes: the key's parameters, and the opt-in for short secrets. */
export interface TotpKeyOptions extends TotpOptions, ShortSecretOption {}

/**
 * A TOTP key (RFC 6238): generates and verifies codes.
 *
 * Verification is synchronous and allocation-free once a key has verified a code: the codes of
 * the window around the current step are computed once per step (in the native addon when it is
 * loaded) and then compared as integers, so time does not depend on how many digits of a wrong
 * code are right. Call destroy() when done with a key: it wipes the secret at once. A key left to
 * the garbage collector is wiped too, once it and the keys created in the same synchronous run of
 * JavaScript (at most 31 others) have all been collected.
 *
 * @example
 * ```ts
 * const key = TotpKey.fromBase32('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
 * const code = req.headers['x-otp'];
 * const ok = typeof code === 'string' && key.verify(code); // within ±1 step (30 s) of the sender's clock
 * ```
 */
export class TotpKey extends OtpKey {
  /** Time step in seconds. */
  readonly period: number;
  /** Unix time in seconds at which step 0 starts. */
  readonly epoch: number;

  // After each engine call, the candidate codes it wrote (slot order 0, -1, +1, ...) are copied
  // here: slots [0, #known) hold the codes of counter #cachedCounter, and later checks in the same
  // step compare against them without calling the engine. Made on the first check, as large as
  // the widest window asked for.
  #codes: number[] | null = null;
  #cachedCounter = -1;
  #known = 0;

  static {
    construct = (secret, options, engine, minSecretBytes) => new TotpKey(CONSTRUCT, secret, options, engine, minSecretBytes);
  }

  private constructor(token: symbol, secret: Uint8Array | string, options: ResolvedTotpOptions, engine: Engine, minSecretBytes?: number) {
    if (token !== CONSTRUCT) throw new TypeError('use TotpKey.fromBase32, fromBytes, fromUri or random');
    super(engine, secret, options.algorithm, options.digits, 'TOTP', minSecretBytes);
    this.period = options.period;
    this.epoch = options.epoch;
  }

  /**
   * A key from a base32 secret (RFC 4648; any case; spaces and '=' padding are ignored) of at
   * least 16 bytes, or `minSecretBytes`.
   */
  static fromBase32(secret: string, options?: TotpKeyOptions): TotpKey {
    return fromBase32On(defaultEngine, secret, options);
  }

  /** A key from raw secret bytes (copied; at least 16 bytes, or `minSecretBytes`). */
  static fromBytes(secret: Uint8Array, options?: TotpKeyOptions): TotpKey {
    return createKeyOnEngine(defaultEngine, secret, options);
  }

  /**
   * A key from an otpauth://totp/ URI, with the URI's algorithm, digits and period; its secret
   * at least 16 bytes, or `minSecretBytes`.
   */
  static fromUri(uri: string, options?: ShortSecretOption): TotpKey {
    const minSecretBytes = resolveMinSecretBytes(optionsObject(options, 'TotpKey.fromUri', ['minSecretBytes'])?.minSecretBytes);
    const parsed = parseOtpauthUri(uri);
    try {
      return construct(parsed.secret, parsed.options, defaultEngine, minSecretBytes);
    } finally {
      parsed.secret.fill(0);
    }
  }

  /** A new key from the operating system's CSPRNG: `bytes` long (default 20, at least 16). */
  static random(options?: TotpOptions & { bytes?: number }): TotpKey {
    return fromRandomSecret<TotpOptions, TotpKey>(options, 'TOTP', 'TotpKey.random', (secret, totp) =>
      construct(secret, resolveTotpOptions(totp), defaultEngine),
    );
  }

  /** The secret as base32 without padding: what key files hold and `oathtool -b` reads. */
  override toBase32(): string {
    // Declared here as well as on OtpKey, so that TotpKey's own prototype carries SPEC §2's methods.
    return super.toBase32();
  }

  /** An otpauth://totp/ URI for this key; `label` is the account name. */
  toUri(label = 'totp-handshake', issuer?: string): string {
    return this.withSecret((secret) => formatOtpauthUri(secret, this.#options(), label, issuer));
  }

  /** The code at `timeMs` (default now), zero-padded to `digits`. */
  generate(timeMs?: number): string {
    const handle = this.liveHandle();
    const counter = this.#counterAt(resolveTime(timeMs));
    const code =
      counter === this.#cachedCounter && this.#known > 0 ? ((this.#codes as number[])[0] as number) : this.engine.codeAt(handle, counter);
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
    const handle = this.liveHandle();
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
    if (value < 0 || timeMs < this.epoch * 1000) return null;
    const counter = this.#counterAt(timeMs);
    const slots = 2 * window + 1;
    if (counter === this.#cachedCounter) {
      // Integer comparisons: the time taken does not depend on how close a wrong code is.
      const known = this.#known < slots ? this.#known : slots;
      const codes = this.#codes as number[];
      for (let slot = 0; slot < known; slot++) {
        if (codes[slot] === value) return SLOT_DELTAS[slot] as number;
      }
      if (known === slots) return null;
    }
    const engine = this.engine;
    const slot = engine.findCode(handle, counter, value, window);
    if (!(slot >= -1)) return null; // no answer at all (a failed call): nothing cached, nothing accepted
    const written = slot >= 0 ? slot + 1 : slots;
    let codes = this.#codes;
    if (codes === null || codes.length < written) codes = this.#codes = new Array<number>(slots > 3 ? slots : 3).fill(NO_CODE);
    // Copied and cleared: the scratch array is shared by every key of this engine.
    const scratch = engine.scratch;
    for (let i = 0; i < written; i++) {
      codes[i] = scratch[i] as number;
      scratch[i] = 0;
    }
    this.#cachedCounter = counter;
    this.#known = written;
    return slot >= 0 ? (SLOT_DELTAS[slot] as number) : null;
  }

  /**
   * Whether `other` is the same key: the same secret (compared in constant time, on copies wiped
   * at once) and the same parameters. A fingerprint would not do: two keys whose 32-bit ids
   * collide must stay apart.
   */
  equals(other: TotpKey): boolean {
    if (!(other instanceof TotpKey)) return false;
    if (this.algorithm !== other.algorithm || this.digits !== other.digits || this.period !== other.period || this.epoch !== other.epoch) return false;
    return this.withSecret((mine) => other.withSecret((theirs) => mine.length === theirs.length && timingSafeEqual(mine, theirs)));
  }

  /** Wipes the secret and the engine's copy of it; every later call throws ERR_OTP_DESTROYED. */
  override destroy(): void {
    super.destroy();
    this.#codes?.fill(0);
    this.#codes = null;
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
    const counter = stepAt(timeMs, this.period * 1000, this.epoch * 1000);
    if (counter < 0) throw new OtpError('ERR_OTP_OPTIONS', 'the time is before the key\'s epoch');
    return counter;
  }

  #options(): ResolvedTotpOptions {
    return { algorithm: this.algorithm, digits: this.digits as 6 | 7 | 8, period: this.period, epoch: this.epoch };
  }
}

function fromBase32On(engine: Engine, secret: string, options: TotpKeyOptions | undefined): TotpKey {
  // Text goes to the engine as it is (the addon decodes it without a copy in JavaScript); anything
  // else gets the base32 decoder's own error.
  if (typeof secret !== 'string') throw new OtpError('ERR_OTP_BASE32', 'a base32 secret must be a string');
  return constructWith(engine, secret, options);
}

/** A key on a given engine: for tests that run both engines in one process. Not exported publicly. */
export function createKeyOnEngine(engine: Engine, secret: Uint8Array, options?: TotpKeyOptions): TotpKey {
  if (!(secret instanceof Uint8Array)) throw new OtpError('ERR_OTP_OPTIONS', 'secret must be a Uint8Array');
  return constructWith(engine, secret, options);
}

/** A key from a caller's secret and options: minSecretBytes is checked here, the TOTP parameters by resolveTotpOptions. */
function constructWith(engine: Engine, secret: Uint8Array | string, options: TotpKeyOptions | undefined): TotpKey {
  if (options === undefined || options === null || typeof options !== 'object' || !('minSecretBytes' in options)) {
    return construct(secret, resolveTotpOptions(options), engine);
  }
  const { minSecretBytes, ...totp } = options;
  return construct(secret, resolveTotpOptions(totp), engine, resolveMinSecretBytes(minSecretBytes));
}

/** TotpKey.fromBase32 on a given engine: for tests. Not exported publicly. */
export { fromBase32On as createKeyFromBase32OnEngine };
