// Every HOTP/TOTP code the compatibility layers (otplib, otpauth, speakeasy) compute goes through
// this module, and only this module touches an HMAC. The layers keep each original's quirks
// (option parsing, counter encodings, search orders, formats); what reaches here is plain
// RFC 4226: a key, a counter, an algorithm, a number of digits.
//
// Two tiers:
// - `code` and `search`: a safe-integer counter >= 0, 1 to 10 digits, any node:crypto digest
//   name. These are the calls a verify makes in the common case. What the core's engine takes
//   goes there, one crossing into the addon per call with nothing kept (the one-shot calls of
//   src/once.ts): SHA-1, SHA-256 or SHA-512 however the original spells it, 6 to 8 digits, a key
//   of up to 1024 bytes, and for `search` a window in an order the engine searches itself (the
//   current counter then -1, +1, -2, +2, ..., or consecutive counters upwards). A key shorter
//   than the engine's 16 bytes (the originals accept them: 10 bytes is common, 0 happens) goes
//   with zeros appended to 16, which is the same HMAC key (RFC 2104 §2; see retryWithBytes in
//   src/secret.ts). Everything else stays on node:crypto below: other digests ('SHA224',
//   'SHA3-256', 'md5', ...), other digit counts, longer keys, and other orders. `search` is
//   handed the window in its original's order and reports the first match in that order, on
//   either path.
// - `digest` and `truncate`: the raw HMAC of a message the layer encoded itself (a negative or
//   fractional counter, a custom HMAC function, a digest the caller supplied), for the
//   originals' edge cases. Nothing here is on a hot path.
import { createHmac } from 'node:crypto';

import { engine } from '../../engine/index.js';
import { type AlgorithmId, CANDIDATE_SLOTS, MAX_LOOK_AHEAD } from '../../engine/types.js';

/** 10^digits for 0 to 10 digits: every 31-bit truncated value fits in 10 digits. */
const POWERS_OF_TEN = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000];

// The 8-byte counter message. update() copies its input before returning, so one buffer serves
// every call; no code here is re-entered while it is in use.
const counterMessage = Buffer.alloc(8);

/** HMAC(key, message) with a node:crypto digest name (any that OpenSSL knows, as the originals allow). */
export function digest(algorithm: string, key: Uint8Array, message: Uint8Array): Buffer {
  return createHmac(algorithm, key).update(message).digest();
}

/**
 * RFC 4226 §5.3 dynamic truncation: the 31-bit value at the offset named by the low nibble of
 * the last byte. A digest too short for that offset (an MD5 through speakeasy, a custom HMAC)
 * reads its missing bytes as 0, as every original does through `undefined & 0xff`.
 */
export function truncate(hash: ArrayLike<number>): number {
  const offset = (hash[hash.length - 1] as number) & 0x0f;
  return (
    ((((hash[offset] as number) & 0x7f) << 24) |
      (((hash[offset + 1] as number) & 0xff) << 16) |
      (((hash[offset + 2] as number) & 0xff) << 8) |
      ((hash[offset + 3] as number) & 0xff)) >>>
    0
  );
}

/** The truncated 31-bit value for counter (a safe integer >= 0). */
function valueAt(algorithm: string, key: Uint8Array, counter: number): number {
  counterMessage.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 0);
  counterMessage.writeUInt32BE(counter >>> 0, 4);
  return truncate(createHmac(algorithm, key).update(counterMessage).digest());
}

// The engine's hashes, by the names the originals use for them (otplib 'sha1', otpauth 'SHA1',
// speakeasy 'sha1', any case, with or without the dash).
const ENGINE_ALGORITHMS: Readonly<Record<string, AlgorithmId>> = Object.freeze({ sha1: 0, 'sha-1': 0, sha256: 1, 'sha-256': 1, sha512: 2, 'sha-512': 2 });
// What the engine takes of a key (src/engine/types.ts): shorter ones are padded, longer ones stay here.
const MIN_ENGINE_KEY_BYTES = 16;
const MAX_ENGINE_KEY_BYTES = 1024;

// The padded copy of a short key, for one engine call at a time; wiped after each (paddedKey).
const shortKeyPad = new Uint8Array(MIN_ENGINE_KEY_BYTES);

/** The engine's number for `algorithm` when the engine can compute this code, else undefined. */
function engineAlgorithm(algorithm: string, key: Uint8Array, digits: number): AlgorithmId | undefined {
  if (digits < 6 || digits > 8 || key.length > MAX_ENGINE_KEY_BYTES) return undefined;
  return ENGINE_ALGORITHMS[algorithm.toLowerCase()];
}

/** `use` called with `key` as the engine takes it: itself, or (shorter than 16 bytes) shortKeyPad holding it, wiped after. */
function withEngineKey<T>(key: Uint8Array, use: (engineKey: Uint8Array) => T): T {
  if (key.length >= MIN_ENGINE_KEY_BYTES) return use(key);
  shortKeyPad.set(key);
  try {
    return use(shortKeyPad);
  } finally {
    shortKeyPad.fill(0);
  }
}

/** Whether counters[0 .. count) is the engine's window order around counters[0]: c, c-1, c+1, c-2, c+2, ... */
function isWindowOrder(counters: ArrayLike<number>, count: number): boolean {
  if (count % 2 === 0 || count > CANDIDATE_SLOTS) return false;
  const center = counters[0] as number;
  for (let i = 1; i < count; i++) {
    const distance = (i + 1) >> 1;
    if (counters[i] !== (i % 2 === 1 ? center - distance : center + distance)) return false;
  }
  return center - (count - 1) / 2 >= 0;
}

/** Whether counters[0 .. count) counts upwards by one from counters[0]. */
function isAscending(counters: ArrayLike<number>, count: number): boolean {
  if (count === 0 || count - 1 > MAX_LOOK_AHEAD) return false;
  for (let i = 1; i < count; i++) if (counters[i] !== (counters[0] as number) + i) return false;
  return true;
}

/**
 * The HOTP code at `counter` as a number below 10^digits (the caller pads it to a string).
 * counter: a safe integer >= 0; digits: a whole number from 1 to 10.
 */
export function code(algorithm: string, key: Uint8Array, counter: number, digits: number): number {
  const id = engineAlgorithm(algorithm, key, digits);
  if (id !== undefined) {
    const value = withEngineKey(key, (engineKey) => engine.codeOnce(id, engineKey, digits, counter));
    if (value >= 0) return value;
  }
  return valueAt(algorithm, key, counter) % (POWERS_OF_TEN[digits] as number);
}

/**
 * The index of the first of `counters[0 .. count)` whose code equals `target`, or -1. The
 * caller lists the counters in its original's search order: with a collision inside a window,
 * the order decides which delta is reported. Every counter is a safe integer >= 0 (see
 * servesCounter); digits from 1 to 10; target a number below 10^digits.
 */
export function search(algorithm: string, key: Uint8Array, counters: ArrayLike<number>, count: number, digits: number, target: number): number {
  const id = engineAlgorithm(algorithm, key, digits);
  if (id !== undefined) {
    // The engine's answer is an index into the same order, or -1; anything else (a refusal, a
    // failed call) leaves the search to node:crypto.
    const found = withEngineKey(key, (engineKey) => {
      const first = counters[0] as number;
      if (isWindowOrder(counters, count)) return engine.findCodeOnce(id, engineKey, digits, first, target, (count - 1) / 2);
      if (isAscending(counters, count)) return engine.findCounterOnce(id, engineKey, digits, first, target, count - 1);
      return -2;
    });
    if (found >= -1 && found < count) return found;
  }
  const modulus = POWERS_OF_TEN[digits] as number;
  for (let i = 0; i < count; i++) {
    if (valueAt(algorithm, key, counters[i] as number) % modulus === target) return i;
  }
  return -1;
}

/** Whether `code` and `search` serve this counter and digit count (else the layer's own path). */
export function servesCounter(counter: number): boolean {
  return Number.isSafeInteger(counter) && counter >= 0;
}

export function servesDigits(digits: unknown): digits is number {
  return typeof digits === 'number' && Number.isInteger(digits) && digits >= 1 && digits <= 10;
}
