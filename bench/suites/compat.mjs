// Compat: each drop-in adapter (totp-handshake/compat/*) beside the original call it replaces,
// called with the same arguments: the same secret form (base32 text where users pass text), the
// same options object per call, ±1 step, a valid code. Pinned times, one period apart, so
// nothing can be reused from one call to the next (as in the peers' cases); otplib 12's
// authenticator takes its time from the clock, so its pair verifies the current code instead.
import { createRequire } from 'node:module';

import { checkTotpVerify, Skip } from '../lib/correctness.mjs';
import { PERIOD_MS, SECRET_BASE32, TIMES_MS, TIMES_S, totpCodes } from '../lib/fixtures.mjs';
import { loadCompat } from '../lib/pkg.mjs';

// The originals: otplib 12 is the root package's devDependency `otplib12` (an npm alias, since
// otplib 13 takes the name); the others are the bench's own comparison packages.
const rootRequire = createRequire(new URL('../../package.json', import.meta.url));

function loadOtplib12() {
  try {
    return rootRequire('otplib12');
  } catch (error) {
    throw new Skip(`otplib 12 (the root devDependency otplib12) is not installed: run npm ci (${error.code ?? error.message})`);
  }
}

const original = {
  otplib12: async () => loadOtplib12(),
  otplib: async () => import('otplib'),
  otpauth: async () => import('otpauth'),
  speakeasy: async () => (await import('speakeasy')).default,
};
const adapter = {
  otplib12: async () => loadCompat('otplib'),
  otplib: async () => loadCompat('otplib'),
  otpauth: async () => loadCompat('otpauth'),
  speakeasy: async () => loadCompat('speakeasy').default,
};

// otplib 12: authenticator.check(token, base32Secret) with options { window: 1 }, at the clock's
// time. The check pins the time through `epoch` (milliseconds) on a clone.
async function otplib12Check(load, label) {
  const { authenticator } = await load();
  const at = (i) => {
    const pinned = authenticator.clone();
    pinned.options = { window: 1, epoch: TIMES_MS[i] };
    return pinned;
  };
  await checkTotpVerify(label, (code, i) => at(i).check(code, SECRET_BASE32));
  const instance = authenticator.clone();
  instance.options = { window: 1 };
  let code = '';
  return {
    clockBound: true,
    prepare() {
      code = instance.generate(SECRET_BASE32);
      if (instance.check(code, SECRET_BASE32) !== true) throw new Error(`${label}: the current code was rejected`);
    },
    call: () => instance.check(code, SECRET_BASE32),
    expect: true,
  };
}

// otplib 13: verifySync / verify({ secret: base32, token, epoch: seconds, epochTolerance: 30 }).
async function otplib13Verify(load, label, sync) {
  const lib = await load();
  const { VALID } = totpCodes();
  const options = (token, i) => ({ secret: SECRET_BASE32, token, epoch: TIMES_S[i], epochTolerance: PERIOD_MS / 1000 });
  const opts = TIMES_S.map((_, i) => options(VALID[i], i));
  const accepted = (result) => result.valid === true;
  if (sync) {
    await checkTotpVerify(label, (token, i) => lib.verifySync(options(token, i)).valid);
    return { call: (i) => lib.verifySync(opts[i]), accepted, expect: true };
  }
  await checkTotpVerify(label, async (token, i) => (await lib.verify(options(token, i))).valid);
  return { call: (i) => lib.verify(opts[i]), accepted, expect: true, async: true };
}

// otpauth: new TOTP({ secret: Secret.fromBase32(...) }), then validate({ token, timestamp, window: 1 }).
async function otpauthValidate(load, label) {
  const { TOTP, Secret } = await load();
  const totp = new TOTP({ secret: Secret.fromBase32(SECRET_BASE32) });
  const { VALID } = totpCodes();
  await checkTotpVerify(label, (token, i) => totp.validate({ token, timestamp: TIMES_MS[i], window: 1 }) !== null);
  const opts = TIMES_MS.map((timestamp, i) => ({ token: VALID[i], timestamp, window: 1 }));
  return { call: (i) => totp.validate(opts[i]), accepted: (delta) => delta !== null, expect: true };
}

// speakeasy: totp.verify({ secret: base32, encoding: 'base32', token, time: seconds, window: 1 }).
async function speakeasyVerify(load, label) {
  const speakeasy = await load();
  const { VALID } = totpCodes();
  const options = (token, i) => ({ secret: SECRET_BASE32, encoding: 'base32', token, time: TIMES_S[i], window: 1 });
  await checkTotpVerify(label, (token, i) => speakeasy.totp.verify(options(token, i)));
  const opts = TIMES_S.map((_, i) => options(VALID[i], i));
  return { call: (i) => speakeasy.totp.verify(opts[i]), expect: true };
}

/** One pair of cases: `compat.<name>.original` and `compat.<name>.adapter`. */
const pair = (name, call, k, quick, setup) =>
  [
    { id: `compat.${name}.original`, impl: call, k, quick, setup: () => setup(original[name.split('.')[0]], `${call} (original)`) },
    { id: `compat.${name}.adapter`, impl: `${call} via totp-handshake/compat`, k, quick, setup: () => setup(adapter[name.split('.')[0]], `${call} (adapter)`) },
  ].map((c) => ({ suite: 'compat', op: 'verify, valid (window 1)', ...c }));

export const cases = [
  // In the quick set (the CI gate) except the async twin of verifySync.
  ...pair('otplib12.check', 'otplib 12 authenticator.check', 16, true, otplib12Check),
  ...pair('otplib.verifySync', 'otplib 13 verifySync', 8, true, (load, label) => otplib13Verify(load, label, true)),
  ...pair('otplib.verify', 'otplib 13 verify (async)', 8, false, (load, label) => otplib13Verify(load, label, false)),
  ...pair('otpauth.validate', 'otpauth 9 TOTP#validate', 32, true, otpauthValidate),
  ...pair('speakeasy.verify', 'speakeasy 2 totp.verify', 16, true, speakeasyVerify),
];
