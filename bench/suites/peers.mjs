// Peers: the TOTP libraries a Node.js developer would otherwise use, each called the way its
// README recommends (defaults: SHA-1, 6 digits, 30 s), with a ±1-step window, and with the
// secret parsed once wherever the API allows it. Every call verifies at a pinned time one period
// after the previous call's, like the library's cold cases (no peer caches codes, so for them
// every call is cold).
import { checkTotpVerify } from '../lib/correctness.mjs';
import { SECRET, SECRET_BASE32, TIMES_MS, TIMES_S, totpCodes } from '../lib/fixtures.mjs';

// otplib 13: the functional API its README recommends (default plugins: @noble/hashes HMAC,
// @scure/base base32). The secret is passed as bytes, decoded once. `epoch` pins the time in
// seconds; `epochTolerance: 30` is ±30 s, i.e. the previous and next 30 s steps (checked below).
async function otplib(codes, expect, sync) {
  const { verify, verifySync } = await import('otplib');
  const secret = new Uint8Array(SECRET);
  const options = (token, i) => ({ secret, token, epoch: TIMES_S[i], epochTolerance: 30 });
  const opts = TIMES_S.map((_, i) => options(codes[i], i));
  if (sync) {
    await checkTotpVerify('otplib verifySync', (token, i) => verifySync(options(token, i)).valid);
    return { call: (i) => verifySync(opts[i]), accepted: (result) => result.valid === true, expect };
  }
  await checkTotpVerify('otplib verify', async (token, i) => (await verify(options(token, i))).valid);
  return { call: (i) => verify(opts[i]), accepted: (result) => result.valid === true, expect, async: true };
}

// otpauth 9.5: one TOTP object built from an OTPAuth.Secret (base32 decoded once), then
// `validate({ token, window: 1 })`, which returns the delta or null. `timestamp` pins the time (ms).
async function otpauth(codes, expect) {
  const OTPAuth = await import('otpauth');
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(SECRET_BASE32) });
  await checkTotpVerify('otpauth validate', (token, i) => totp.validate({ token, timestamp: TIMES_MS[i], window: 1 }) !== null);
  const opts = TIMES_MS.map((timestamp, i) => ({ token: codes[i], timestamp, window: 1 }));
  return { call: (i) => totp.validate(opts[i]), accepted: (delta) => delta !== null, expect };
}

// speakeasy 2.0.0: `totp.verify({ secret, encoding: 'base32', token, window: 1 })`. It accepts a
// Buffer secret, which skips the per-call base32 decode (parsing done once); `time` pins the time (s).
async function speakeasy(codes, expect) {
  const { default: speakeasyLib } = await import('speakeasy');
  const secret = Buffer.from(SECRET);
  await checkTotpVerify('speakeasy totp.verify', (token, i) => speakeasyLib.totp.verify({ secret, token, time: TIMES_S[i], window: 1 }));
  const opts = TIMES_S.map((time, i) => ({ secret, token: codes[i], time, window: 1 }));
  return { call: (i) => speakeasyLib.totp.verify(opts[i]), expect };
}

// setup(codes, expect): codes = the valid or the invalid code of each fixture step.
const peer = (id, impl, k, quick, setup) => [
  { id: `${id}.valid`, impl, op: 'verify, valid (window 1)', k, quick, setup: () => setup(totpCodes().VALID, true) },
  { id: `${id}.invalid`, impl, op: 'verify, invalid (window 1)', k: Math.max(1, k >> 1), quick: false, setup: () => setup(totpCodes().INVALID, false) },
];

export const cases = [
  ...peer('otplib.verify', 'otplib 13 verify (async)', 8, false, (codes, expect) => otplib(codes, expect, false)),
  ...peer('otplib.verifySync', 'otplib 13 verifySync', 8, false, (codes, expect) => otplib(codes, expect, true)),
  ...peer('otpauth.validate', 'otpauth 9 TOTP#validate', 64, true, otpauth),
  ...peer('speakeasy.verify', 'speakeasy 2 totp.verify', 16, false, speakeasy),
].map((c) => ({ suite: 'peers', ...c }));
