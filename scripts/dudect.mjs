// Does verify() take longer when more leading digits of a wrong code are right? A dudect-style
// test (Reparaz, Balasch, Verbauwhede: "Dude, is my code constant time?", DATE 2017):
//
//   - two classes of wrong codes for the same expected code: class A gets the first digit wrong
//     (0 leading digits right), class B the last (5 leading digits right); each is one digit off
//     and matches no step of the window;
//   - the class of each measurement is drawn at random (crypto.randomBytes), so drift in the
//     machine's state (frequency, caches, GC) falls on both classes alike; inputs are prepared
//     before timing, the timer reads performance.now() around a single call (cold modes) or a
//     batch of --batch calls with the same input (warm modes, where one call is near the timer's
//     resolution);
//   - outliers are cropped at several percentiles of the pooled distribution (interrupts, GC
//     pauses), and Welch's t statistic compares the class means for each crop;
//   - |t| < 4.5 (the dudect threshold; p < 1e-5 for a two-sided test at these sample sizes) means
//     no leak was detected at this sample size; |t| > 10 would be a clear leak. t grows with the
//     square root of the sample count when a real difference exists, so a leak does not hide
//     behind a large run. The "detectable" column says how small a difference of means (in ns
//     per call) the run would have flagged: 4.5 standard errors at the <p90 crop.
//
// Modes: native cold (each call in a new time step: the addon computes the window's codes and
// compares them in C++), native warm (same step: the TypeScript step cache compares integers),
// js cold (node:crypto engine) and js warm, and the one-shot verifyTotp on each engine (no key:
// the secret as base32 text on every call, compared in C++ or in the js engine). A control runs a deliberately leaky compare (a
// character loop that exits at the first wrong digit) through the same harness: it must show a
// large |t|, which shows the harness can see a difference of a few nanoseconds.
//
//   node --expose-gc scripts/dudect.mjs [--samples N] [--batch N] [--modes native-cold,native-warm,native-once,js-cold,js-warm,js-once,control]
//
// A bench script, not a CI test: timing on shared machines is noisy, the figures are for a person.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import { jsEngine, nativeEngine } from '../dist/engine/index.js';
import { encodeBase32 } from '../dist/base32.js';
import { createKeyOnEngine } from '../dist/key.js';
import { checkTotpOn } from '../dist/once.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '2000000' },
    modes: { type: 'string', default: 'native-cold,native-warm,native-once,js-cold,js-warm,js-once,control' },
    batch: { type: 'string', default: '16' },
  },
});
const SAMPLES = Number(values.samples);
const MODES = values.modes.split(',');
const WARM_BATCH = Number(values.batch);
const PERIOD_MS = 30_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % PERIOD_MS) + 12_345;
const secret = randomBytes(20);
const model = createKeyOnEngine(nativeEngine ?? jsEngine, secret);

/** One digit changed at `position`: a code off by one digit, with `position` leading digits right. */
function offByOne(code, position, r) {
  const digit = Number(code[position]);
  const other = (digit + 1 + (r % 9)) % 10;
  return code.slice(0, position) + String(other) + code.slice(position + 1);
}

/**
 * Inputs for `n` measurements: the class of each (0 = A, 1 = B), its code and its time. Cold
 * modes put every measurement in its own step; warm modes keep all of them in one step.
 */
function prepare(n, cold) {
  const classes = randomBytes(n).map((b) => b & 1);
  const noise = randomBytes(n);
  const times = new Float64Array(n);
  const codes = new Array(n);
  for (let i = 0; i < n; i++) {
    const timeMs = cold ? T0 + i * PERIOD_MS : T0;
    const window = [model.generate(timeMs - PERIOD_MS), model.generate(timeMs), model.generate(timeMs + PERIOD_MS)];
    let code;
    let tries = 0;
    do code = offByOne(window[1], classes[i] ? 5 : 0, noise[i] + tries++);
    while (window.includes(code));
    times[i] = timeMs;
    codes[i] = code;
  }
  return { classes, times, codes };
}

/**
 * Nanoseconds per call, in the prepared order. performance.now() ticks in steps of about 10 ns
 * and costs about 50 ns here, as much as a warm verify; so warm modes time a batch of calls with
 * the same input per measurement and divide. Cold modes time single calls (each needs its own step).
 */
function measure(verify, { times, codes }, batch) {
  const n = codes.length;
  const out = new Float64Array(n);
  const options = { timeMs: 0 };
  for (let i = 0; i < n; i++) {
    const code = codes[i];
    options.timeMs = times[i];
    const start = performance.now();
    for (let j = 0; j < batch; j++) verify(code, options);
    out[i] = ((performance.now() - start) * 1e6) / batch;
  }
  return out;
}

/** Welch's t over the measurements below `limit`. */
function welch(ns, classes, limit) {
  const n = [0, 0];
  const mean = [0, 0];
  const m2 = [0, 0];
  for (let i = 0; i < ns.length; i++) {
    const x = ns[i];
    if (x > limit) continue;
    const c = classes[i];
    const k = ++n[c];
    const d = x - mean[c];
    mean[c] += d / k;
    m2[c] += d * (x - mean[c]);
  }
  const va = m2[0] / (n[0] - 1);
  const vb = m2[1] / (n[1] - 1);
  // Both classes constant at a crop (the timer ticks in steps): equal means are no difference.
  const se = Math.sqrt(va / n[0] + vb / n[1]);
  const t = se > 0 ? (mean[0] - mean[1]) / se : mean[0] === mean[1] ? 0 : Infinity;
  // The smallest difference of means this crop would have flagged at |t| = 4.5.
  return { t, meanA: mean[0], meanB: mean[1], nA: n[0], nB: n[1], detectable: 4.5 * se };
}

function analyse(ns, classes) {
  const sorted = Float64Array.from(ns).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const crops = [
    ['all', Infinity],
    ['<p99', at(0.99)],
    ['<p90', at(0.9)],
    ['<p50', at(0.5)],
  ];
  // dudect's own crop series, 1 - 0.5^(10(k+1)/100), for the maximum |t|.
  const series = Array.from({ length: 100 }, (_, k) => at(1 - 0.5 ** ((10 * (k + 1)) / 100)));
  const tests = crops.map(([name, limit]) => ({ name, ...welch(ns, classes, limit) }));
  // Crops that leave fewer than 1000 measurements in a class say nothing: left out of the maximum.
  const maxT = Math.max(
    ...[...crops.map(([, l]) => l), ...series]
      .map((l) => welch(ns, classes, l))
      .filter((w) => w.nA >= 1000 && w.nB >= 1000)
      .map((w) => Math.abs(w.t)),
  );
  return { tests, maxT, median: at(0.5) };
}

function leakyVerify(expectedFor) {
  // The control: what not to do. A string compare that stops at the first wrong character.
  return (code, options) => {
    const expected = expectedFor(options.timeMs);
    for (let i = 0; i < expected.length; i++) if (code.charCodeAt(i) !== expected.charCodeAt(i)) return false;
    return true;
  };
}

const secretText = encodeBase32(secret);
const oneShot = (engine) => engine && { cold: true, verify: (code, options) => checkTotpOn(engine, secretText, code, options) !== null };

const modes = {
  'native-cold': () => nativeEngine && { cold: true, key: createKeyOnEngine(nativeEngine, secret) },
  'native-once': () => oneShot(nativeEngine),
  'js-once': () => oneShot(jsEngine),
  'native-warm': () => nativeEngine && { cold: false, key: createKeyOnEngine(nativeEngine, secret) },
  'js-cold': () => ({ cold: true, key: createKeyOnEngine(jsEngine, secret) }),
  'js-warm': () => ({ cold: false, key: createKeyOnEngine(jsEngine, secret) }),
  control: () => {
    const expected = model.generate(T0);
    return { cold: false, verify: leakyVerify(() => expected) };
  },
};

console.log(
  `dudect: ${SAMPLES} measurements per mode (warm modes: ${WARM_BATCH} calls each), classes A (0 leading digits right) vs B (5 right), Node ${process.version}`,
);
console.log(
  'mode         | median ns | mean A ns | mean B ns |  t (all) |  t (<p99) |  t (<p90) |  t (<p50) | max |t| | detectable ns (<p90) | verdict',
);
const summary = [];
for (const name of MODES) {
  const setup = modes[name]?.();
  if (setup === undefined) throw new Error(`unknown mode ${name}`);
  if (setup === null || setup === false) {
    console.log(`${name.padEnd(12)} | skipped: the native addon is not loaded`);
    continue;
  }
  const verify = setup.verify ?? ((code, options) => setup.key.verify(code, options));
  // Warm-up on a separate input set (JIT tiers, caches), then the measured run.
  const warm = prepare(Math.min(200_000, SAMPLES), setup.cold);
  if (!setup.cold) setup.key?.verify('000000', { timeMs: T0 });
  const batch = setup.cold ? 1 : WARM_BATCH;
  measure(verify, warm, batch);
  const input = prepare(SAMPLES, setup.cold);
  if (!setup.cold) setup.key?.verify('000000', { timeMs: T0 });
  globalThis.gc?.();
  const ns = measure(verify, input, batch);
  const { tests, maxT, median } = analyse(ns, input.classes);
  const verdict = (maxT < 4.5 ? 'no leak detected' : maxT < 10 ? 'possible leak' : 'LEAK') + (name === 'control' ? ' (as it must)' : '');
  const all = tests[0];
  const cells = tests.map((t) => t.t.toFixed(2).padStart(8));
  console.log(
    `${name.padEnd(12)} | ${median.toFixed(0).padStart(9)} | ${all.meanA.toFixed(1).padStart(9)} | ${all.meanB.toFixed(1).padStart(9)} | ${cells[0]} | ${cells[1].padStart(9)} | ${cells[2].padStart(9)} | ${cells[3].padStart(9)} | ${maxT.toFixed(2).padStart(7)} | ${tests[2].detectable.toPrecision(2).padStart(20)} | ${verdict}`,
  );
  summary.push({ name, maxT, verdict });
  setup.key?.destroy();
}
const verifyModes = summary.filter((s) => s.name !== 'control');
const control = summary.find((s) => s.name === 'control');
console.log(
  `\ndudect: verify ${verifyModes.every((s) => s.maxT < 4.5) ? 'shows no dependence' : 'MAY DEPEND'} on the number of right leading digits` +
    ` (max |t| ${Math.max(...verifyModes.map((s) => s.maxT)).toFixed(2)} over ${verifyModes.map((s) => s.name).join(', ')})` +
    (control ? `; the leaky control reaches |t| = ${control.maxT.toFixed(1)}` : ''),
);
