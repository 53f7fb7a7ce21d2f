// Known answers from the RFCs, on every engine. The clock is never read: every call passes timeMs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import rfc4226 from './fixtures/rfc4226.json' with { type: 'json' };
import rfc6238 from './fixtures/rfc6238.json' with { type: 'json' };
import { encodeBase32 } from '../dist/base32.js';
import { ascii, engineCases, hotpKeyOn, keyOn, oneShotOn } from './helpers/engines.js';

type Hash = 'SHA1' | 'SHA256' | 'SHA512';
const HASHES: Hash[] = ['SHA1', 'SHA256', 'SHA512'];

describe.each(engineCases)('$name engine', ({ engine, setUp, tearDown }) => {
  beforeAll(() => setUp?.());
  afterAll(() => tearDown?.());
  const once = oneShotOn(engine);

  describe('RFC 4226 Appendix D as HOTP: HotpKey and the one-shot functions', () => {
    const secret = ascii(rfc4226.secretAscii);
    const base32 = encodeBase32(secret);

    it('generates every code of the appendix, from bytes and from base32', () => {
      const key = hotpKeyOn(engine, secret);
      expect(rfc4226.codes.map((_, counter) => key.generate(counter))).toEqual(rfc4226.codes);
      expect(rfc4226.codes.map((_, counter) => once.generateHotp(secret, counter))).toEqual(rfc4226.codes);
      expect(rfc4226.codes.map((_, counter) => once.generateHotp(base32, counter))).toEqual(rfc4226.codes);
      key.destroy();
    });

    it('finds each code at its counter, and from every counter before it with enough look-ahead (the matched counter, for resynchronisation)', () => {
      const key = hotpKeyOn(engine, secret);
      rfc4226.codes.forEach((code, counter) => {
        expect(key.check(code, counter)).toBe(counter);
        expect(once.checkHotp(base32, code, counter)).toBe(counter);
        for (let from = 0; from <= counter; from++) {
          expect(key.check(code, from, { lookAhead: counter - from })).toBe(counter);
          expect(once.checkHotp(secret, code, from, { lookAhead: 9 })).toBe(rfc4226.codes.indexOf(code, from));
        }
      });
      key.destroy();
    });

    it('refuses each code after its counter, and before it with too short a look-ahead', () => {
      const key = hotpKeyOn(engine, secret);
      rfc4226.codes.forEach((code, counter) => {
        if (rfc4226.codes.indexOf(code, counter + 1) < 0) expect(key.check(code, counter + 1, { lookAhead: 20 })).toBeNull();
        if (counter > 0) {
          expect(key.check(code, 0, { lookAhead: counter - 1 })).toBe(rfc4226.codes.slice(0, counter).includes(code) ? rfc4226.codes.indexOf(code) : null);
          expect(once.checkHotp(secret, code, counter - 1)).toBeNull();
        }
      });
      key.destroy();
    });
  });

  describe.each(HASHES)('RFC 6238 Appendix B with the one-shot functions, %s, 8 digits', (algorithm) => {
    const secret = ascii(rfc6238.secretsAscii[algorithm]);
    const options = { algorithm, digits: 8 } as const;

    it('generates and verifies every vector, from bytes and from base32, with its step offset', () => {
      for (const given of [secret, encodeBase32(secret)]) {
        for (const vector of rfc6238.vectors) {
          expect(once.generateTotp(given, { ...options, timeMs: vector.time * 1000 })).toBe(vector[algorithm]);
          expect(once.checkTotp(given, vector[algorithm], { ...options, timeMs: vector.time * 1000 })).toBe(0);
          expect(once.checkTotp(given, vector[algorithm], { ...options, timeMs: (vector.time + 30) * 1000 })).toBe(-1);
          expect(once.checkTotp(given, vector[algorithm], { ...options, timeMs: (vector.time - 30) * 1000 })).toBe(1);
          expect(once.checkTotp(given, vector[algorithm], { ...options, timeMs: (vector.time + 30) * 1000, window: 0 })).toBeNull();
        }
      }
    });
  });

  describe('RFC 4226 Appendix D (HOTP counters 0-9, SHA-1, 6 digits)', () => {
    const key = () => keyOn(engine, ascii(rfc4226.secretAscii));

    it('refuses each code one step away from its counter with window 0', () => {
      const k = key();
      rfc4226.codes.forEach((code, counter) => {
        const neighbour = counter === 0 ? 1 : counter - 1;
        if (rfc4226.codes[neighbour] === code) return;
        expect(k.check(code, { timeMs: neighbour * 30_000, window: 0 })).toBeNull();
      });
    });

    it('refuses a code differing in the last digit', () => {
      const k = key();
      rfc4226.codes.forEach((code, counter) => {
        const wrong = code.slice(0, 5) + String((Number(code[5]) + 1) % 10);
        expect(k.verify(wrong, { timeMs: counter * 30_000, window: 0 })).toBe(false);
      });
    });

    it('generates every code of the appendix', () => {
      const k = key();
      expect(rfc4226.codes.map((_, counter) => k.generate(counter * 30_000))).toEqual(rfc4226.codes);
    });

    it('accepts every code at its counter, and reports the step offset from neighbours', () => {
      const k = key();
      rfc4226.codes.forEach((code, counter) => {
        expect(k.check(code, { timeMs: counter * 30_000 + 29_999, window: 0 })).toBe(0);
        if (counter > 0) expect(k.check(code, { timeMs: (counter - 1) * 30_000 })).toBe(1);
        if (counter < 9) expect(k.check(code, { timeMs: (counter + 1) * 30_000 })).toBe(-1);
      });
    });
  });

  describe.each(HASHES)('RFC 6238 Appendix B, %s, 8 digits', (algorithm) => {
    const key = () => keyOn(engine, ascii(rfc6238.secretsAscii[algorithm]), { algorithm, digits: 8 });

    it('refuses each vector one second before its step with window 0 (unless equal)', () => {
      const k = key();
      for (const vector of rfc6238.vectors) {
        const before = k.generate((vector.time - (vector.time % 30) - 1) * 1000);
        if (before === vector[algorithm]) continue;
        expect(k.verify(vector[algorithm], { timeMs: (vector.time - (vector.time % 30) - 1) * 1000, window: 0 })).toBe(false);
      }
    });

    it('generates every vector', () => {
      const k = key();
      for (const vector of rfc6238.vectors) expect(k.generate(vector.time * 1000)).toBe(vector[algorithm]);
    });

    it('verifies every vector at its time', () => {
      const k = key();
      for (const vector of rfc6238.vectors) {
        expect(k.check(vector[algorithm], { timeMs: vector.time * 1000 })).toBe(0);
      }
    });

    it('finds every vector one step later as delta -1 and one step earlier as +1', () => {
      const k = key();
      for (const vector of rfc6238.vectors) {
        expect(k.check(vector[algorithm], { timeMs: (vector.time + 30) * 1000 })).toBe(-1);
        expect(k.check(vector[algorithm], { timeMs: (vector.time - 30) * 1000 })).toBe(1);
      }
    });
  });
});
