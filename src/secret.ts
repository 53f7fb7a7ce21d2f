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
import { DEFAULT_SECRET_BYTES, MAX_SECRET_BYTES, MIN_SECRET_BYTES } from './options.js';

/** Which kind of key a secret is for, as error messages name it. */
export type SecretKind = 'TOTP' | 'HOTP';

export function checkSecretLength(length: number, kind: SecretKind): void {
  const secret = kind === 'HOTP' ? 'an HOTP secret' : 'a TOTP secret';
  if (length < MIN_SECRET_BYTES) {
    throw new OtpError('ERR_OTP_SECRET_LENGTH', `${secret} must be at least ${MIN_SECRET_BYTES} bytes (128 bits, RFC 4226 §4); this one has ${length}`);
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
export function secretBytes(secret: unknown, kind: SecretKind): Uint8Array {
  if (typeof secret === 'string') {
    const bytes = decodeBase32(secret);
    try {
      checkSecretLength(bytes.length, kind);
    } catch (error) {
      bytes.fill(0);
      throw error;
    }
    return bytes;
  }
  if (!(secret instanceof Uint8Array)) notASecret();
  checkSecretLength(secret.length, kind);
  return secret;
}

/** Throws what secretBytes throws for `secret`, and wipes what it decoded. */
export function assertSecret(secret: unknown, kind: SecretKind): void {
  const bytes = secretBytes(secret, kind);
  if (bytes !== secret) bytes.fill(0);
}

/**
 * For a secret the engine refused as given: `call` again with the secret's bytes (which throws
 * for a secret no engine takes), wiped afterwards when they were decoded here.
 */
export function retryWithBytes<T>(secret: SecretInput, kind: SecretKind, call: (bytes: Uint8Array) => T | typeof SECRET_REFUSED): T {
  const bytes = secretBytes(secret, kind);
  try {
    const result = call(bytes);
    if (result === SECRET_REFUSED) throw new Error('the engine refused a secret of an allowed length');
    return result;
  } finally {
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
