// The native addon's whole surface in one process, for valgrind memcheck (scripts/sanitize.sh runs
// it under valgrind; on its own: node --expose-gc scripts/valgrind/native-heavy.mjs [scale]).
// Every answer is checked against node:crypto, so a clean memcheck run also computed right codes:
//   1. createKey for every algorithm and digit count, secrets of 0..4096 bytes (either side of
//      the 64- and 128-byte blocks), codeAt over 64-bit counters, findCode over every window with
//      the code of each slot and a wrong code;
//   2. TotpKey.verify/check across steps, cold (a new step: the addon) and warm (the step cache);
//   3. key lifetimes: keys destroyed, keys dropped for the GC finalizers, and keys left for the
//      environment's teardown at exit;
//   4. misuse the addon must refuse or survive: calls after destroy, a transferred candidates buffer.
// Prints one summary line; exits non-zero on any wrong answer.
import { createHmac } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';

import { jsEngine, nativeEngine } from '../../dist/engine/index.js';
import { engineInfo } from '../../dist/index.js';
import { createKeyOnEngine } from '../../dist/key.js';

const scale = Number(process.argv[2] ?? 1);
if (nativeEngine === undefined) {
  console.error(`native-heavy: the native addon did not load (${engineInfo.reason})`);
  process.exit(2);
}
if (typeof globalThis.gc !== 'function') {
  console.error('native-heavy: run with node --expose-gc');
  process.exit(2);
}
const addon = nativeEngine;
const HASHES = ['sha1', 'sha256', 'sha512'];
const SLOTS = 21;
let nativeCalls = 0;
let mismatches = 0;

function same(got, want, what) {
  if (got === want) return;
  if (++mismatches <= 10) console.error(`native-heavy: ${what}: got ${got}, want ${want}`);
}

function reference(algorithm, secret, digits, counter) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = createHmac(HASHES[algorithm], secret).update(message).digest();
  return (digest.readUInt32BE(digest[digest.length - 1] & 0x0f) & 0x7fffffff) % 10 ** digits;
}

const deltaOf = (slot) => (slot === 0 ? 0 : slot % 2 === 1 ? -(slot + 1) / 2 : slot / 2);

// 1. The addon called directly.
function directCalls() {
  for (const length of [0, 1, 16, 20, 63, 64, 65, 127, 128, 129, 1024, 4096]) {
    const secret = new Uint8Array(length).map((_, i) => (i * 29 + length) & 0xff);
    for (const algorithm of [0, 1, 2]) {
      for (const digits of [6, 7, 8]) {
        const key = addon.createKey(algorithm, secret, digits);
        const candidates = key.candidates;
        nativeCalls++;
        for (const counter of [0, 1, 5, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER - 20]) {
          same(key.codeAt(counter), reference(algorithm, secret, digits, counter), `codeAt(${counter})`);
          nativeCalls++;
          for (let window = 0; window <= 10; window += 1 + (scale < 1 ? 4 : 0)) {
            const codes = Array.from({ length: 2 * window + 1 }, (_, slot) =>
              counter + deltaOf(slot) < 0 ? -1 : reference(algorithm, secret, digits, counter + deltaOf(slot)),
            );
            for (const target of [...new Set(codes.filter((c) => c >= 0)), 10 ** digits]) {
              const found = key.findCode(counter, target, window);
              nativeCalls++;
              same(found, codes.indexOf(target), `findCode(${counter}, window ${window})`);
              const written = found < 0 ? codes.length : found + 1;
              for (let slot = 0; slot < written; slot++) same(candidates[slot], codes[slot], `slot ${slot}`);
            }
          }
        }
        key.destroy();
        nativeCalls++;
      }
    }
  }
}

// 2. The public API, against the node:crypto engine.
function verifyCalls() {
  const keys = Math.max(1, Math.round(40 * scale));
  for (let k = 0; k < keys; k++) {
    const secret = new Uint8Array(16 + (k % 48)).map((_, i) => (i * 7 + k) & 0xff);
    const options = { algorithm: ['SHA1', 'SHA256', 'SHA512'][k % 3], digits: 6 + (k % 3), period: 1 + (k % 60) };
    const key = createKeyOnEngine(addon, secret, options);
    const model = createKeyOnEngine(jsEngine, secret, options);
    for (let step = 0; step < 40; step++) {
      const timeMs = 1_700_000_000_000 + step * options.period * 1000 + (k * 37) % 1000;
      const valid = model.generate(timeMs + ((step % 3) - 1) * options.period * 1000);
      for (const code of [valid, '0'.repeat(options.digits), valid, `${valid} `]) {
        for (const window of [0, 1, 3]) {
          same(key.check(code, { timeMs, window }), model.check(code, { timeMs, window }), `check step ${step}`);
          nativeCalls++;
        }
      }
    }
    key.destroy();
    model.destroy();
  }
}

// 3. Lifetimes: destroyed, collected (finalizers), and left alive for teardown at exit.
const survivors = [];
async function lifetimes() {
  const n = Math.max(10, Math.round(3000 * scale));
  let finalized = 0;
  const registry = new FinalizationRegistry(() => finalized++);
  for (let i = 0; i < n; i++) {
    const secret = new Uint8Array(20).fill(i & 0xff);
    const destroyed = addon.createKey(i % 3, secret, 6);
    destroyed.codeAt(i);
    destroyed.destroy();
    const dropped = addon.createKey(i % 3, secret, 6);
    dropped.findCode(i, 0, 1);
    registry.register(dropped, i);
    nativeCalls += 5;
  }
  for (let i = 0; i < 50; i++) survivors.push(addon.createKey(0, new Uint8Array(32).fill(i), 8));
  for (let round = 0; round < 10 && finalized < n; round++) {
    globalThis.gc();
    await tick();
  }
  return { n, finalized };
}

// 4. Misuse: refused, not undefined behaviour.
function misuse() {
  const key = addon.createKey(1, new Uint8Array(32), 6);
  // The candidate memory is the addon's: a transfer copies it rather than detaching it, and
  // findCode keeps writing to memory the addon owns.
  const copy = structuredClone(key.candidates.buffer, { transfer: [key.candidates.buffer] });
  globalThis.gc();
  same(key.findCode(1, 1, 1) >= -1 && key.candidates.length === SLOTS && copy.byteLength === SLOTS * 4, true, 'transfer copies');
  let refused = 0;
  key.destroy();
  key.destroy();
  for (const call of [() => key.codeAt(1), () => key.findCode(1, 1, 1)]) {
    try {
      call();
    } catch {
      refused++;
    }
  }
  same(refused, 2, 'misuse refused');
}

const started = performance.now();
for (const accelerated of addon.cpu().extensionsAvailable ? [true, false] : [true]) {
  addon.useCpuExtensions(accelerated);
  directCalls();
}
addon.useCpuExtensions(true);
verifyCalls();
const { n, finalized } = await lifetimes();
misuse();
same(finalized >= n * 0.9, true, `finalizers ran for ${finalized} of ${n} dropped keys`);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `native-heavy: ${nativeCalls} native calls on ${addon.cpu().sha1} cores, ${n} keys destroyed, ${finalized}/${n} dropped keys finalized, ` +
    `${survivors.length} left for teardown, ${mismatches} mismatches, ${seconds} s`,
);
process.exitCode = mismatches === 0 ? 0 : 1;
