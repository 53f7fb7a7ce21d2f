// The contract both engines implement, and that src/key.ts, src/hotp.ts and src/once.ts rely on.
// The TypeScript layer has validated every argument before a call reaches an engine.
import { MAX_WINDOW } from '../options.js';

/** 0 = SHA-1, 1 = SHA-256, 2 = SHA-512: the native addon's numbering. */
export type AlgorithmId = 0 | 1 | 2;

/**
 * Candidates of the widest TOTP window (MAX_WINDOW steps each side), and of the longest HOTP
 * look-ahead. The addon states its own limit; the loader (src/engine/native.ts) refuses an addon
 * whose limit differs, so MAX_WINDOW is the one place the limit is stated in TypeScript.
 */
export const CANDIDATE_SLOTS = 2 * MAX_WINDOW + 1;

/** HOTP look-ahead: counters counter .. counter + MAX_LOOK_AHEAD, one engine call. */
export const MAX_LOOK_AHEAD = CANDIDATE_SLOTS - 1;

/** Candidate slot i holds the step counter + SLOT_DELTAS[i]: 0, -1, +1, -2, +2, ... */
export const SLOT_DELTAS: readonly number[] = Object.freeze(
  Array.from({ length: CANDIDATE_SLOTS }, (_, i) => (i === 0 ? 0 : i % 2 === 1 ? -(i + 1) / 2 : i / 2)),
);

/** Written in a slot whose step would come before step 0. */
export const NO_CODE = -1;

/** Where createKey leaves the new key's fingerprint in `scratch`. */
export const FINGERPRINT_SLOT = CANDIDATE_SLOTS;

/** The scratch array's length: the candidates, then the fingerprint. */
export const SCRATCH_SLOTS = CANDIDATE_SLOTS + 1;

/**
 * Returned instead of a key, slot or code for a secret the engine does not take as given: a
 * length outside 16..1024 bytes, base32 text the addon does not decode (or any text, on the js
 * engine). The caller then decodes the secret itself (src/secret.ts), which throws the precise
 * OtpError, or gives bytes the engine takes.
 */
export const SECRET_REFUSED = -2;

declare const keyHandle: unique symbol;

/** An engine's reference to one of its keys: a number for the addon, an object for the js engine. */
export type KeyHandle = { readonly [keyHandle]: true };

/** A secret as the engines take it: raw bytes, or base32 text (which only the addon decodes). */
export type SecretInput = Uint8Array | string;

/**
 * An engine: keys addressed by handles, plus one-shot calls that keep nothing. Secrets are wiped
 * when a key is destroyed (destroyKey) and at the end of every one-shot call.
 */
export interface Engine {
  readonly name: 'native' | 'js';
  /**
   * SCRATCH_SLOTS numbers the engine writes and the caller reads right after a call: findCode's
   * candidates in slots 0..2*window (slot i holds step counter + SLOT_DELTAS[i]), createKey's
   * fingerprint in FINGERPRINT_SLOT. Callers copy what they keep and zero what they read.
   */
  readonly scratch: Int32Array;
  /** A new key, its fingerprint (hmac_totp.h `fingerprint`) left in scratch; or SECRET_REFUSED. */
  createKey(algorithm: AlgorithmId, secret: SecretInput, digits: number): KeyHandle | typeof SECRET_REFUSED;
  /**
   * Looks for `code` among the steps counter-window .. counter+window in slot order, writing each
   * candidate's code into scratch. Returns the first matching slot, or -1 after writing all
   * 2*window+1 slots; on a match at least slots 0..index are written.
   */
  findCode(key: KeyHandle, counter: number, code: number, window: number): number;
  /** HOTP look-ahead: the i for which counter + i (0 <= i <= lookAhead, lowest first) has `code`, or -1. */
  findCounter(key: KeyHandle, counter: number, code: number, lookAhead: number): number;
  /** The code at one counter, as a number. */
  codeAt(key: KeyHandle, counter: number): number;
  /** A copy of the key's secret, which the caller wipes. */
  secretOf(key: KeyHandle): Uint8Array;
  /** Wipes and forgets the key; false (nothing done) when the handle names no live key. */
  destroyKey(key: KeyHandle): boolean;
  /** findCode on a key that exists for this call only, or SECRET_REFUSED. Writes no scratch. */
  findCodeOnce(algorithm: AlgorithmId, secret: SecretInput, digits: number, counter: number, code: number, window: number): number;
  /** findCounter on a key that exists for this call only, or SECRET_REFUSED. */
  findCounterOnce(algorithm: AlgorithmId, secret: SecretInput, digits: number, counter: number, code: number, lookAhead: number): number;
  /** codeAt on a key that exists for this call only, or SECRET_REFUSED. */
  codeOnce(algorithm: AlgorithmId, secret: SecretInput, digits: number, counter: number): number;
}
