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

// What a one-shot verifyTotp replaces: the peers given the base32 secret on every call, with no
// object kept between calls.

// otpauth 9.5: the static TOTP.validate with a Secret decoded from base32 on every call.
async function otpauthFromBase32(codes, expect) {
  const OTPAuth = await import('otpauth');
  const validate = (token, timestamp) => OTPAuth.TOTP.validate({ token, secret: OTPAuth.Secret.fromBase32(SECRET_BASE32), timestamp, window: 1 });
  await checkTotpVerify('otpauth TOTP.validate + Secret.fromBase32', (token, i) => validate(token, TIMES_MS[i]) !== null);
  return { call: (i) => validate(codes[i], TIMES_MS[i]), accepted: (delta) => delta !== null, expect };
}

// otplib 12 (the version most code still runs, under the npm alias otplib12): authenticator.check(token,
// base32 secret), which decodes the secret on every call. `epoch` (ms) pins the time and
// `window: 1` accepts one step each side; one clone per fixture time, made before timing, so
// that setting options is not timed.
async function otplib12(codes, expect) {
  const { authenticator } = await import('otplib12');
  const clones = TIMES_MS.map((epoch) => authenticator.clone({ epoch, window: 1 }));
  await checkTotpVerify('otplib 12 authenticator.check', (token, i) => clones[i].check(token, SECRET_BASE32));
  return { call: (i) => clones[i].check(codes[i], SECRET_BASE32), expect };
}

// otplib 13 verifySync with the base32 secret (its README's form), decoded on every call.
async function otplibBase32(codes, expect) {
  const { verifySync } = await import('otplib');
  const options = (token, i) => ({ secret: SECRET_BASE32, token, epoch: TIMES_S[i], epochTolerance: 30 });
  await checkTotpVerify('otplib verifySync (base32)', (token, i) => verifySync(options(token, i)).valid);
  const opts = TIMES_S.map((_, i) => options(codes[i], i));
  return { call: (i) => verifySync(opts[i]), accepted: (result) => result.valid === true, expect };
}

// setup(codes, expect): codes = the valid or the invalid code of each fixture step.
const peer = (id, impl, k, quick, setup) => [
  { id: `${id}.valid`, impl, op: 'verify, valid (window 1)', k, quick, setup: () => setup(totpCodes().VALID, true) },
  { id: `${id}.invalid`, impl, op: 'verify, invalid (window 1)', k: Math.max(1, k >> 1), quick: false, setup: () => setup(totpCodes().INVALID, false) },
];

// The same for the one-shot comparisons: compared with native.once.verify.*, the invalid code
// (the target's figure) in the quick set.
const oneShotPeer = (id, impl, k, setup) => [
  { id: `${id}.valid`, impl, op: 'one-shot verify, base32 secret, valid (window 1)', k, quick: false, twin: 'native.once.verify.valid', setup: () => setup(totpCodes().VALID, true) },
  { id: `${id}.invalid`, impl, op: 'one-shot verify, base32 secret, invalid (window 1)', k: Math.max(1, k >> 1), quick: true, twin: 'native.once.verify.invalid', setup: () => setup(totpCodes().INVALID, false) },
];

export const cases = [
  ...peer('otplib.verify', 'otplib 13 verify (async)', 8, false, (codes, expect) => otplib(codes, expect, false)),
  ...peer('otplib.verifySync', 'otplib 13 verifySync', 8, false, (codes, expect) => otplib(codes, expect, true)),
  ...peer('otpauth.validate', 'otpauth 9 TOTP#validate', 64, true, otpauth),
  ...peer('speakeasy.verify', 'speakeasy 2 totp.verify', 16, false, speakeasy),
  ...oneShotPeer('otpauth.validate.fromBase32', 'otpauth 9 TOTP.validate + Secret.fromBase32', 32, otpauthFromBase32),
  ...oneShotPeer('otplib12.check', 'otplib 12 authenticator.check', 16, otplib12),
  ...oneShotPeer('otplib.verifySync.base32', 'otplib 13 verifySync, base32 secret', 16, otplibBase32),
].map((c) => ({ suite: 'peers', ...c }));
