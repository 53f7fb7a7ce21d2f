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
  const create = (algorithm: AlgorithmId = 0): EngineKey => addon.createKey(algorithm, secret, 6);

  it('computes the reference codes for secrets of every length around the block sizes, the empty one included', () => {
    // 0 bytes arrives as a null data pointer; 64/128 are the SHA-1/SHA-256 and SHA-512 block
    // sizes, past which the secret is hashed first (RFC 2104 §2).
    for (const length of [0, 1, 16, 20, 63, 64, 65, 127, 128, 129, 1024, 4096]) {
      const bytes = new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);
      for (const algorithm of [0, 1, 2] as const) {
        for (const digits of [6, 7, 8]) {
          const key = addon.createKey(algorithm, bytes, digits);
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
    const key = create();
    const { candidates } = key;
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

  it('refuses arguments that are not numbers with a TypeError, and codes outside 0..2^31-1 with a RangeError, before computing', () => {
    const key = create();
    const { candidates } = key;
    key.findCode(5, 0, 1);
    const before = Array.from(candidates);
    for (const args of [['5', 0, 1], [5, '0', 1], [5, 0, '1'], [5, 0], [undefined, 0, 1], [5n, 0, 1]]) {
      expect(errorOf(() => (key.findCode as (...a: unknown[]) => unknown)(...args))).toBeInstanceOf(TypeError);
    }
    expect(errorOf(() => (key.codeAt as (...a: unknown[]) => unknown)('5'))).toBeInstanceOf(TypeError);
    // 2^32 + a real code would match it if the code were read modulo 2^32.
    for (const code of [-1, 2 ** 31, 2 ** 32 + (candidates[0] as number)]) {
      expect(errorOf(() => key.findCode(5, code, 1))).toBeInstanceOf(RangeError);
    }
    expect(Array.from(candidates)).toEqual(before);
    expect(key.findCode(5, 1e6, 1)).toBe(-1); // a 6-digit key: past its codes, so no match
    key.destroy();
  });

  it('keeps the process-wide choice of hash cores when a worker thread loads the addon', async () => {
    const { Worker } = await import('node:worker_threads');
    addon.useCpuExtensions(false);
    try {
      const worker = new Worker(`require(${JSON.stringify(require.resolve('../dist/engine/index.js'))}); require('node:worker_threads').parentPort.postMessage('loaded');`, { eval: true });
      await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
      await worker.terminate();
      expect(addon.cpu().sha1).toBe('portable');
    } finally {
      addon.useCpuExtensions(true);
    }
  });

  it('refuses a secret of the wrong type, and an unknown algorithm or digit count', () => {
    const bad: [unknown, unknown, unknown][] = [
      [0, 'secret', 6],
      [0, new Uint16Array(10), 6],
      [0, [1, 2, 3], 6],
      ['0', secret, 6],
      [3, secret, 6],
      [0, secret, 5],
      [0, secret, 9],
    ];
    for (const args of bad) {
      const error = errorOf(() => (addon.createKey as (...a: unknown[]) => unknown)(...args));
      expect(error?.name).toMatch(/^(TypeError|RangeError)$/);
    }
  });

  it('owns the candidate memory: a transfer copies it or is refused, and findCode keeps writing where JavaScript reads', () => {
    const key = create();
    const { candidates } = key;
    // Node 20 copies an external buffer named in a transfer list; Node 22 and later refuse it.
    let copy: ArrayBuffer | undefined;
    try {
      copy = structuredClone(candidates.buffer, { transfer: [candidates.buffer] });
    } catch (error) {
      expect((error as Error).name).toBe('DataCloneError');
    }
    expect(candidates.length).toBe(SLOTS);
    expect(candidates.buffer.resizable).toBe(false);
    expect(key.findCode(5, reference(0, secret, 6, 6n), 3)).toBe(2);
    expect(candidates[2]).toBe(reference(0, secret, 6, 6n));
    if (copy !== undefined) expect(new Int32Array(copy).every((v) => v === 0)).toBe(true);
    key.destroy();
  });

  it('wipes the candidates on destroy(), is idempotent, and then refuses every call', () => {
    const key = create();
    const { candidates } = key;
    expect(key.findCode(1000, 1, 10)).toBe(-1);
    expect(candidates.some((v) => v !== 0)).toBe(true);
    key.destroy();
    expect(candidates.every((v) => v === 0)).toBe(true);
    key.destroy();
    expect(errorOf(() => key.codeAt(1))?.message).toBe('the key was destroyed');
    expect(errorOf(() => key.findCode(1, 1, 1))?.message).toBe('the key was destroyed');
  });
});
