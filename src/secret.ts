// Secrets as callers give them (base32 text or bytes) on their way into an engine.
//
// The engines are first handed the secret as given: the addon decodes base32 itself, so that no
// decoded copy exists in JavaScript. An engine refuses what it does not take (SECRET_REFUSED):
// then the secret is decoded here by the one canonical decoder, which throws the precise OtpError,
// or gives bytes that the call is retried with (and which are wiped after).
import { randomBytes } from 'node:crypto';

import { decodeBase32 } from './base32.js';
import { SECRET_REFUSED, type SecretInput } from './engine/types.js';
import { OtpError } from './errors.js';
import { fail } from './internal/options.js';
import { DEFAULT_SECRET_BYTES, MAX_SECRET_BYTES, MIN_SECRET_BYTES } from './options.js';

/** Which kind of key a secret is for, as error messages name it. */
export type SecretKind = 'TOTP' | 'HOTP';

/**
 * The shortest secret a call accepts: `minSecretBytes` as the caller gave it (a whole number from
 * 1 to 16), or 16 (RFC 4226 §4 R6: 128 bits) when it gave none. Lowering it is the explicit opt-in
 * for existing enrolments with shorter secrets (10 bytes is common); nothing lowers it by default.
 */
export function resolveMinSecretBytes(minSecretBytes: unknown): number {
  if (minSecretBytes === undefined) return MIN_SECRET_BYTES;
  if (!Number.isInteger(minSecretBytes) || (minSecretBytes as number) < 1 || (minSecretBytes as number) > MIN_SECRET_BYTES) {
    fail(`minSecretBytes must be a whole number from 1 to ${MIN_SECRET_BYTES}`);
  }
  return minSecretBytes as number;
}

export function checkSecretLength(length: number, kind: SecretKind, minBytes = MIN_SECRET_BYTES): void {
  const secret = kind === 'HOTP' ? 'an HOTP secret' : 'a TOTP secret';
  if (length < minBytes) {
    const optIn = minBytes === MIN_SECRET_BYTES && length > 0 ? ` (to accept an existing shorter secret, pass minSecretBytes: ${length})` : '';
    const floor = minBytes === MIN_SECRET_BYTES ? `${MIN_SECRET_BYTES} bytes (128 bits, RFC 4226 §4)` : `${minBytes} bytes (minSecretBytes)`;
    throw new OtpError('ERR_OTP_SECRET_LENGTH', `${secret} must be at least ${floor}; this one has ${length}${optIn}`);
  }
  if (length > MAX_SECRET_BYTES) {
    throw new OtpError('ERR_OTP_SECRET_LENGTH', `${secret} must be at most ${MAX_SECRET_BYTES} bytes; this one has ${length}`);
  }
}

/** `secret` when it is base32 text or bytes (of any length yet); otherwise ERR_OTP_OPTIONS. */
export function secretInput(secret: unknown): SecretInput {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) notASecret();
  return secret as SecretInput;
}

function notASecret(): never {
  throw new OtpError('ERR_OTP_OPTIONS', 'a secret must be base32 text or a Uint8Array');
}

/** `secret` as bytes of an allowed length: decoded from base32 text, or the Uint8Array itself. */
export function secretBytes(secret: unknown, kind: SecretKind, minBytes = MIN_SECRET_BYTES): Uint8Array {
  if (typeof secret === 'string') {
    const bytes = decodeBase32(secret);
    try {
      checkSecretLength(bytes.length, kind, minBytes);
    } catch (error) {
      bytes.fill(0);
      throw error;
    }
    return bytes;
  }
  if (!(secret instanceof Uint8Array)) notASecret();
  checkSecretLength(secret.length, kind, minBytes);
  return secret;
}

/** Throws what secretBytes throws for `secret`, and wipes what it decoded. */
export function assertSecret(secret: unknown, kind: SecretKind, minBytes = MIN_SECRET_BYTES): void {
  const bytes = secretBytes(secret, kind, minBytes);
  if (bytes !== secret) bytes.fill(0);
}

/**
 * For a secret the engine refused as given: `call` again with the secret's bytes (which throws
 * for a secret shorter than `minBytes`, a resolved minSecretBytes, or longer than 1024), wiped
 * afterwards when they were decoded here. `call` is also told the secret's own length.
 *
 * A secret shorter than the engines take (16 bytes, which only `minSecretBytes` lets through)
 * is handed over with zero bytes appended up to 16. That is the same HMAC key: RFC 2104 §2 pads
 * every key shorter than the hash's block (64 bytes for SHA-1 and SHA-256, 128 for SHA-512) with
 * zeros to the block, so a key and the key with zeros appended within the block give the same
 * HMAC, and so the same codes. The engines stay at one minimum; the padded copy is wiped after.
 */
export function retryWithBytes<T>(
  secret: SecretInput,
  kind: SecretKind,
  call: (bytes: Uint8Array, secretLength: number) => T | typeof SECRET_REFUSED,
  minBytes = MIN_SECRET_BYTES,
): T {
  const bytes = secretBytes(secret, kind, minBytes);
  const padded = bytes.length < MIN_SECRET_BYTES ? new Uint8Array(MIN_SECRET_BYTES) : bytes;
  try {
    if (padded !== bytes) padded.set(bytes);
    const result = call(padded, bytes.length);
    if (result === SECRET_REFUSED) throw new Error('the engine refused a secret of an allowed length');
    return result;
  } finally {
    if (padded !== bytes) padded.fill(0);
    if (bytes !== secret) bytes.fill(0);
  }
}

/**
 * A key made by `make` from a new secret of `options.bytes` (default 20) bytes from the operating
 * system's CSPRNG, given the other options; the secret is wiped afterwards.
 */
export function fromRandomSecret<O extends object, K>(
  options: (O & { bytes?: number }) | undefined,
  kind: SecretKind,
  what: string,
  make: (secret: Uint8Array, options: O) => K,
): K {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new OtpError('ERR_OTP_OPTIONS', `${what} options must be an object`);
  }
  const { bytes = DEFAULT_SECRET_BYTES, ...rest } = options ?? {};
  if (!Number.isInteger(bytes)) throw new OtpError('ERR_OTP_OPTIONS', 'bytes must be a whole number');
  checkSecretLength(bytes, kind);
  const secret = randomBytes(bytes);
  try {
    return make(secret, rest as O);
  } finally {
    secret.fill(0);
  }
}
