// The native addon's whole surface in one process, for valgrind memcheck (scripts/sanitize.sh runs
// it under valgrind; on its own: node --expose-gc scripts/valgrind/native-heavy.mjs [scale]).
// Every answer is checked against node:crypto, so a clean memcheck run also computed right codes:
//   1. createKey for every algorithm and digit count, secrets of 16..1024 bytes (either side of
//      the 32-byte slot, the 64- and 128-byte blocks) as bytes and base32 text, codeAt over 64-bit
//      counters, findCode over every window and findCounter over look-aheads with the code of each
//      slot and a wrong code, secretOf, and the one-shot calls beside them;
//   2. TotpKey and HotpKey verify/check across steps, cold (a new step: the addon) and warm (the
//      step cache);
//   3. key lifetimes: keys destroyed, keys dropped for the FinalizationRegistry, enough to map and
//      give back arena chunks, and keys left for the environment's teardown at exit;
//   4. misuse the addon must refuse or survive: stale and made-up handles, a transferred scratch
//      buffer, arguments out of range.
// Prints one summary line; exits non-zero on any wrong answer.
import { createHmac } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';

import { encodeBase32 } from '../../dist/base32.js';
import { jsEngine, nativeEngine } from '../../dist/engine/index.js';
import { createHotpKeyOnEngine } from '../../dist/hotp.js';
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
  for (const length of [16, 20, 32, 33, 63, 64, 65, 127, 128, 129, 1024]) {
    const secret = new Uint8Array(length).map((_, i) => (i * 29 + length) & 0xff);
    const text = encodeBase32(secret);
    for (const algorithm of [0, 1, 2]) {
      for (const digits of [6, 7, 8]) {
        const key = addon.createKey(algorithm, length % 2 ? text : secret, digits);
        const { scratch } = addon;
        nativeCalls++;
        same(Buffer.from(addon.secretOf(key)).equals(Buffer.from(secret)), true, 'secretOf');
        for (const counter of [0, 1, 5, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER - 20]) {
          same(addon.codeAt(key, counter), reference(algorithm, secret, digits, counter), `codeAt(${counter})`);
          same(addon.codeOnce(algorithm, text, digits, counter), reference(algorithm, secret, digits, counter), `codeOnce(${counter})`);
          nativeCalls += 3;
          for (let window = 0; window <= 10; window += 1 + (scale < 1 ? 4 : 0)) {
            const codes = Array.from({ length: 2 * window + 1 }, (_, slot) =>
              counter + deltaOf(slot) < 0 ? -1 : reference(algorithm, secret, digits, counter + deltaOf(slot)),
            );
            const ahead = Array.from({ length: 2 * window + 1 }, (_, i) => reference(algorithm, secret, digits, counter + i));
            for (const target of [...new Set(codes.filter((c) => c >= 0)), 10 ** digits]) {
              const found = addon.findCode(key, counter, target, window);
              same(found, codes.indexOf(target), `findCode(${counter}, window ${window})`);
              const written = found < 0 ? codes.length : found + 1;
              for (let slot = 0; slot < written; slot++) same(scratch[slot], codes[slot], `slot ${slot}`);
              same(addon.findCodeOnce(algorithm, secret, digits, counter, target, window), found, 'findCodeOnce');
              same(addon.findCounter(key, counter, target, 2 * window), ahead.indexOf(target), `findCounter(${counter}, ${2 * window})`);
              same(addon.findCounterOnce(algorithm, text, digits, counter, target, 2 * window), ahead.indexOf(target), 'findCounterOnce');
              nativeCalls += 4;
            }
          }
        }
        scratch.fill(0);
        addon.destroyKey(key);
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
    const hotp = createHotpKeyOnEngine(addon, secret, { algorithm: options.algorithm, digits: options.digits });
    for (let step = 0; step < 40; step++) {
      const timeMs = 1_700_000_000_000 + step * options.period * 1000 + (k * 37) % 1000;
      const valid = model.generate(timeMs + ((step % 3) - 1) * options.period * 1000);
      for (const code of [valid, '0'.repeat(options.digits), valid, `${valid} `]) {
        for (const window of [0, 1, 3]) {
          same(key.check(code, { timeMs, window }), model.check(code, { timeMs, window }), `check step ${step}`);
          nativeCalls++;
        }
      }
      same(hotp.check(hotp.generate(step + 3), step, { lookAhead: 5 }), step + 3, 'HotpKey check');
      nativeCalls += 2;
    }
    key.destroy();
    model.destroy();
    hotp.destroy();
  }
}

// 3. Lifetimes: destroyed, collected (the FinalizationRegistry), and left alive for teardown at exit.
const survivors = [];
async function lifetimes() {
  const n = Math.max(600, Math.round(3000 * scale)); // past two arena chunks of 256 keys
  const start = addon.arenaStats().liveKeys;
  for (let i = 0; i < n; i++) {
    const secret = new Uint8Array(20 + (i % 30)).fill(i & 0xff);
    const destroyed = createKeyOnEngine(addon, secret, { algorithm: ['SHA1', 'SHA256', 'SHA512'][i % 3] });
    destroyed.generate(i * 30_000);
    destroyed.destroy();
    const dropped = createKeyOnEngine(addon, secret, { algorithm: ['SHA1', 'SHA256', 'SHA512'][i % 3] });
    dropped.verify('000000', { timeMs: i * 30_000 });
    nativeCalls += 6;
    if (i % 100 === 99) await tick(); // batches end with a turn of the event loop, as in a server
  }
  for (let i = 0; i < 50; i++) survivors.push(createKeyOnEngine(addon, new Uint8Array(32).fill(i), { digits: 8 }));
  for (let round = 0; round < 10 && addon.arenaStats().liveKeys > start + survivors.length; round++) {
    globalThis.gc();
    await tick();
  }
  return { n, collected: n - (addon.arenaStats().liveKeys - start - survivors.length) };
}

// 4. Misuse: refused, not undefined behaviour.
function misuse() {
  const key = addon.createKey(1, new Uint8Array(32), 6);
  // The exchange memory is the addon's: a transfer copies it rather than detaching it, and
  // findCode keeps writing to memory the addon owns.
  const copy = structuredClone(addon.scratch.buffer, { transfer: [addon.scratch.buffer] });
  globalThis.gc();
  same(addon.findCode(key, 1, 1, 1) >= -1 && addon.scratch.length === 22 && copy.byteLength === addon.scratch.buffer.byteLength, true, 'transfer copies');
  let refused = 0;
  addon.destroyKey(key);
  same(addon.destroyKey(key), false, 'destroyed twice');
  const calls = [
    () => addon.codeAt(key, 1),
    () => addon.findCode(key, 1, 1, 1),
    () => addon.secretOf(key),
    () => addon.codeAt(12345, 1),
    () => addon.codeAt(Number.NaN, 1),
    () => addon.codeAt(2 ** 53, 1),
    () => addon.codeOnce(0, new Uint8Array(20), 6, -1),
    () => addon.findCodeOnce(0, new Uint8Array(20), 6, 1, 1, 11),
    () => addon.createKey(0, [1, 2, 3], 6),
  ];
  for (const call of calls) {
    try {
      call();
    } catch {
      refused++;
    }
  }
  same(refused, calls.length, 'misuse refused');
}

const started = performance.now();
for (const accelerated of addon.cpu().extensionsAvailable ? [true, false] : [true]) {
  addon.useCpuExtensions(accelerated);
  directCalls();
}
addon.useCpuExtensions(true);
verifyCalls();
const { n, collected } = await lifetimes();
misuse();
same(collected >= n * 0.9, true, `the registry freed ${collected} of ${n} dropped keys`);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `native-heavy: ${nativeCalls} native calls on ${addon.cpu().sha1} cores, ${n} keys destroyed, ${collected}/${n} dropped keys freed by the registry, ` +
    `${survivors.length} left for teardown, ${mismatches} mismatches, ${seconds} s`,
);
process.exitCode = mismatches === 0 ? 0 : 1;
