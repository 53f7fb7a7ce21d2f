// The addon's own guards, called directly as the TypeScript layer never would: values at the edges
// of what N-API converts, secrets of every length, and misuse that must throw rather than touch
// memory. `npm run test:sanitize` runs this file against the AddressSanitizer/UBSan build, where a
// stray access or an undefined operation (a signed overflow, memcpy from a null pointer) stops the
// process; here, on the Release build, the same calls must give the reference answers.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { nativeEngine } from '../dist/engine/index.js';
import type { AlgorithmId, EngineKey } from '../dist/engine/types.js';

const HASHES = ['sha1', 'sha256', 'sha512'] as const;
const INT64_MAX = 2n ** 63n - 1n;
const SLOTS = 21;

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

describe.runIf(nativeEngine !== undefined)('the native addon at its boundary', () => {
  const addon = nativeEngine!;
  const secret = Buffer.from('12345678901234567890');
  const create = (candidates: Int32Array = new Int32Array(SLOTS), algorithm: AlgorithmId = 0): EngineKey =>
    addon.createKey(algorithm, secret, 6, candidates);

  it('computes the reference codes for secrets of every length around the block sizes, the empty one included', () => {
    // 0 bytes arrives as a null data pointer; 64/128 are the SHA-1/SHA-256 and SHA-512 block
    // sizes, past which the secret is hashed first (RFC 2104 §2).
    for (const length of [0, 1, 16, 20, 63, 64, 65, 127, 128, 129, 1024, 4096]) {
      const bytes = new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);
      for (const algorithm of [0, 1, 2] as const) {
        for (const digits of [6, 7, 8]) {
          const key = addon.createKey(algorithm, bytes, digits, new Int32Array(SLOTS));
          for (const counter of [0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
            expect(key.codeAt(counter), `${length} bytes, ${HASHES[algorithm]}, ${digits} digits, counter ${counter}`).toBe(
              reference(algorithm, bytes, digits, BigInt(counter)),
            );
          }
          key.destroy();
        }
      }
    }
  });

  it('takes counters from 2^63 up as 2^63-1 and computes the window past it without overflowing', () => {
    const candidates = new Int32Array(SLOTS);
    const key = create(candidates);
    const top = reference(0, secret, 6, INT64_MAX);
    for (const counter of [2 ** 63, 2 ** 64, 1e300]) expect(key.codeAt(counter)).toBe(top);
    // The code of step 2^63 - 1 + 10 (slot 20) is found, and every slot before it holds its step's code.
    const last = reference(0, secret, 6, INT64_MAX + 10n);
    const found = key.findCode(2 ** 63, last, 10);
    const firstMatch = Array.from({ length: SLOTS }, (_, slot) => reference(0, secret, 6, INT64_MAX + delta(slot))).indexOf(last);
    expect(found).toBe(firstMatch);
    for (let slot = 0; slot <= found; slot++) expect(candidates[slot]).toBe(reference(0, secret, 6, INT64_MAX + delta(slot)));
    key.destroy();
  });

  it('refuses negative counters and windows outside 0..10 with a RangeError', () => {
    const key = create();
    for (const [counter, window] of [[-1, 1], [0, -1], [0, 11], [-(2 ** 63), 0]] as const) {
      expect(errorOf(() => key.findCode(counter, 0, window))).toBeInstanceOf(RangeError);
    }
    expect(errorOf(() => key.codeAt(-1))).toBeInstanceOf(RangeError);
    key.destroy();
  });

  it('refuses a secret or candidate buffer of the wrong type or size, and an unknown algorithm or digit count', () => {
    const bad: [unknown, unknown, unknown, unknown][] = [
      [0, 'secret', 6, new Int32Array(SLOTS)],
      [0, new Uint16Array(10), 6, new Int32Array(SLOTS)],
      [0, secret, 6, new Int32Array(SLOTS - 1)],
      [0, secret, 6, new Uint32Array(SLOTS)],
      [0, secret, 6, new Float64Array(SLOTS)],
      [0, secret, 6, new Int32Array(64).subarray(50)],
      [3, secret, 6, new Int32Array(SLOTS)],
      [0, secret, 5, new Int32Array(SLOTS)],
      [0, secret, 9, new Int32Array(SLOTS)],
    ];
    for (const args of bad) {
      const error = errorOf(() => (addon.createKey as (...a: unknown[]) => unknown)(...args));
      expect(error?.name).toMatch(/^(TypeError|RangeError)$/);
    }
    // A view at an offset into a larger buffer is fine: the addon writes through its own offset.
    const backing = new Int32Array(64).fill(7);
    const key = create(backing.subarray(40, 40 + SLOTS));
    expect(key.findCode(100, 1, 10)).toBe(-1);
    expect(backing.slice(0, 40).every((v) => v === 7) && backing.slice(40 + SLOTS).every((v) => v === 7)).toBe(true);
    key.destroy();
  });

  it('throws instead of writing when the candidates buffer was detached after createKey', () => {
    const candidates = new Int32Array(SLOTS);
    const key = create(candidates);
    // Transferring the ArrayBuffer detaches it: the memory now belongs to `moved` and is freed
    // with it. Writing through a pointer kept from createKey would be a use after free.
    const moved = structuredClone(candidates.buffer, { transfer: [candidates.buffer] });
    expect(candidates.length).toBe(0);
    expect(errorOf(() => key.findCode(5, 1, 3))).toBeInstanceOf(TypeError);
    expect(new Int32Array(moved).every((v) => v === 0)).toBe(true);
    expect(key.codeAt(1)).toBe(reference(0, secret, 6, 1n));
    key.destroy();
  });

  it('throws instead of writing when a resizable candidates buffer shrank below 21 slots', () => {
    const buffer = new ArrayBuffer(SLOTS * 4, { maxByteLength: SLOTS * 4 });
    const key = create(new Int32Array(buffer));
    expect(key.findCode(5, 1, 10)).toBe(-1);
    buffer.resize(8);
    expect(errorOf(() => key.findCode(5, 1, 10))).toBeInstanceOf(TypeError);
    buffer.resize(SLOTS * 4);
    expect(key.findCode(5, 1, 10)).toBe(-1);
    key.destroy();
  });

  it('wipes the candidates on destroy(), is idempotent, and then refuses every call', () => {
    const candidates = new Int32Array(SLOTS);
    const key = create(candidates);
    expect(key.findCode(1000, 1, 10)).toBe(-1);
    expect(candidates.some((v) => v !== 0)).toBe(true);
    key.destroy();
    expect(candidates.every((v) => v === 0)).toBe(true);
    key.destroy();
    expect(errorOf(() => key.codeAt(1))?.message).toBe('the key was destroyed');
    expect(errorOf(() => key.findCode(1, 1, 1))?.message).toBe('the key was destroyed');
  });
});
