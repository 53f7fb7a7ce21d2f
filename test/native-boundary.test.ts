// The addon's own guards, called directly as the TypeScript layer never would: values at the edges
// of what it converts, secrets of every length, handles that name no key, and misuse that must
// throw rather than touch memory. `npm run test:sanitize` runs this file against the
// AddressSanitizer/UBSan build, where a stray access or an undefined operation (a signed
// overflow, memcpy from a null pointer) stops the process; here, on the Release build, the same
// calls must give the reference answers.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TotpKey } from 'totp-handshake';
import { decodeBase32, encodeBase32 } from '../dist/base32.js';
import { nativeEngine } from '../dist/engine/index.js';
import { type AlgorithmId, CANDIDATE_SLOTS, type KeyHandle, SECRET_REFUSED } from '../dist/engine/types.js';

const HASHES = ['sha1', 'sha256', 'sha512'] as const;
const INT64_MAX = 2n ** 63n - 1n;

/** RFC 4226 HOTP through node:crypto, with a 64-bit counter (BigInt: exact beyond 2^53). */
function reference(algorithm: AlgorithmId, secret: Uint8Array, digits: number, counter: bigint): number {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const digest = createHmac(HASHES[algorithm], secret).update(message).digest();
  const offset = (digest[digest.length - 1] as number) & 0x0f;
  return (digest.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
}

/** Slot i holds the step counter + delta(i): 0, -1, +1, -2, +2, ... */
const delta = (slot: number): bigint => BigInt(slot === 0 ? 0 : slot % 2 === 1 ? -(slot + 1) / 2 : slot / 2);

function errorOf(call: () => unknown): Error | undefined {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}

const bytesOf = (length: number) => new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);

describe.runIf(nativeEngine !== undefined)('the native addon at its boundary', () => {
  const engine = nativeEngine!;
  const secret = Buffer.from('12345678901234567890');
  const create = (algorithm: AlgorithmId = 0, bytes: Uint8Array | string = secret, digits = 6): KeyHandle => {
    const key = engine.createKey(algorithm, bytes, digits);
    if (key === SECRET_REFUSED) throw new Error('refused');
    return key;
  };

  it('computes the reference codes for secrets of every allowed length around the block sizes, as keys and one-shot, from bytes and base32', () => {
    // 64/128 are the SHA-1/SHA-256 and SHA-512 block sizes, past which the secret is hashed first
    // (RFC 2104 §2); 32 is the most the arena keeps inside a slot.
    for (const length of [16, 20, 32, 33, 63, 64, 65, 127, 128, 129, 1024]) {
      const bytes = bytesOf(length);
      const text = encodeBase32(bytes);
      for (const algorithm of [0, 1, 2] as const) {
        for (const digits of [6, 7, 8]) {
          const key = create(algorithm, bytes, digits);
          expect(Buffer.from(engine.secretOf(key)).equals(Buffer.from(bytes))).toBe(true);
          for (const counter of [0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
            const want = reference(algorithm, bytes, digits, BigInt(counter));
            const what = `${length} bytes, ${HASHES[algorithm]}, ${digits} digits, counter ${counter}`;
            expect(engine.codeAt(key, counter), what).toBe(want);
            expect(engine.codeOnce(algorithm, bytes, digits, counter), what).toBe(want);
            expect(engine.codeOnce(algorithm, text, digits, counter), what).toBe(want);
          }
          engine.destroyKey(key);
        }
      }
    }
  });

  it('refuses secrets outside 16..1024 bytes with SECRET_REFUSED, as bytes and as base32 text, for keys and one-shot calls', () => {
    for (const length of [0, 1, 15, 1025, 4096]) {
      for (const given of [bytesOf(length), encodeBase32(bytesOf(length))]) {
        expect(engine.createKey(0, given, 6)).toBe(SECRET_REFUSED);
        expect(engine.codeOnce(1, given, 6, 1)).toBe(SECRET_REFUSED);
        expect(engine.findCodeOnce(2, given, 6, 1, 0, 1)).toBe(SECRET_REFUSED);
        expect(engine.findCounterOnce(0, given, 6, 1, 0, 3)).toBe(SECRET_REFUSED);
      }
    }
    // Text past the addon's buffer is left to the TypeScript decoder, which reads it all.
    const spaced = encodeBase32(secret).split('').join(' '.repeat(80));
    expect(spaced.length).toBeGreaterThan(2048);
    expect(engine.createKey(0, spaced, 6)).toBe(SECRET_REFUSED);
    expect(TotpKey.fromBase32(spaced).generate(59_000)).toBe('287082');
  });

  it('decodes base32 text exactly as the TypeScript decoder does, or refuses it', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    // Near the alphabet, plus characters whose low byte is a base32 letter (U+0141 'Ł' is 0x41 'A'
    // in Latin-1 truncation) and other look-alikes.
    const unit = fc.constantFrom(...`${alphabet}${alphabet.toLowerCase()}  ==019\t\u0141\u0161\u0130\u017f\uff21\u00c1`);
    const text = fc.oneof(
      fc.string({ unit, minLength: 20, maxLength: 80 }),
      fc.uint8Array({ minLength: 10, maxLength: 40 }).map(encodeBase32),
      fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 40 }).map(encodeBase32), fc.nat(), unit).map(([t, at, c]) => {
        const i = at % (t.length + 1);
        return t.slice(0, i) + c + t.slice(i);
      }),
    );
    fc.assert(
      fc.property(text, (given) => {
        let decoded: Uint8Array | undefined;
        try {
          decoded = decodeBase32(given);
        } catch {
          decoded = undefined;
        }
        const key = engine.createKey(0, given, 6);
        if (decoded === undefined || decoded.length < 16 || decoded.length > 1024) {
          expect(key).toBe(SECRET_REFUSED);
          return;
        }
        expect(key).not.toBe(SECRET_REFUSED);
        const copy = engine.secretOf(key as KeyHandle);
        expect(Array.from(copy)).toEqual(Array.from(decoded));
        engine.destroyKey(key as KeyHandle);
      }),
      { numRuns: 3000 },
    );
  });

  it('takes counters from 2^63 up as 2^63-1 and computes the window past it without overflowing', () => {
    const key = create();
    const { scratch } = engine;
    const top = reference(0, secret, 6, INT64_MAX);
    for (const counter of [2 ** 63, 2 ** 64, 1e300]) expect(engine.codeAt(key, counter)).toBe(top);
    // The code of step 2^63 - 1 + 10 (slot 20) is found, and every slot before it holds its step's code.
    const last = reference(0, secret, 6, INT64_MAX + 10n);
    const found = engine.findCode(key, 2 ** 63, last, 10);
    const firstMatch = Array.from({ length: CANDIDATE_SLOTS }, (_, slot) => reference(0, secret, 6, INT64_MAX + delta(slot))).indexOf(last);
    expect(found).toBe(firstMatch);
    for (let slot = 0; slot <= found; slot++) expect(scratch[slot]).toBe(reference(0, secret, 6, INT64_MAX + delta(slot)));
    // HOTP look-ahead past 2^63 - 1 wraps nothing either.
    expect(engine.findCounter(key, 2 ** 63, reference(0, secret, 6, INT64_MAX + 20n), 20)).toBe(20);
    engine.destroyKey(key);
  });

  it('refuses counters, codes, windows and look-aheads out of range (negative, fractional, NaN, infinite) with a RangeError, before computing', () => {
    const key = create();
    const { scratch } = engine;
    engine.findCode(key, 5, 0, 1);
    const before = Array.from(scratch);
    const bad: [number, number, number][] = [
      [-1, 0, 1],
      [0.5, 0, 1],
      [Number.NaN, 0, 1],
      [Infinity, 0, 1],
      [-(2 ** 63), 0, 0],
      [0, -1, 1],
      [0, 2 ** 31, 1],
      [0, 2 ** 32 + (before[0] as number), 1], // would match if read modulo 2^32
      [0, 1.5, 1],
      [0, Number.NaN, 1],
      [0, 0, -1],
      [0, 0, 11],
      [0, 0, 0.5],
      [0, 0, Number.NaN],
    ];
    for (const [counter, code, window] of bad) {
      expect(errorOf(() => engine.findCode(key, counter, code, window)), `${counter}, ${code}, ${window}`).toBeInstanceOf(RangeError);
      expect(errorOf(() => engine.findCodeOnce(0, secret, 6, counter, code, window))).toBeInstanceOf(RangeError);
    }
    for (const lookAhead of [-1, 21, 0.5, Number.NaN]) {
      expect(errorOf(() => engine.findCounter(key, 0, 0, lookAhead))).toBeInstanceOf(RangeError);
      expect(errorOf(() => engine.findCounterOnce(0, secret, 6, 0, 0, lookAhead))).toBeInstanceOf(RangeError);
    }
    for (const counter of [-1, 0.5, Number.NaN, -Infinity, Infinity]) {
      expect(errorOf(() => engine.codeAt(key, counter))).toBeInstanceOf(RangeError);
      expect(errorOf(() => engine.codeOnce(0, secret, 6, counter))).toBeInstanceOf(RangeError);
    }
    expect(Array.from(scratch)).toEqual(before);
    expect(engine.findCode(key, 5, 1e6, 1)).toBe(-1); // a 6-digit key: past its codes, so no match
    engine.destroyKey(key);
  });

  it('refuses a secret of the wrong type with a TypeError, and an unknown algorithm or digit count with a RangeError', () => {
    for (const given of [123, null, undefined, [1, 2, 3], new Uint16Array(10), new Int8Array(20), new Uint8ClampedArray(20), new ArrayBuffer(20), {}]) {
      expect(errorOf(() => engine.createKey(0, given as never, 6))?.name).toBe('TypeError');
      expect(errorOf(() => engine.codeOnce(0, given as never, 6, 1))?.name).toBe('TypeError');
    }
    for (const [algorithm, digits] of [[3, 6], [-1, 6], [0.5, 6], [Number.NaN, 6], [0, 5], [0, 9], [0, 6.5]]) {
      expect(errorOf(() => engine.createKey(algorithm as AlgorithmId, secret, digits))?.name).toBe('RangeError');
      expect(errorOf(() => engine.findCodeOnce(algorithm as AlgorithmId, secret, digits, 1, 0, 1))?.name).toBe('RangeError');
    }
  });

  it('refuses a destroyed key, a key whose slot was reused, and made-up handles; destroying any of them returns false', () => {
    const first = create();
    expect(engine.destroyKey(first)).toBe(true);
    expect(engine.destroyKey(first)).toBe(false);
    // The freed slot is the next one used: the same index (the low 24 bits of the handles agree
    // once the mask cancels out), a later generation.
    const second = create();
    expect((BigInt(first as unknown as number) ^ BigInt(second as unknown as number)) & 0xffffffn).toBe(0n);
    expect(second).not.toBe(first);
    for (const call of [() => engine.codeAt(first, 1), () => engine.findCode(first, 1, 0, 1), () => engine.findCounter(first, 1, 0, 1), () => engine.secretOf(first)]) {
      expect(errorOf(call)?.message).toBe('not a live key (destroyed, or not made by this addon)');
    }
    expect(engine.destroyKey(first)).toBe(false);
    expect(engine.codeAt(second, 1)).toBe(reference(0, secret, 6, 1n));

    const live = second as unknown as number;
    const madeUp = [0, 1, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -1, -0.5, 0.5, Number.NaN, Infinity, live + 1, live - 1, live + 0.5, Number((BigInt(live) ^ (1n << 24n)))];
    for (let i = 0; i < 1000; i++) madeUp.push(Math.floor(Math.random() * 2 ** 53));
    for (const handle of madeUp) {
      if (handle === live) continue;
      expect(errorOf(() => engine.codeAt(handle as unknown as KeyHandle, 1))?.message).toMatch(/^not a live key/);
      expect(engine.destroyKey(handle as unknown as KeyHandle)).toBe(false);
    }
    expect(engine.codeAt(second, 1)).toBe(reference(0, secret, 6, 1n));
    engine.destroyKey(second);
  });

  it('gives each worker thread its own keys: a handle made in one names no key in another', async () => {
    const { Worker } = await import('node:worker_threads');
    const mine = create();
    const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { nativeEngine: e } = require(${JSON.stringify(require.resolve('../dist/engine/index.js'))});
      let refused = false;
      try { e.codeAt(workerData, 1); } catch (error) { refused = /not a live key/.test(error.message); }
      const theirs = e.createKey(0, Buffer.from('12345678901234567890'), 6);
      parentPort.postMessage({ refused, theirs, code: e.codeAt(theirs, 1) });`;
    const worker = new Worker(script, { eval: true, workerData: mine });
    const reply = await new Promise<{ refused: boolean; theirs: number; code: number }>((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await worker.terminate(); // the worker's arena goes with it, its key wiped
    expect(reply.refused).toBe(true);
    expect(reply.code).toBe(reference(0, secret, 6, 1n));
    if (reply.theirs !== (mine as unknown as number)) expect(errorOf(() => engine.codeAt(reply.theirs as unknown as KeyHandle, 1))?.message).toMatch(/^not a live key/);
    engine.destroyKey(mine);
  });

  it('gives chunks back to the OS when their keys are gone, keeping one spare, and packs live keys at the bottom', () => {
    const start = engine.arenaStats();
    const keys = Array.from({ length: 3000 }, (_, i) => create(0, bytesOf(16 + (i % 40))));
    const full = engine.arenaStats();
    expect(full.liveKeys).toBe(start.liveKeys + 3000);
    expect(full.chunks).toBeGreaterThanOrEqual(Math.ceil(3000 / 256));
    // Destroying the newest half empties the chunks above the oldest keys.
    for (const key of keys.splice(1500)) engine.destroyKey(key);
    const half = engine.arenaStats();
    expect(half.chunks).toBeLessThanOrEqual(Math.ceil((start.liveKeys + 1500) / 256) + 1);
    for (const key of keys) engine.destroyKey(key);
    const end = engine.arenaStats();
    expect(end.liveKeys).toBe(start.liveKeys);
    // The keys other tests left (none, unless one failed) plus the one empty chunk kept as a spare.
    expect(end.chunks).toBeLessThanOrEqual(Math.ceil(start.liveKeys / 256) + 1);
    expect(end.bytes).toBe(end.chunks * (full.bytes / full.chunks));
  });

  it('owns the exchange memory: a transfer cannot detach it, and findCode keeps writing where JavaScript reads', () => {
    const key = create();
    const { scratch } = engine;
    // Node 20 answers a transfer of the addon's external buffer with a copy; Node 22 and later
    // refuse it (DataCloneError). Either way the buffer the addon writes into stays attached.
    let copy: ArrayBuffer | undefined;
    try {
      copy = structuredClone(scratch.buffer, { transfer: [scratch.buffer] });
    } catch (error) {
      expect((error as Error).name).toBe('DataCloneError');
    }
    expect(scratch.length).toBe(CANDIDATE_SLOTS + 1);
    expect(scratch.buffer.resizable).toBe(false);
    expect(engine.findCode(key, 5, reference(0, secret, 6, 6n), 3)).toBe(2);
    expect(scratch[2]).toBe(reference(0, secret, 6, 6n));
    if (copy) expect(copy.byteLength).toBe(scratch.buffer.byteLength);
    engine.destroyKey(key);
    scratch.fill(0);
  });

  it('leaves nothing behind from a one-shot call: no key in the arena, no code in the scratch array', () => {
    const { scratch } = engine;
    scratch.fill(0);
    const before = engine.arenaStats().liveKeys;
    expect(engine.findCodeOnce(0, secret, 6, 1, 999_999, 10)).toBe(-1);
    expect(engine.findCounterOnce(0, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 6, 1, 999_999, 20)).toBe(-1);
    expect(Array.from(scratch).every((v) => v === 0)).toBe(true);
    expect(engine.arenaStats().liveKeys).toBe(before);
  });

  it('keeps the process-wide choice of hash cores when a worker thread loads the addon', async () => {
    const { Worker } = await import('node:worker_threads');
    engine.useCpuExtensions(false);
    try {
      const worker = new Worker(`require(${JSON.stringify(require.resolve('../dist/engine/index.js'))}); require('node:worker_threads').parentPort.postMessage('loaded');`, { eval: true });
      await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
      await worker.terminate();
      expect(engine.cpu().sha1).toBe('portable');
    } finally {
      engine.useCpuExtensions(true);
    }
    expect(errorOf(() => engine.useCpuExtensions('yes' as never))?.name).toBe('TypeError');
  });
});
