// The node:crypto engine: same results as the native one, for any platform without the addon.
//
// One createHmac per code. Precomputing the pad blocks into two Hash objects and cloning them
// (Hash#copy) looks cheaper but measured slower here: ~2.3 us against ~2.0 us per code on
// Node 20, as each copy is its own native call and allocation.
//
// What of a secret this engine leaves behind: its own copy (a Buffer outside V8's heap, so the
// garbage collector never moves it) is wiped by destroyKey and after every one-shot call; the
// HMAC contexts Node and OpenSSL make per code are freed by them (OpenSSL cleanses digest state
// when it frees a context); each digest is wiped after truncation.
import { createHash, createHmac } from 'node:crypto';

import { MAX_SECRET_BYTES, MIN_SECRET_BYTES } from '../options.js';
import {
  type AlgorithmId,
  type Engine,
  FINGERPRINT_SLOT,
  type KeyHandle,
  NO_CODE,
  SCRATCH_SLOTS,
  SECRET_REFUSED,
  type SecretInput,
  SLOT_DELTAS,
} from './types.js';

const HASHES = ['sha1', 'sha256', 'sha512'] as const;
const MODULI = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

// The 8-byte counter message, shared: codes are computed synchronously, one at a time.
const counterBytes = Buffer.alloc(8);

class JsKey {
  secret: Buffer | null;
  readonly #hash: string;
  readonly #modulus: number;

  constructor(algorithm: AlgorithmId, secret: Uint8Array, digits: number) {
    // A buffer of its own: Buffer.from would place a small secret in Node's shared 8 KiB pool,
    // readable through the .buffer of any other pooled Buffer and never wiped by destroy().
    this.secret = Buffer.allocUnsafeSlow(secret.length);
    this.secret.set(secret);
    this.#hash = HASHES[algorithm];
    this.#modulus = MODULI[digits] as number;
  }

  codeAt(counter: number): number {
    counterBytes.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 0);
    counterBytes.writeUInt32BE(counter >>> 0, 4);
    const digest = createHmac(this.#hash, this.secret as Buffer).update(counterBytes).digest();
    // RFC 4226 §5.3 dynamic truncation.
    const offset = (digest[digest.length - 1] as number) & 0x0f;
    const code = (digest.readUInt32BE(offset) & 0x7fffffff) % this.#modulus;
    digest.fill(0);
    return code;
  }

  /** Candidates in slot order (TOTP: counter + SLOT_DELTAS[slot]), each written to `out`; the first match. */
  findCode(counter: number, code: number, window: number, out: Int32Array): number {
    for (let slot = 0; slot <= 2 * window; slot++) {
      const step = counter + (SLOT_DELTAS[slot] as number);
      const candidate = step >= 0 ? this.codeAt(step) : NO_CODE;
      out[slot] = candidate;
      if (candidate === code) return slot;
    }
    return -1;
  }

  /** HOTP look-ahead: counter, counter + 1, ... counter + lookAhead; the first match. */
  findCounter(counter: number, code: number, lookAhead: number): number {
    for (let i = 0; i <= lookAhead; i++) {
      if (this.codeAt(counter + i) === code) return i;
    }
    return -1;
  }

  destroy(): void {
    this.secret?.fill(0);
    this.secret = null;
  }
}

const scratch = new Int32Array(SCRATCH_SLOTS);

function takes(secret: SecretInput): secret is Uint8Array {
  return secret instanceof Uint8Array && secret.length >= MIN_SECRET_BYTES && secret.length <= MAX_SECRET_BYTES;
}

function live(handle: KeyHandle): JsKey {
  if (!(handle instanceof JsKey) || handle.secret === null) throw new Error('not a live key (destroyed, or not made by this engine)');
  return handle;
}

/** Runs `use` on a key that exists for this call only. */
function once(algorithm: AlgorithmId, secret: SecretInput, digits: number, use: (key: JsKey) => number): number {
  if (!takes(secret)) return SECRET_REFUSED;
  const key = new JsKey(algorithm, secret, digits);
  try {
    return use(key);
  } finally {
    key.destroy();
  }
}

/** The same value as the addon's fingerprint (native/hmac_totp.h). */
export function fingerprintOf(secret: Uint8Array): number {
  const digest = createHash('sha256').update('totp-handshake key id\0').update(secret).digest();
  const id = digest.readInt32BE(0);
  digest.fill(0);
  return id;
}

export const jsEngine: Engine = {
  name: 'js',
  scratch,
  createKey(algorithm, secret, digits) {
    if (!takes(secret)) return SECRET_REFUSED;
    scratch[FINGERPRINT_SLOT] = fingerprintOf(secret);
    return new JsKey(algorithm, secret, digits) as unknown as KeyHandle;
  },
  findCode: (key, counter, code, window) => live(key).findCode(counter, code, window, scratch),
  findCounter: (key, counter, code, lookAhead) => live(key).findCounter(counter, code, lookAhead),
  codeAt: (key, counter) => live(key).codeAt(counter),
  secretOf: (key) => Uint8Array.from(live(key).secret as Buffer),
  destroyKey(key) {
    if (!(key instanceof JsKey) || key.secret === null) return false;
    key.destroy();
    return true;
  },
  findCodeOnce(algorithm, secret, digits, counter, code, window) {
    const candidates = new Int32Array(SCRATCH_SLOTS);
    try {
      return once(algorithm, secret, digits, (key) => key.findCode(counter, code, window, candidates));
    } finally {
      candidates.fill(0);
    }
  },
  findCounterOnce: (algorithm, secret, digits, counter, code, lookAhead) =>
    once(algorithm, secret, digits, (key) => key.findCounter(counter, code, lookAhead)),
  codeOnce: (algorithm, secret, digits, counter) => once(algorithm, secret, digits, (key) => key.codeAt(counter)),
};
