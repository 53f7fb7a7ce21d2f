// Every HOTP/TOTP code the compatibility layers (otplib, otpauth, speakeasy) compute goes through
// this module, and only this module touches an HMAC. The layers keep each original's quirks
// (option parsing, counter encodings, search orders, formats); what reaches here is plain
// RFC 4226: a key, a counter, an algorithm, a number of digits.
//
// Two tiers:
// - `code` and `search`: a safe-integer counter >= 0, 1 to 10 digits, any node:crypto digest
//   name. These are the calls a verify makes in the common case, and the ones to route to the
//   core's one-shot functions when they land: that change is confined to these two functions.
//   Route only what the core takes and keep node:crypto below for the rest: the names arrive as
//   the originals spell them ('sha1', 'SHA1', 'sha256', 'SHA512'; also 'SHA224', 'SHA3-256',
//   'md5', ... which stay here), digits outside 6-8 stay here, and keys are any length the
//   originals accept (10 bytes is common, 0 happens): short ones need the core's explicit
//   short-secret opt-in, and any size the core refuses stays here. `search` is handed the
//   window in its original's order and must report the first match in that order.
// - `digest` and `truncate`: the raw HMAC of a message the layer encoded itself (a negative or
//   fractional counter, a custom HMAC function, a digest the caller supplied), for the
//   originals' edge cases. Nothing here is on a hot path.
import { createHmac } from 'node:crypto';

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

/**
 * The HOTP code at `counter` as a number below 10^digits (the caller pads it to a string).
 * counter: a safe integer >= 0; digits: a whole number from 1 to 10.
 */
export function code(algorithm: string, key: Uint8Array, counter: number, digits: number): number {
  return valueAt(algorithm, key, counter) % (POWERS_OF_TEN[digits] as number);
}

/**
 * The index of the first of `counters[0 .. count)` whose code equals `target`, or -1. The
 * caller lists the counters in its original's search order: with a collision inside a window,
 * the order decides which delta is reported. Every counter is a safe integer >= 0 (see
 * servesCounter); digits from 1 to 10; target a number below 10^digits.
 */
export function search(algorithm: string, key: Uint8Array, counters: ArrayLike<number>, count: number, digits: number, target: number): number {
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
