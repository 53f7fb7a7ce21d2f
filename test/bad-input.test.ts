// SPEC §2: verify/check never throw on a bad code; they return false/null. They throw only on
// misuse: a destroyed key or bad options.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isOtpError } from 'totp-handshake';
import { engineCases, hotpKeyOn, keyOn, oneShotOn } from './helpers/engines.js';

const T = 1_700_000_000_000;
const secret = new Uint8Array(20).map((_, i) => i * 13 + 7);

const badCodes: [string, unknown][] = [
  ['the empty string', ''],
  ['five digits', '12345'],
  ['seven digits for a 6-digit key', '1234567'],
  ['a letter', '12345a'],
  ['a leading space', ' 12345'],
  ['a trailing space', '12345 '],
  ['a plus sign', '+12345'],
  ['a minus sign', '-12345'],
  ['a decimal point', '1234.5'],
  ['an exponent', '1e5000'],
  ['full-width digits', '１２３４５６'],
  ['Arabic-Indic digits', '١٢٣٤٥٦'],
  ['a NUL byte', '12345\u0000'],
  ['a NUL byte alone', '\u0000'],
  ['a lone surrogate', '12345\ud800'],
  ['1 MB of digits', '1'.repeat(1 << 20)],
  ['1 MB of junk', 'x'.repeat(1 << 20)],
  ['a number', 123456],
  ['a bigint', 123456n],
  ['null', null],
  ['undefined', undefined],
  ['an object', { toString: () => '123456' }],
  ['an array', ['123456']],
  ['a boxed string', Object('123456')],
  ['a symbol', Symbol('123456')],
  ['a function', () => '123456'],
];

describe.each(engineCases)('$name engine', ({ engine, setUp, tearDown }) => {
  beforeAll(() => setUp?.());
  afterAll(() => tearDown?.());

  it.each(badCodes)('refuses %s without throwing', (_, code) => {
    const key = keyOn(engine, secret);
    expect(key.verify(code as string, { timeMs: T })).toBe(false);
    expect(key.check(code as string, { timeMs: T })).toBeNull();
    expect(key.verify(code as string)).toBe(false);
  });

  it.each(badCodes)('refuses %s without throwing, one-shot and HOTP', (_, code) => {
    const once = oneShotOn(engine);
    expect(once.checkTotp(secret, code as string, { timeMs: T })).toBeNull();
    expect(once.checkTotp('AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYUCULBOGAZ', code as string)).toBeNull();
    expect(once.checkHotp(secret, code as string, 5, { lookAhead: 20 })).toBeNull();
    const hotp = hotpKeyOn(engine, secret);
    expect(hotp.check(code as string, 5, { lookAhead: 20 })).toBeNull();
    expect(hotp.verify(code as string, 0)).toBe(false);
    hotp.destroy();
  });

  it('refuses the valid code with anything around it', () => {
    const key = keyOn(engine, secret);
    const valid = key.generate(T);
    for (const variant of [` ${valid}`, `${valid} `, `${valid}\n`, `${valid}0`, valid.slice(1), `\u0000${valid}`]) {
      expect(key.verify(variant, { timeMs: T })).toBe(false);
    }
    expect(key.verify(valid, { timeMs: T })).toBe(true);
  });

  it('throws ERR_OTP_OPTIONS for bad options, even with a bad code', () => {
    const key = keyOn(engine, secret);
    const bad = [{ window: -1 }, { window: 11 }, { window: 1.5 }, { window: '1' }, { timeMs: Number.NaN }, { timeMs: -1 }, { timeMs: Infinity }, { timeMs: '0' }];
    for (const options of bad) {
      expect(() => key.verify('123456', options as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
      expect(() => key.check('nope', options as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
    }
  });

  it('throws ERR_OTP_OPTIONS for bad one-shot and HOTP options, and OtpError for a bad secret, even with a bad code', () => {
    const once = oneShotOn(engine);
    const hotp = hotpKeyOn(engine, secret);
    const badOptions = [{ window: 11 }, { timeMs: -1 }, { digits: 9 }, { algorithm: 'MD5' }, { period: 0 }, { windw: 1 }, null, 'x'];
    for (const options of badOptions) {
      expect(() => once.checkTotp(secret, 'nope', options as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
    }
    for (const options of [{ lookAhead: 21 }, { lookAhead: -1 }, { lookAhead: 1.5 }, { window: 1 }, { period: 30 }, null]) {
      expect(() => once.checkHotp(secret, 'nope', 0, options as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
    }
    for (const counter of [-1, 1.5, Number.NaN, 2 ** 53, '1', undefined]) {
      expect(() => once.checkHotp(secret, 'nope', counter as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
      expect(() => hotp.check('123456', counter as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
      expect(() => hotp.generate(counter as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
    }
    // The look-ahead must end at a safe integer: the matched counter is returned exactly.
    expect(() => hotp.check('123456', Number.MAX_SAFE_INTEGER - 1, { lookAhead: 2 })).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
    expect(hotp.check('123456', Number.MAX_SAFE_INTEGER - 2, { lookAhead: 2 })).toBeNull();
    for (const [given, code] of [['not base32!', 'ERR_OTP_BASE32'], ['AAAA', 'ERR_OTP_SECRET_LENGTH'], [new Uint8Array(15), 'ERR_OTP_SECRET_LENGTH'], [42, 'ERR_OTP_OPTIONS']] as const) {
      expect(() => once.checkTotp(given as never, 'nope')).toThrow(expect.objectContaining({ code }));
      expect(() => once.checkTotp(given as never, '123456')).toThrow(expect.objectContaining({ code }));
      expect(() => once.checkHotp(given as never, 'nope', 0)).toThrow(expect.objectContaining({ code }));
      expect(() => once.generateHotp(given as never, 0)).toThrow(expect.objectContaining({ code }));
    }
    hotp.destroy();
  });

  it('throws ERR_OTP_DESTROYED after destroy(), for good and bad codes alike', () => {
    const key = keyOn(engine, secret);
    const valid = key.generate(T);
    key.destroy();
    for (const call of [() => key.verify(valid, { timeMs: T }), () => key.check('x'), () => key.generate(T), () => key.toBase32(), () => key.toUri()]) {
      let error: unknown;
      try {
        call();
      } catch (caught) {
        error = caught;
      }
      expect(isOtpError(error, 'ERR_OTP_DESTROYED')).toBe(true);
    }
    expect(() => key.destroy()).not.toThrow();
  });

  it('refuses every code before the key epoch (there is no step yet), and only generate() throws', () => {
    const epoch = 2_000_000_000;
    const key = keyOn(engine, secret, { epoch });
    const first = key.generate(epoch * 1000);
    for (const timeMs of [T, epoch * 1000 - 1]) {
      expect(key.verify(first, { timeMs })).toBe(false);
      expect(key.check(first, { timeMs, window: 10 })).toBeNull();
      expect(key.verify('abc', { timeMs })).toBe(false);
      expect(() => key.generate(timeMs)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
    }
    expect(key.verify(first)).toBe(false); // now, a key that starts in 2033
    expect(key.check(first, { timeMs: epoch * 1000 })).toBe(0);
  });
});
