// Engines: the library on its native engine and on its node:crypto engine, beside the naive
// createHmac verify a developer would otherwise write.
//
//   cold  = the HMACs are recomputed on every call: each call verifies at a pinned time one
//           period after the previous call's, so the per-step code cache always misses.
//   warm  = the current step, one key: after the first call of a step, later calls in the same
//           step compare integers against the cached codes (the common case in a server).
import { checkTotpGenerate, checkTotpVerify, Skip } from '../lib/correctness.mjs';
import { naiveCode, naiveVerify, PERIOD_MS, SECRET, STEPS, TIMES_MS, totpCodes } from '../lib/fixtures.mjs';
import { loadInternals, loadLibrary } from '../lib/pkg.mjs';

const OPTS = TIMES_MS.map((timeMs) => Object.freeze({ window: 1, timeMs }));

function engineKey(engineName) {
  const { createKeyOnEngine, nativeEngine, jsEngine } = loadInternals();
  if (engineName === 'native') {
    if (nativeEngine === undefined) throw new Skip(`the native addon is not loaded (${loadLibrary().engineInfo.reason})`);
    // run.mjs --portable: the portable C++ cores, as on a CPU without SHA instructions.
    if (process.env.TOTP_BENCH_PORTABLE === '1') nativeEngine.useCpuExtensions(false);
    return createKeyOnEngine(nativeEngine, SECRET);
  }
  return createKeyOnEngine(jsEngine, SECRET);
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
  return [
    {
      id: `${engineName}.verify.cold.valid`,
      impl: IMPL[engineName],
      op: 'verify, cold, valid (window 1)',
      k: k.coldValid,
      setup: () => coldVerify(engineName, totpCodes().VALID, true),
    },
    {
      id: `${engineName}.verify.cold.invalid`,
      impl: IMPL[engineName],
      op: 'verify, cold, invalid (window 1)',
      k: k.coldInvalid,
      setup: () => coldVerify(engineName, totpCodes().INVALID, false),
    },
    ...(engineName === 'native'
      ? [
          {
            id: 'native.verify.cold.valid.twokeys',
            impl: IMPL.native,
            op: 'verify, cold, valid, a second key in use',
            k: k.coldValid,
            setup: () => coldVerifySecondKey('native'),
          },
        ]
      : []),
    {
      id: `${engineName}.verify.warm.now`,
      impl: IMPL[engineName],
      op: 'verify, warm (current step, Date.now)',
      k: 4000,
      setup: () => warmNow(engineName),
    },
    {
      id: `${engineName}.verify.warm.pinned`,
      impl: IMPL[engineName],
      op: 'verify, warm (timeMs given)',
      k: 4000,
      setup: () => warmPinned(engineName),
    },
    {
      id: `${engineName}.generate`,
      impl: IMPL[engineName],
      op: 'generate (timeMs given)',
      k: k.generate,
      setup: () => generate(engineName),
    },
  ];
}

/** K = calls per tinybench sample: a sample of ~100-400 µs, so the ~40 ns timer read is noise. */
export const cases = [
  ...engineCases('native', { coldValid: 1000, coldInvalid: 500, generate: 1000 }).map((c) => ({
    ...c,
    quick: c.id !== 'native.verify.warm.pinned' && c.id !== 'native.verify.cold.valid.twokeys',
  })),
  ...engineCases('js', { coldValid: 64, coldInvalid: 32, generate: 64 }).map((c) => ({
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
