// RFC 4648 §6 base32, the encoding of TOTP secrets in key files, otpauth URIs and oathtool -b.
import { OtpError } from './errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// Character code -> 5-bit value, or -1. Lower case decodes like upper case.
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  VALUES[ALPHABET.charCodeAt(i)] = i;
  VALUES[ALPHABET.toLowerCase().charCodeAt(i)] = i;
}

/** Encodes bytes as upper-case base32 without '=' padding (what oathtool and most apps accept). */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes base32, case-insensitively, ignoring spaces (secrets are often shown in groups of
 * four) and trailing '=' padding. Errors give a position, never the text: it is a secret.
 */
export function decodeBase32(text: string): Uint8Array {
  if (typeof text !== 'string') throw new OtpError('ERR_OTP_BASE32', 'a base32 secret must be a string');
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let length = 0;
  let buffer = 0;
  let bits = 0;
  let symbols = 0;
  let padding = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20) continue;
    if (c === 0x3d) {
      padding = true;
      continue;
    }
    const value = c < 128 ? (VALUES[c] as number) : -1;
    if (value < 0 || padding) {
      out.fill(0); // what was decoded so far is part of a secret
      const what = value < 0 ? 'an invalid base32 character' : 'base32 data after padding';
      throw new OtpError('ERR_OTP_BASE32', `${what} at position ${i}`);
    }
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    symbols++;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (buffer >>> bits) & 0xff;
    }
  }
  // A group of 8 symbols holds 5 bytes; 2, 4, 5 or 7 trailing symbols hold 1-4 bytes. Other
  // counts cannot come from any byte string.
  const rest = symbols % 8;
  if (rest === 1 || rest === 3 || rest === 6) {
    out.fill(0);
    throw new OtpError('ERR_OTP_BASE32', `a base32 secret cannot have ${symbols} symbols`);
  }
  return out.subarray(0, length);
}
