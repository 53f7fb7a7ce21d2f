// Deterministic inputs shared by every case, and the reference ("naive") implementations they are
// checked against. Nothing here depends on the wall clock or on randomness, so two machines time
// exactly the same work.
import { createHash, createHmac } from 'node:crypto';

/** TOTP parameters of every TOTP case: SHA-1, 6 digits, 30 s, the defaults of every peer. */
export const PERIOD_MS = 30_000;
export const DIGITS = 6;

/** 20 bytes (the common default secret size), fixed so that every run times the same codes. */
export const SECRET = createHash('sha256').update('totp-handshake bench secret').digest().subarray(0, 20);

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (independent of the library's own encoder). */
export function toBase32(bytes) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export const SECRET_BASE32 = toBase32(SECRET);

/**
 * The naive node:crypto HOTP a developer writes in ten lines: one createHmac per code, RFC 4226
 * §5.3 dynamic truncation, a zero-padded string.
 */
export function naiveCode(secret, counter) {
  const message = Buffer.alloc(8);
  message.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 0);
  message.writeUInt32BE(counter >>> 0, 4);
  const digest = createHmac('sha1', secret).update(message).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** DIGITS).padStart(DIGITS, '0');
}

/**
 * The naive verify: the current step first, then -1 and +1 (the same order as the library, so the
 * comparison measures the implementation, not the search order); a string compare.
 */
export function naiveVerify(secret, code, timeMs, window = 1) {
  const counter = Math.floor(timeMs / PERIOD_MS);
  if (naiveCode(secret, counter) === code) return true;
  for (let distance = 1; distance <= window; distance++) {
    if (counter - distance >= 0 && naiveCode(secret, counter - distance) === code) return true;
    if (naiveCode(secret, counter + distance) === code) return true;
  }
  return false;
}

// The reference itself is checked against RFC 6238 Appendix B (SHA-1, T = 59 s and
// T = 1111111109 s, 8-digit codes 94287082 and 07081804: their last 6 digits here).
{
  const rfcSecret = Buffer.from('12345678901234567890');
  if (naiveCode(rfcSecret, 1) !== '287082' || naiveCode(rfcSecret, 37037036) !== '081804') {
    throw new Error('bench fixtures: the reference HOTP fails RFC 6238 Appendix B');
  }
}

/** How many distinct steps the cold cases cycle through (a power of two: index & MASK). */
export const STEPS = 4096;
export const MASK = STEPS - 1;

/**
 * Step 0 of the cycle: 2023-11-14T22:13:20Z, plus 15 s so that every pinned time sits in the
 * middle of its step and a ±1-step window never depends on rounding.
 */
export const BASE_MS = 1_700_000_010_000 - (1_700_000_010_000 % PERIOD_MS) + 15_000;

/** times[i]: one period apart, so consecutive calls always fall in a new step (a cold cache). */
export const TIMES_MS = Array.from({ length: STEPS }, (_, i) => BASE_MS + i * PERIOD_MS);
export const TIMES_S = TIMES_MS.map((ms) => ms / 1000);

const counterOf = (ms) => Math.floor(ms / PERIOD_MS);

let codes;

/**
 * The reference codes around each fixture step, computed on first use (4,100 HMACs) so that a
 * process that needs none (a baseline case, a server) does not pay for them:
 *   VALID[i]      the code of step i
 *   INVALID[i]    a well-formed code matching none of steps i-1, i, i+1 (window 1 rejects it)
 *   PREVIOUS[i], NEXT[i], TWO_BEFORE[i], TWO_AFTER[i]: the codes 1 and 2 steps away, to check
 *   each implementation's window.
 */
export function totpCodes() {
  if (codes !== undefined) return codes;
  const first = counterOf(BASE_MS) - 2;
  const around = Array.from({ length: STEPS + 4 }, (_, j) => naiveCode(SECRET, first + j));
  const at = (delta) => Array.from({ length: STEPS }, (_, i) => around[i + 2 + delta]);
  const VALID = at(0);
  const PREVIOUS = at(-1);
  const NEXT = at(1);
  const INVALID = VALID.map((code, i) => {
    const window = new Set([PREVIOUS[i], code, NEXT[i]]);
    let value = (Number(code) + 500_000) % 1_000_000;
    while (window.has(String(value).padStart(DIGITS, '0'))) value = (value + 1) % 1_000_000;
    return String(value).padStart(DIGITS, '0');
  });
  codes = Object.freeze({ VALID, INVALID, PREVIOUS, NEXT, TWO_BEFORE: at(-2), TWO_AFTER: at(2) });
  return codes;
}

// ---- Baselines -----------------------------------------------------------------------------

/** The webhook-signature key and payloads (1 KiB and 64 KiB of JSON-like bytes). */
export const HMAC_KEY = createHash('sha256').update('totp-handshake bench webhook key').digest();

export function payload(size) {
  const unit = Buffer.from('{"event":"invoice.paid","id":"evt_0123456789","amount":4200},');
  const out = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += unit.length) unit.copy(out, offset);
  return out;
}

/** A small HS256 JWT, signed here with node:crypto (independent of the libraries under test). */
export const JWT_SECRET = createHash('sha256').update('totp-handshake bench jwt key').digest();

const base64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export function signJwt(claims, secret = JWT_SECRET) {
  const signingInput = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(claims)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** Fixed claims: issued 2023-11-14, expiring 2100-01-01, so the token verifies on any run date. */
export const JWT_CLAIMS = Object.freeze({ sub: 'service-a', iss: 'service-b', iat: 1_700_000_000, exp: 4_102_444_800 });
export const JWT = signJwt(JWT_CLAIMS);
/** The same token with a different signature: every verifier must reject it. */
export const JWT_FORGED = signJwt(JWT_CLAIMS, createHash('sha256').update('not the key').digest());
