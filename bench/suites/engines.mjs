// Engines: the library on its native engine and on its node:crypto engine, beside the naive
// createHmac verify a developer would otherwise write.
//
//   cold     = the HMACs are recomputed on every call: each call verifies at a pinned time one
//              period after the previous call's, so the per-step code cache always misses.
//   warm     = the current step, one key: after the first call of a step, later calls in the same
//              step compare integers against the cached codes (the common case in a server).
//   one-shot = verifyTotp(base32 secret, code, options): no key object, nothing kept.
//   key      = TotpKey.fromBase32 (+ a verify of a wrong code) + destroy(): what a key costs to make.
import { checkTotpGenerate, checkTotpVerify, Skip } from '../lib/correctness.mjs';
import { naiveCode, naiveVerify, PERIOD_MS, SECRET, SECRET_BASE32, STEPS, TIMES_MS, totpCodes } from '../lib/fixtures.mjs';
import { loadInternals, loadLibrary } from '../lib/pkg.mjs';

const OPTS = TIMES_MS.map((timeMs) => Object.freeze({ window: 1, timeMs }));

/** The engine a case runs on, or Skip without the addon. */
function engineOf(engineName) {
  const { nativeEngine, jsEngine } = loadInternals();
  if (engineName !== 'native') return jsEngine;
  if (nativeEngine === undefined) throw new Skip(`the native addon is not loaded (${loadLibrary().engineInfo.reason})`);
  // run.mjs --portable: the portable C++ cores, as on a CPU without SHA instructions.
  if (process.env.TOTP_BENCH_PORTABLE === '1') nativeEngine.useCpuExtensions(false);
  return nativeEngine;
}

function engineKey(engineName) {
  return loadInternals().createKeyOnEngine(engineOf(engineName), SECRET);
}

// The check runs on the timed key itself: one key in the process, as in the warm cases.
async function coldVerify(engineName, codes, expect) {
  const key = engineKey(engineName);
  await checkTotpVerify(`${engineName} verify`, (code, i) => key.verify(code, OPTS[i]));
  return { call: (i) => key.verify(codes[i], OPTS[i]), expect };
}

// The same with a second key verifying first, as in a server whose KeyOwner still holds the
// previous key after a rotation. The addon gives each key its own findCode function, so the call
// in TotpKey#check then sees more than one target and V8 stops specialising it: this case shows
// what that costs.
async function coldVerifySecondKey(engineName) {
  const { VALID } = totpCodes();
  const key = engineKey(engineName);
  const previous = engineKey(engineName);
  await checkTotpVerify(`${engineName} verify`, (code, i) => key.verify(code, OPTS[i]));
  await checkTotpVerify(`${engineName} verify (second key)`, (code, i) => previous.verify(code, OPTS[i]));
  for (let i = 0; i < 20_000; i++) {
    const step = i & (STEPS - 1);
    if ((i % 2 === 0 ? key : previous).verify(VALID[step], OPTS[step]) !== true) throw new Error(`${engineName} verify: a valid code was rejected`);
  }
  return { call: (i) => key.verify(VALID[i], OPTS[i]), expect: true };
}

async function warmNow(engineName) {
  const key = engineKey(engineName);
  await checkTotpVerify(`${engineName} verify`, (code, i) => key.verify(code, OPTS[i]));
  let code = '';
  return {
    // Runs after the harness has made sure the timed phase ends inside the current step.
    prepare() {
      code = key.generate();
      if (key.verify(code) !== true) throw new Error(`${engineName} verify: the current code was rejected`);
    },
    call: () => key.verify(code),
    expect: true,
    clockBound: true,
  };
}

async function warmPinned(engineName) {
  const key = engineKey(engineName);
  await checkTotpVerify(`${engineName} verify`, (code, i) => key.verify(code, OPTS[i]));
  const code = totpCodes().VALID[0];
  const opts = OPTS[0];
  return { call: () => key.verify(code, opts), expect: true };
}

function generate(engineName) {
  const { VALID } = totpCodes();
  const key = engineKey(engineName);
  checkTotpGenerate(`${engineName} generate`, (i) => key.generate(TIMES_MS[i]));
  return { call: (i) => key.generate(TIMES_MS[i]) === VALID[i], expect: true };
}

// One-shot: the secret as base32 text on every call, as a service reading it from its environment would.
async function oneShotVerify(engineName, codes, expect) {
  const internals = loadInternals();
  const engine = engineOf(engineName);
  // verifyTotp is checkTotpOn(the process's engine, ...) !== null; here the engine is chosen.
  const verify = (secret, code, options) => internals.checkTotpOn(engine, secret, code, options) !== null;
  await checkTotpVerify(`${engineName} verifyTotp`, (code, i) => verify(SECRET_BASE32, code, OPTS[i]));
  return { call: (i) => verify(SECRET_BASE32, codes[i], OPTS[i]), expect };
}

// A key from base32 text, used for one wrong code (or not at all), then destroyed.
async function keyLifecycle(engineName, withVerify) {
  const internals = loadInternals();
  const engine = engineOf(engineName);
  const make = () => internals.createKeyFromBase32OnEngine(engine, SECRET_BASE32);
  await checkTotpVerify(`${engineName} TotpKey.fromBase32`, (code, i) => {
    const key = make();
    try {
      return key.verify(code, OPTS[i]);
    } finally {
      key.destroy();
    }
  });
  const { INVALID } = totpCodes();
  if (!withVerify) {
    return {
      call: () => {
        make().destroy();
        return true;
      },
      expect: true,
    };
  }
  return {
    call: (i) => {
      const key = make();
      const ok = key.verify(INVALID[i], OPTS[i]);
      key.destroy();
      return ok;
    },
    expect: false,
  };
}

const counterAt = (timeMs) => Math.floor(timeMs / PERIOD_MS);

async function naiveColdVerify(codes, expect) {
  await checkTotpVerify('naive verify', (code, i) => naiveVerify(SECRET, code, TIMES_MS[i], 1));
  return { call: (i) => naiveVerify(SECRET, codes[i], TIMES_MS[i], 1), expect };
}

function naiveGenerate() {
  const { VALID } = totpCodes();
  checkTotpGenerate('naive generate', (i) => naiveCode(SECRET, counterAt(TIMES_MS[i])));
  return { call: (i) => naiveCode(SECRET, counterAt(TIMES_MS[i])) === VALID[i], expect: true };
}

const IMPL = {
  native: 'totp-handshake (native)',
  js: 'totp-handshake (js engine)',
  naive: 'naive createHmac',
};

function engineCases(engineName, k) {
  const row = (suffix, op, calls, setup) => ({ id: `${engineName}.${suffix}`, impl: IMPL[engineName], op, k: calls, setup });
  return [
    row('verify.cold.valid', 'verify, cold, valid (window 1)', k.coldValid, () => coldVerify(engineName, totpCodes().VALID, true)),
    row('verify.cold.invalid', 'verify, cold, invalid (window 1)', k.coldInvalid, () => coldVerify(engineName, totpCodes().INVALID, false)),
    ...(engineName === 'native'
      ? [row('verify.cold.valid.twokeys', 'verify, cold, valid, a second key in use', k.coldValid, () => coldVerifySecondKey('native'))]
      : []),
    row('verify.warm.now', 'verify, warm (current step, Date.now)', 4000, () => warmNow(engineName)),
    row('verify.warm.pinned', 'verify, warm (timeMs given)', 4000, () => warmPinned(engineName)),
    row('generate', 'generate (timeMs given)', k.generate, () => generate(engineName)),
    row('once.verify.invalid', 'one-shot verifyTotp, base32 secret, invalid (window 1)', k.once, () => oneShotVerify(engineName, totpCodes().INVALID, false)),
    row('once.verify.valid', 'one-shot verifyTotp, base32 secret, valid (window 1)', k.once, () => oneShotVerify(engineName, totpCodes().VALID, true)),
    row('key.create', 'key creation: TotpKey.fromBase32 + destroy', k.create, () => keyLifecycle(engineName, false)),
    row('key.create.verify', 'key creation + verify (invalid) + destroy', k.createVerify, () => keyLifecycle(engineName, true)),
  ];
}

/** K = calls per tinybench sample: a sample of ~100-400 µs, so the ~40 ns timer read is noise. */
export const cases = [
  ...engineCases('native', { coldValid: 1000, coldInvalid: 500, generate: 1000, once: 400, create: 400, createVerify: 200 }).map((c) => ({
    ...c,
    quick: !['native.verify.warm.pinned', 'native.verify.cold.valid.twokeys', 'native.once.verify.valid', 'native.key.create'].includes(c.id),
  })),
  ...engineCases('js', { coldValid: 64, coldInvalid: 32, generate: 64, once: 32, create: 64, createVerify: 24 }).map((c) => ({
    ...c,
    quick: c.id === 'js.verify.cold.valid',
  })),
  {
    id: 'naive.verify.cold.valid',
    impl: IMPL.naive,
    op: 'verify, cold, valid (window 1)',
    k: 64,
    quick: true,
    setup: () => naiveColdVerify(totpCodes().VALID, true),
  },
  {
    id: 'naive.verify.cold.invalid',
    impl: IMPL.naive,
    op: 'verify, cold, invalid (window 1)',
    k: 32,
    quick: false,
    setup: () => naiveColdVerify(totpCodes().INVALID, false),
  },
  { id: 'naive.generate', impl: IMPL.naive, op: 'generate (timeMs given)', k: 64, quick: false, setup: naiveGenerate },
].map((c) => ({ suite: 'engines', ...c }));

if (STEPS & (STEPS - 1)) throw new Error('STEPS must be a power of two');
