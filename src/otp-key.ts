// What TotpKey and HotpKey share: a key held by an engine (the addon's arena, or the js engine),
// its fingerprint, its lifetime, and the way back to its secret.
//
// The key's secret lives in the engine only, not in a JavaScript copy: the addon keeps it in the
// memory of its key arena (wiped on destroy(), left out of core dumps, never moved by the garbage
// collector), from which toBase32() and toUri() read a copy that they wipe after encoding. What
// JavaScript keeps of a secret is what the caller handed in (base32 text cannot be wiped) and
// the strings toBase32()/toUri() return.
import { encodeBase32 } from './base32.js';
import { type LifetimeToken, track, untrack } from './engine/lifetime.js';
import { type AlgorithmId, type Engine, FINGERPRINT_SLOT, type KeyHandle, SECRET_REFUSED, type SecretInput } from './engine/types.js';
import { OtpError } from './errors.js';
import type { Algorithm } from './options.js';
import { retryWithBytes, type SecretKind } from './secret.js';

export const ALGORITHM_IDS: Readonly<Record<Algorithm, AlgorithmId>> = Object.freeze({ SHA1: 0, SHA256: 1, SHA512: 2 });

/** A key in an engine. Not exported from the package: TotpKey and HotpKey are. */
export abstract class OtpKey {
  readonly algorithm: Algorithm;
  readonly digits: number;

  readonly #engine: Engine;
  #handle: KeyHandle | null;
  #lifetime: LifetimeToken | null;
  readonly #fingerprint: number;
  #id: string | undefined;
  // The secret's own length when it is shorter than the engine's copy (a secret below 16 bytes,
  // held zero-padded to 16: see retryWithBytes); else 0, and the engine's copy is the secret.
  readonly #shortLength: number;

  protected constructor(engine: Engine, secret: SecretInput, algorithm: Algorithm, digits: number, kind: SecretKind, minSecretBytes?: number) {
    const algorithmId = ALGORITHM_IDS[algorithm];
    let shortLength = 0;
    let handle = engine.createKey(algorithmId, secret, digits);
    if (handle === SECRET_REFUSED) {
      handle = retryWithBytes(
        secret,
        kind,
        (bytes, secretLength) => {
          if (secretLength < bytes.length) shortLength = secretLength;
          return engine.createKey(algorithmId, bytes, digits);
        },
        minSecretBytes,
      );
    }
    const { scratch } = engine;
    this.#fingerprint = scratch[FINGERPRINT_SLOT] as number;
    scratch[FINGERPRINT_SLOT] = 0;
    this.algorithm = algorithm;
    this.digits = digits;
    this.#engine = engine;
    this.#handle = handle;
    this.#shortLength = shortLength;
    this.#lifetime = track(engine, handle);
  }

  /**
   * A short, non-secret fingerprint of the secret, for logs: the first 32 bits of a
   * domain-separated SHA-256 of the secret, as 8 hex digits. One-way, and the same in every
   * process that holds the key, whatever its algorithm or digits; still there after destroy().
   * A secret shorter than 16 bytes (minSecretBytes) has the fingerprint of its HMAC key, the
   * secret with zeros appended to 16 bytes.
   */
  get id(): string {
    if (this.#id === undefined) this.#id = (this.#fingerprint >>> 0).toString(16).padStart(8, '0');
    return this.#id;
  }

  /** The secret as base32 without padding: what key files hold and `oathtool -b` reads. */
  toBase32(): string {
    return this.withSecret(encodeBase32);
  }

  /** Wipes the secret (the engine's state and its copy of the secret); every later call throws ERR_OTP_DESTROYED. */
  destroy(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    this.#engine.destroyKey(handle);
    if (this.#lifetime !== null) untrack(this.#lifetime);
    this.#lifetime = null;
  }

  protected get engine(): Engine {
    return this.#engine;
  }

  /** The engine's handle, or ERR_OTP_DESTROYED. */
  protected liveHandle(): KeyHandle {
    const handle = this.#handle;
    if (handle === null) throw new OtpError('ERR_OTP_DESTROYED', `this ${this.constructor.name} was destroyed`);
    return handle;
  }

  /** Runs `use` on a copy of the secret, wiped afterwards. */
  protected withSecret<T>(use: (secret: Uint8Array) => T): T {
    const secret = this.#engine.secretOf(this.liveHandle());
    try {
      return use(this.#shortLength > 0 ? secret.subarray(0, this.#shortLength) : secret);
    } finally {
      secret.fill(0);
    }
  }
}
