// The one-shot functions and HotpKey as the package exports them (SPEC §7: one-shot verification
// without a key object; HOTP). Known answers are in vectors.test.ts, engine agreement in
// equivalence.test.ts, bad input in bad-input.test.ts; this file holds their behaviour.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';

import { checkHotp, checkTotp, generateHotp, generateTotp, HotpKey, isOtpError, TotpKey, verifyHotp, verifyTotp } from 'totp-handshake';
import { nativeEngine } from '../dist/engine/index.js';
import { errorOf } from './helpers/throws.js';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // '12345678901234567890'
const BYTES = new TextEncoder().encode('12345678901234567890');
const T = 1_700_000_000_000;

describe('one-shot TOTP', () => {
  it('verifies the current code by default (window 1, now), and agrees with a TotpKey on every option', () => {
    expect(verifyTotp(SECRET, generateTotp(SECRET))).toBe(true);
    const options = { algorithm: 'SHA256', digits: 8, period: 45, epoch: 1_000 } as const;
    const key = TotpKey.fromBase32(SECRET, options);
    for (const delta of [-3, -2, -1, 0, 1, 2, 3]) {
      const code = key.generate(T + delta * 45_000);
      expect(generateTotp(BYTES, { ...options, timeMs: T + delta * 45_000 })).toBe(code);
      for (const window of [0, 1, 2]) {
        expect(checkTotp(SECRET, code, { ...options, timeMs: T, window })).toBe(key.check(code, { timeMs: T, window }));
        expect(verifyTotp(BYTES, code, { ...options, timeMs: T, window })).toBe(key.verify(code, { timeMs: T, window }));
      }
    }
    key.destroy();
  });

  it('takes the secret as any spelling of base32 the key file may hold, or as bytes (a Buffer too)', () => {
    const code = generateTotp(SECRET, { timeMs: T });
    for (const given of [SECRET.toLowerCase(), SECRET.replace(/(.{4})/g, '$1 ').trim(), `${SECRET}`, Buffer.from(BYTES), BYTES]) {
      expect(checkTotp(given, code, { timeMs: T })).toBe(0);
    }
    // Text longer than the addon's buffer is decoded in TypeScript instead: the same answer.
    expect(checkTotp(SECRET.split('').join(' '.repeat(100)), code, { timeMs: T })).toBe(0);
  });

  it('refuses every code before the epoch (there is no step yet), where generateTotp throws', () => {
    const options = { epoch: 2_000_000_000 };
    const first = generateTotp(SECRET, { ...options, timeMs: 2_000_000_000_000 });
    expect(checkTotp(SECRET, first, { ...options, timeMs: 2_000_000_000_000 })).toBe(0);
    expect(checkTotp(SECRET, first, { ...options, timeMs: 2_000_000_000_000 - 1, window: 10 })).toBeNull();
    expect(errorOf(() => generateTotp(SECRET, { ...options, timeMs: T })).code).toBe('ERR_OTP_OPTIONS');
  });

  it('names a misspelt option rather than ignoring it', () => {
    expect(errorOf(() => checkTotp(SECRET, '123456', { windw: 2 } as never)).message).toBe('checkTotp has no option "windw" (did you mean window?)');
    expect(errorOf(() => generateTotp(SECRET, { window: 2 } as never)).message).toMatch(/^generateTotp has no option "window"/);
    expect(errorOf(() => verifyHotp(SECRET, '123456', 0, { window: 2 } as never)).message).toMatch(/^checkHotp has no option "window"/);
  });

  it('says which secret is wrong and how, never quoting it', () => {
    const short = errorOf(() => verifyTotp('GEZDGNBVGY3TQOJQGEZDGNBV', '123456'));
    expect(short.code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(short.message).toBe('a TOTP secret must be at least 16 bytes (128 bits, RFC 4226 §4); this one has 15 (to accept an existing shorter secret, pass minSecretBytes: 15)');
    expect(errorOf(() => verifyHotp(new Uint8Array(2000), '123456', 0)).message).toBe('an HOTP secret must be at most 1024 bytes; this one has 2000');
    const bad = errorOf(() => verifyTotp(`${SECRET.slice(0, 10)}!${SECRET.slice(10)}`, '123456'));
    expect(bad.code).toBe('ERR_OTP_BASE32');
    expect(bad.message).toBe('an invalid base32 character at position 10');
  });

  it.runIf(nativeEngine !== undefined)('keeps nothing in the addon between calls', () => {
    const before = nativeEngine!.arenaStats().liveKeys;
    for (let i = 0; i < 100; i++) verifyTotp(SECRET, '000000', { timeMs: T + i * 30_000 });
    for (let i = 0; i < 100; i++) generateHotp(BYTES, i);
    expect(nativeEngine!.arenaStats().liveKeys).toBe(before);
  });
});

describe('HOTP', () => {
  it('checkHotp returns the matched counter; storing matched + 1 refuses the same code again', () => {
    let counter = 3;
    const code = generateHotp(SECRET, 7);
    expect(checkHotp(SECRET, code, counter)).toBeNull();
    const matched = checkHotp(SECRET, code, counter, { lookAhead: 5 });
    expect(matched).toBe(7);
    counter = (matched as number) + 1;
    expect(checkHotp(SECRET, code, counter, { lookAhead: 20 })).toBeNull();
    expect(verifyHotp(SECRET, generateHotp(SECRET, counter + 20), counter, { lookAhead: 20 })).toBe(true);
    expect(verifyHotp(SECRET, generateHotp(SECRET, counter + 21), counter, { lookAhead: 20 })).toBe(false);
  });

  it('HotpKey: the same codes as the one-shot functions, any algorithm and length; id, toBase32, inspect and JSON as TotpKey', () => {
    for (const options of [undefined, { algorithm: 'SHA256', digits: 7 }, { algorithm: 'SHA512', digits: 8 }] as const) {
      const key = HotpKey.fromBase32(SECRET, options);
      for (const counter of [0, 1, 1000, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
        const code = key.generate(counter);
        expect(code).toBe(generateHotp(BYTES, counter, options));
        expect(key.check(code, counter)).toBe(counter);
        expect(key.verify(code, counter)).toBe(true);
      }
      expect(key.toBase32()).toBe(SECRET);
      expect(key.id).toBe(TotpKey.fromBase32(SECRET).id);
      for (const text of [inspect(key), JSON.stringify(key), inspect(key, { showHidden: true, depth: 5 })]) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(key.generate(0));
      }
      expect(JSON.parse(JSON.stringify(key))).toEqual({ id: key.id, algorithm: options?.algorithm ?? 'SHA1', digits: options?.digits ?? 6 });
      key.destroy();
      expect(errorOf(() => key.generate(0)).code).toBe('ERR_OTP_DESTROYED');
      expect(errorOf(() => key.check('123456', 0)).message).toBe('this HotpKey was destroyed');
      expect(errorOf(() => key.toBase32()).code).toBe('ERR_OTP_DESTROYED');
      expect(() => key.destroy()).not.toThrow();
    }
  });

  it('HotpKey: made from bytes (copied) or at random, refusing TOTP-only options and direct construction', () => {
    const bytes = Uint8Array.from(BYTES);
    const key = HotpKey.fromBytes(bytes);
    bytes.fill(0);
    expect(key.generate(1)).toBe('287082');
    expect(HotpKey.random().toBase32()).toMatch(/^[A-Z2-7]{32}$/);
    expect(HotpKey.random({ bytes: 64, algorithm: 'SHA512' }).algorithm).toBe('SHA512');
    expect(errorOf(() => HotpKey.random({ bytes: 15 })).code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(errorOf(() => HotpKey.fromBase32(SECRET, { period: 30 } as never)).message).toBe('HotpKey has no option "period"; the options are algorithm, digits, minSecretBytes');
    expect(errorOf(() => HotpKey.fromBytes('12345678901234567890' as never)).code).toBe('ERR_OTP_OPTIONS');
    expect(errorOf(() => HotpKey.fromBase32(BYTES as never)).code).toBe('ERR_OTP_BASE32');
    expect(() => new (HotpKey as unknown as new () => HotpKey)()).toThrow(TypeError);
    expect(isOtpError(errorOf(() => key.check('287082', 0, { lookAhead: 21 })), 'ERR_OTP_OPTIONS')).toBe(true);
  });
});
