// The engines must agree on every input: random secrets, algorithms, digit counts, periods,
// times up to the year 3000 and beyond, windows, and codes both valid (at a random step offset)
// and random.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import { jsEngine, nativeEngine } from '../dist/engine/index.js';
import { encodeBase32 } from '../dist/base32.js';
import { hotpKeyOn, keyOn, oneShotOn } from './helpers/engines.js';
import { checks, keyParameters, YEAR_3100_MS } from './helpers/equivalence-cases.js';

describe('native and js engines agree', () => {
  it.runIf(nativeEngine !== undefined)('on generate and check for random keys, times and codes', () => {
    const native = nativeEngine!;
    fc.assert(
      fc.property(keyParameters, checks, ({ secret, ...options }, cases) => {
        const a = keyOn(native, secret, options);
        const b = keyOn(jsEngine, secret, options);
        const periodMs = options.period * 1000;
        for (const c of cases) {
          expect(a.generate(c.timeMs)).toBe(b.generate(c.timeMs));
          const at = c.timeMs + c.offset * periodMs;
          const code = c.random || at < 0 ? String(c.noise % 10 ** options.digits).padStart(options.digits, '0') : b.generate(at);
          const opts = { timeMs: c.timeMs, window: c.window };
          expect(a.check(code, opts)).toBe(b.check(code, opts));
          // Twice: the second answer comes from the per-step cache.
          expect(a.check(code, opts)).toBe(b.check(code, opts));
        }
        a.destroy();
        b.destroy();
      }),
      { numRuns: 400 },
    );
  });

  it.runIf(nativeEngine !== undefined)('on the one-shot functions, from bytes and from base32', () => {
    const native = oneShotOn(nativeEngine!);
    const js = oneShotOn(jsEngine);
    fc.assert(
      fc.property(keyParameters, checks, fc.boolean(), ({ secret, ...options }, cases, asText) => {
        const given = asText ? encodeBase32(secret) : secret;
        const periodMs = options.period * 1000;
        for (const c of cases) {
          expect(native.generateTotp(given, { ...options, timeMs: c.timeMs })).toBe(js.generateTotp(secret, { ...options, timeMs: c.timeMs }));
          const at = c.timeMs + c.offset * periodMs;
          const code = c.random || at < 0 ? String(c.noise % 10 ** options.digits).padStart(options.digits, '0') : js.generateTotp(secret, { ...options, timeMs: at });
          const opts = { ...options, timeMs: c.timeMs, window: c.window };
          expect(native.checkTotp(given, code, opts)).toBe(js.checkTotp(secret, code, opts));
        }
      }),
      { numRuns: 200 },
    );
  });

  it.runIf(nativeEngine !== undefined)('on HOTP: generate, and check with a look-ahead, as keys and one-shot', () => {
    const native = nativeEngine!;
    const counters = fc.array(
      fc.record({
        counter: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 20 })),
        lookAhead: fc.integer({ min: 0, max: 20 }),
        ahead: fc.integer({ min: -2, max: 22 }),
        random: fc.boolean(),
        noise: fc.integer({ min: 0, max: 99_999_999 }),
      }),
      { minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(keyParameters, counters, ({ secret, algorithm, digits }, cases) => {
        const a = hotpKeyOn(native, secret, { algorithm, digits });
        const b = hotpKeyOn(jsEngine, secret, { algorithm, digits });
        const once = oneShotOn(native);
        for (const c of cases) {
          expect(a.generate(c.counter)).toBe(b.generate(c.counter));
          const target = c.counter + c.ahead;
          const code = c.random || target < 0 || target > Number.MAX_SAFE_INTEGER ? String(c.noise % 10 ** digits).padStart(digits, '0') : b.generate(target);
          const expected = b.check(code, c.counter, { lookAhead: c.lookAhead });
          expect(a.check(code, c.counter, { lookAhead: c.lookAhead })).toBe(expected);
          expect(once.checkHotp(secret, code, c.counter, { algorithm, digits, lookAhead: c.lookAhead })).toBe(expected);
        }
        a.destroy();
        b.destroy();
      }),
      { numRuns: 200 },
    );
  });

  describe.runIf(nativeEngine?.cpu().extensionsAvailable === true)('SHA instructions and portable C++ cores', () => {
    afterAll(() => nativeEngine!.useCpuExtensions(true));

    it('give the same codes for random keys and counters', () => {
      const native = nativeEngine!;
      fc.assert(
        fc.property(keyParameters, fc.array(fc.integer({ min: 0, max: YEAR_3100_MS }), { minLength: 1, maxLength: 8 }), ({ secret, ...options }, times) => {
          const key = keyOn(native, secret, options);
          native.useCpuExtensions(true);
          const accelerated = times.map((t) => [key.generate(t), key.check(key.generate(t + options.period * 1000), { timeMs: t })]);
          key.destroy();
          const portableKey = keyOn(native, secret, options);
          native.useCpuExtensions(false);
          const portable = times.map((t) => [portableKey.generate(t), portableKey.check(portableKey.generate(t + options.period * 1000), { timeMs: t })]);
          native.useCpuExtensions(true);
          portableKey.destroy();
          expect(portable).toEqual(accelerated);
        }),
        { numRuns: 300 },
      );
    });
  });
});
