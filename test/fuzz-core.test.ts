// Hostile input to everything the core parses: base32 secrets, otpauth:// URIs, the code handed to
// verify/check and the options beside it. Each property checks against a model written apart from
// the implementation (SPEC §2): verify/check never throw on a bad code and answer exactly what the
// RFC 4226 codes of the window say; parsers either succeed or throw OtpError with the right code;
// no message quotes a secret or a valid code. FUZZ_RUNS (default 1000) scales every property.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isOtpError, TotpKey, type Algorithm } from 'totp-handshake';
import { decodeBase32, encodeBase32 } from '../dist/base32.js';
import { jsEngine, nativeEngine } from '../dist/engine/index.js';
import { parseOtpauthUri } from '../dist/uri.js';
import { engineCases, keyOn, oneShotOn } from './helpers/engines.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LOWER = ALPHABET.toLowerCase();
/** The largest ECMAScript time value (new Date(8.64e15 + 1) is Invalid Date). */
const MAX_TIME_MS = 8.64e15;

function outcome<T>(call: () => T): { value: T; error?: undefined } | { value?: undefined; error: unknown } {
  try {
    return { value: call() };
  } catch (error) {
    return { error };
  }
}

/** True when `message` holds any run of 8 characters of `secret` (8 base32 symbols = 40 bits). */
function quotes(message: string, secret: string): boolean {
  for (let i = 0; i + 8 <= secret.length; i++) {
    if (message.includes(secret.slice(i, i + 8))) return true;
  }
  return false;
}

// ---- base32 -------------------------------------------------------------------------------------

/**
 * RFC 4648 §6 decoding written the plain way (a string of bits), with the SPEC's tolerance: any
 * case, spaces anywhere, '=' padding only at the end. Returns the bytes or the error message the
 * implementation must give (a position or a count, never the text).
 */
function modelDecode(text: string): { bytes: Uint8Array } | { message: string } {
  let bits = '';
  let symbols = 0;
  let padding = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === ' ') continue;
    if (ch === '=') {
      padding = true;
      continue;
    }
    const value = ALPHABET.includes(ch) ? ALPHABET.indexOf(ch) : LOWER.indexOf(ch);
    if (value < 0) return { message: `an invalid base32 character at position ${i}` };
    if (padding) return { message: `base32 data after padding at position ${i}` };
    bits += value.toString(2).padStart(5, '0');
    symbols++;
  }
  if ([1, 3, 6].includes(symbols % 8)) return { message: `a base32 secret cannot have ${symbols} symbols` };
  const bytes = new Uint8Array(Math.floor(bits.length / 8));
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(bits.slice(8 * i, 8 * i + 8), 2);
  return { bytes };
}

// Strings near the alphabet (so many decode), then arbitrary UTF-16 including lone surrogates.
const base32ish = fc.string({
  unit: fc.constantFrom(...`${ALPHABET}${LOWER} ==  0189-_\t\n\u00e9\u0131\u017f\uff21`),
  maxLength: 90,
});
const anyText = fc.oneof(base32ish, fc.string({ unit: 'binary', maxLength: 90 }), fc.string({ unit: 'grapheme', maxLength: 30 }));

describe('base32 decoding under fuzzing', () => {
  it('agrees with the RFC 4648 model on every string: the same bytes, or ERR_OTP_BASE32 with the same message', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const want = modelDecode(text);
        const got = outcome(() => decodeBase32(text));
        if ('bytes' in want) {
          expect(got.error).toBeUndefined();
          expect(Array.from(got.value as Uint8Array)).toEqual(Array.from(want.bytes));
        } else {
          expect(isOtpError(got.error, 'ERR_OTP_BASE32')).toBe(true);
          expect((got.error as Error).message).toBe(want.message);
        }
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('accepts every spelling of a secret the SPEC allows: any case, spaces anywhere, trailing padding', () => {
    const spelling = fc.record({
      bytes: fc.uint8Array({ maxLength: 64 }),
      lower: fc.array(fc.boolean(), { maxLength: 110 }),
      spaces: fc.array(fc.nat({ max: 200 }), { maxLength: 12 }),
      pad: fc.boolean(),
    });
    fc.assert(
      fc.property(spelling, ({ bytes, lower, spaces, pad }) => {
        let text = [...encodeBase32(bytes)].map((c, i) => (lower[i] ? c.toLowerCase() : c)).join('');
        if (pad) text += '='.repeat((8 - (text.length % 8)) % 8);
        for (const at of spaces) {
          const i = at % (text.length + 1);
          text = `${text.slice(0, i)} ${text.slice(i)}`;
        }
        expect(Array.from(decodeBase32(text))).toEqual(Array.from(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('never quotes a secret in an error, however it is mangled', () => {
    const mangled = fc.record({
      secret: fc.uint8Array({ minLength: 5, maxLength: 64 }).map(encodeBase32),
      insert: fc.string({ unit: fc.constantFrom('1', '0', '8', '9', '-', '\u00e9', '=', 'A'), minLength: 1, maxLength: 3 }),
      at: fc.nat(),
      cut: fc.nat({ max: 3 }),
    });
    fc.assert(
      fc.property(mangled, ({ secret, insert, at, cut }) => {
        const i = at % (secret.length + 1);
        const text = `${secret.slice(0, i)}${insert}${secret.slice(i)}`.slice(0, secret.length + insert.length - cut);
        const got = outcome(() => TotpKey.fromBase32(text));
        if (got.error === undefined) return;
        expect(isOtpError(got.error, 'ERR_OTP_BASE32') || isOtpError(got.error, 'ERR_OTP_SECRET_LENGTH')).toBe(true);
        expect(quotes((got.error as Error).message, secret)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- otpauth:// URIs --------------------------------------------------------------------------------

const validSecret = fc.uint8Array({ minLength: 16, maxLength: 64 }).map(encodeBase32);
const shortSecret = fc.uint8Array({ minLength: 1, maxLength: 15 }).map(encodeBase32);
const paramValue = (valid: fc.Arbitrary<string>) => fc.oneof({ weight: 4, arbitrary: valid }, fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }));
const parameter = fc.oneof(
  fc.tuple(fc.constant('secret'), paramValue(fc.oneof(validSecret, shortSecret, validSecret.map((s) => s.toLowerCase())))),
  fc.tuple(fc.constant('algorithm'), paramValue(fc.constantFrom('SHA1', 'SHA256', 'SHA512', 'sha256', 'MD5', 'SHA-1'))),
  fc.tuple(fc.constant('digits'), paramValue(fc.constantFrom('6', '7', '8', '9', '0', '-6', '06', '6.0', '99999999999'))),
  fc.tuple(fc.constant('period'), paramValue(fc.constantFrom('30', '1', '0', '60', '2147483647', '2147483648', '1e3', ' 30'))),
  fc.tuple(fc.constantFrom('issuer', 'counter', 'image', 'Secret', ''), fc.string({ maxLength: 12 })),
);
/** Mostly the usual value, sometimes one of the odd ones. */
const usually = <T>(usual: T, ...odd: T[]) => fc.oneof({ weight: 6, arbitrary: fc.constant(usual) }, fc.constantFrom(...odd));
const hostileUri = fc
  .record({
    scheme: usually('otpauth', 'OTPAUTH', 'otpAuth', 'https', 'otpauth2', ''),
    slashes: usually('//', '/', '', '///'),
    type: usually('totp', 'TOTP', 'hotp', '', 'tot%70', 'motp'),
    label: fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent), fc.constantFrom('%', '%E0%A4%A', 'a:b', '')),
    secret: fc.option(parameter.filter(([k]) => k === 'secret'), { freq: 6, nil: undefined }),
    params: fc.array(parameter, { maxLength: 5 }),
    encode: fc.boolean(),
    fragment: usually('', '#', '#secret=AAAA'),
  })
  .map(({ scheme, slashes, type, label, secret, params, encode, fragment }) => {
    const all = secret === undefined ? params : [secret, ...params];
    return {
      uri: `${scheme}:${slashes}${type}/${label}?${all.map(([k, v]) => `${k}=${encode ? encodeURIComponent(v) : v}`).join('&')}${fragment}`,
      secrets: all.filter(([k, v]) => k === 'secret' && v.length >= 8).map(([, v]) => v),
    };
  });

describe('otpauth URI parsing under fuzzing', () => {
  it('gives a key or OtpError (ERR_OTP_URI, or ERR_OTP_SECRET_LENGTH for a valid URI), never quoting the secret', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 5, arbitrary: hostileUri }, fc.string({ unit: 'binary', maxLength: 200 }).map((uri) => ({ uri, secrets: [] as string[] }))), ({ uri, secrets }) => {
        const parsed = outcome(() => parseOtpauthUri(uri));
        const key = outcome(() => TotpKey.fromUri(uri));
        if (parsed.error !== undefined) {
          expect(isOtpError(parsed.error, 'ERR_OTP_URI'), String(parsed.error)).toBe(true);
          expect(isOtpError(key.error, 'ERR_OTP_URI')).toBe(true);
        } else {
          const length = parsed.value.secret.length;
          const ok = length >= 16 && length <= 1024;
          expect(key.error === undefined ? true : isOtpError(key.error, 'ERR_OTP_SECRET_LENGTH')).toBe(true);
          expect(key.error === undefined).toBe(ok);
        }
        for (const failure of [parsed.error, key.error]) {
          if (failure === undefined) continue;
          for (const secret of secrets) expect(quotes((failure as Error).message, secret)).toBe(false);
        }
        key.value?.destroy();
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('round-trips any key, label and issuer through toUri and fromUri', () => {
    // Any well-formed text (a lone surrogate cannot be percent-encoded), heavy on URI syntax.
    const name = fc.string({
      unit: fc.oneof(fc.constantFrom(':', '?', '#', '%', '&', '/', '+', '=', ' ', '@', '\u0000'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
      minLength: 1,
      maxLength: 30,
    });
    const keyAndNames = fc.record({
      secret: fc.uint8Array({ minLength: 16, maxLength: 80 }),
      algorithm: fc.constantFrom<Algorithm>('SHA1', 'SHA256', 'SHA512'),
      digits: fc.constantFrom(6 as const, 7 as const, 8 as const),
      period: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      label: name,
      issuer: fc.option(name.filter((s) => !s.includes(':')), { nil: undefined }),
      timeMs: fc.integer({ min: 0, max: MAX_TIME_MS }),
    });
    fc.assert(
      fc.property(keyAndNames, ({ secret, algorithm, digits, period, label, issuer, timeMs }) => {
        const key = TotpKey.fromBytes(secret, { algorithm, digits, period });
        const uri = key.toUri(label, issuer);
        const parsed = parseOtpauthUri(uri);
        expect(parsed.issuer).toBe(issuer);
        expect(parsed.label).toBe(issuer === undefined ? label : `${issuer}:${label}`);
        const copy = TotpKey.fromUri(uri);
        expect([copy.algorithm, copy.digits, copy.period, copy.id]).toEqual([algorithm, digits, period, key.id]);
        expect(copy.generate(timeMs)).toBe(key.generate(timeMs));
        key.destroy();
        copy.destroy();
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- codes and options ------------------------------------------------------------------------

const HASHES: Record<Algorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

/** RFC 4226 §5.3 through node:crypto: the model every engine is held to. */
function hotp(secret: Uint8Array, algorithm: Algorithm, digits: number, counter: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = createHmac(HASHES[algorithm], secret).update(message).digest();
  const offset = (digest[digest.length - 1] as number) & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits).padStart(digits, '0');
}

/** What check() must answer: the first delta in the order 0, -1, +1, -2, +2, ... whose code is `code`. */
function modelCheck(code: unknown, p: KeyParameters, timeMs: number, window: number): number | null {
  if (typeof code !== 'string' || !new RegExp(`^[0-9]{${p.digits}}$`).test(code)) return null;
  const counter = Math.floor((timeMs - p.epoch * 1000) / (p.period * 1000));
  for (let distance = 0; distance <= window; distance++) {
    for (const delta of distance === 0 ? [0] : [-distance, distance]) {
      if (counter + delta >= 0 && hotp(p.secret, p.algorithm, p.digits, counter + delta) === code) return delta;
    }
  }
  return null;
}

interface KeyParameters {
  secret: Uint8Array;
  algorithm: Algorithm;
  digits: 6 | 7 | 8;
  period: number;
  epoch: number;
}

const keyParameters: fc.Arbitrary<KeyParameters> = fc.record({
  secret: fc.uint8Array({ minLength: 16, maxLength: 160 }),
  algorithm: fc.constantFrom<Algorithm>('SHA1', 'SHA256', 'SHA512'),
  digits: fc.constantFrom(6 as const, 7 as const, 8 as const),
  period: fc.oneof(fc.constant(30), fc.integer({ min: 1, max: 86_400 })),
  epoch: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000_000_000 })),
});

// A code and when it is checked: near-misses of a window code (decorated, shifted, truncated,
// non-ASCII digits), random digit strings, and arbitrary text.
const attempt = fc.record({
  timeOffsetMs: fc.oneof(fc.integer({ min: 0, max: 10_000_000_000_000 }), fc.double({ min: 0, max: 10_000_000_000_000, noNaN: true })),
  window: fc.integer({ min: 0, max: 10 }),
  step: fc.integer({ min: -12, max: 12 }),
  form: fc.constantFrom('exact', 'prefix', 'suffix', 'drop', 'fullwidth', 'random', 'text', 'other-length'),
  decoration: fc.constantFrom(' ', '0', '\n', '+', '-', '\u0000', '\u200b', 'x'),
  random: fc.stringMatching(/^[0-9]{1,10}$/),
  text: fc.string({ unit: 'binary', maxLength: 12 }),
});

type Attempt = typeof attempt extends fc.Arbitrary<infer A> ? A : never;

function codeFor(p: KeyParameters, timeMs: number, a: Attempt): string {
  const counter = Math.floor((timeMs - p.epoch * 1000) / (p.period * 1000)) + a.step;
  const valid = counter >= 0 ? hotp(p.secret, p.algorithm, p.digits, counter) : '0'.repeat(p.digits);
  switch (a.form) {
    case 'exact':
      return valid;
    case 'prefix':
      return a.decoration + valid;
    case 'suffix':
      return valid + a.decoration;
    case 'drop':
      return valid.slice(1);
    case 'fullwidth':
      return [...valid].map((d) => String.fromCharCode(0xff10 + Number(d))).join('');
    case 'random':
      return a.random;
    case 'other-length':
      return valid + valid;
    default:
      return a.text;
  }
}

describe.each(engineCases)('$name engine: codes and options under fuzzing', ({ engine, setUp, tearDown }) => {
  beforeAll(() => setUp?.());
  afterAll(() => tearDown?.());
  const once = oneShotOn(engine);

  it('answers check() and verify(), and the one-shot checkTotp, exactly as the RFC 4226 model says, cold and from the step cache', () => {
    fc.assert(
      fc.property(keyParameters, fc.array(attempt, { minLength: 1, maxLength: 6 }), (p, attempts) => {
        const parameters = { algorithm: p.algorithm, digits: p.digits, period: p.period, epoch: p.epoch };
        const key = keyOn(engine, p.secret, parameters);
        const base32 = encodeBase32(p.secret);
        for (const a of attempts) {
          const timeMs = p.epoch * 1000 + a.timeOffsetMs;
          const code = codeFor(p, timeMs, a);
          const want = modelCheck(code, p, timeMs, a.window);
          const options = { timeMs, window: a.window };
          expect(key.check(code, options)).toBe(want);
          expect(key.check(code, options)).toBe(want);
          expect(key.verify(code, options)).toBe(want !== null);
          expect(once.checkTotp(a.window % 2 === 0 ? base32 : p.secret, code, { ...parameters, ...options })).toBe(want);
        }
        key.destroy();
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on a code of any type or content, with good options', () => {
    const p: KeyParameters = { secret: new Uint8Array(20).fill(7), algorithm: 'SHA1', digits: 6, period: 30, epoch: 0 };
    const key = keyOn(engine, p.secret);
    const anyValue = fc.anything({ withBigInt: true, withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true });
    fc.assert(
      fc.property(anyValue, fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: MAX_TIME_MS }), (code, window, timeMs) => {
        const want = modelCheck(code, p, timeMs, window);
        expect(key.check(code as string, { window, timeMs })).toBe(want);
        expect(key.verify(code as string, { window, timeMs })).toBe(want !== null);
      }),
      { numRuns: RUNS },
    );
    key.destroy();
  });

  it('answers any options within the time range (null before the epoch), or throws ERR_OTP_OPTIONS exactly when they are out of range, never quoting the code', () => {
    const p: KeyParameters = { secret: new Uint8Array(32).fill(9), algorithm: 'SHA256', digits: 8, period: 30, epoch: 1000 };
    const key = keyOn(engine, p.secret, { algorithm: p.algorithm, digits: p.digits, period: p.period, epoch: p.epoch });
    const windowValue = fc.oneof(fc.integer({ min: -3, max: 13 }), fc.double(), fc.constantFrom(undefined, null, '1', true, 1n, [1], {}));
    const timeValue = fc.oneof(
      fc.integer({ min: -10, max: MAX_TIME_MS }),
      fc.double({ max: MAX_TIME_MS }),
      fc.constantFrom(undefined, null, '0', Number.NaN, Infinity, -Infinity, -0, 999_999, 1_000_000, 1n, new Date(0)),
    );
    fc.assert(
      fc.property(windowValue, timeValue, fc.boolean(), (window, timeMs, exact) => {
        const at = typeof timeMs === 'number' && Number.isFinite(timeMs) && timeMs >= 1_000_000 ? timeMs : 1_700_000_000_000;
        const code = exact ? hotp(p.secret, p.algorithm, p.digits, Math.floor((at - 1_000_000) / 30_000)) : '12345678';
        const windowOk = window === undefined || (Number.isInteger(window) && (window as number) >= 0 && (window as number) <= 10);
        const timeOk = timeMs === undefined || (typeof timeMs === 'number' && timeMs >= 0 && timeMs <= MAX_TIME_MS);
        const beforeEpoch = typeof timeMs === 'number' && timeMs < 1_000_000;
        const got = outcome(() => key.check(code, { window, timeMs } as never));
        if (windowOk && timeOk) {
          expect(got.error).toBeUndefined();
          // Before the epoch there is no step: every code is refused, none throws.
          if (beforeEpoch) expect(got.value).toBeNull();
          else if (timeMs !== undefined) expect(got.value).toBe(modelCheck(code, p, timeMs as number, (window as number | undefined) ?? 1));
        } else {
          expect(isOtpError(got.error, 'ERR_OTP_OPTIONS'), String(got.error)).toBe(true);
          expect((got.error as Error).message).not.toContain(code);
        }
      }),
      { numRuns: RUNS * 2 },
    );
    key.destroy();
  });
});

// Two gaps this file's properties found, fixed in src/ and kept as regressions:
describe('option checking at the edges', () => {
  it('treats a timeMs past the ECMAScript time range as a bad option on every engine (js throws RangeError, native saturates the step)', () => {
    const secret = new Uint8Array(20).fill(1);
    const engines = nativeEngine === undefined ? [jsEngine] : [jsEngine, nativeEngine];
    for (const engine of engines) {
      const key = keyOn(engine, secret);
      // Steps from 2^53 up: past exact integers in a double, where the engines part ways.
      for (const timeMs of [2 ** 53 * 30_000, 2 ** 63 * 30_000, 1e300]) {
        expect(isOtpError(outcome(() => key.verify('123456', { timeMs })).error, 'ERR_OTP_OPTIONS')).toBe(true);
        expect(isOtpError(outcome(() => key.generate(timeMs)).error, 'ERR_OTP_OPTIONS')).toBe(true);
      }
    }
  });

  it('throws OtpError ERR_OTP_OPTIONS, not a TypeError, for null or non-object options', () => {
    const key = TotpKey.fromBytes(new Uint8Array(20).fill(1));
    for (const options of [null, 5, 'window=1']) {
      expect(isOtpError(outcome(() => key.verify('123456', options as never)).error, 'ERR_OTP_OPTIONS')).toBe(true);
      expect(isOtpError(outcome(() => key.check('123456', options as never)).error, 'ERR_OTP_OPTIONS')).toBe(true);
    }
    expect(isOtpError(outcome(() => TotpKey.random(5 as never)).error, 'ERR_OTP_OPTIONS')).toBe(true);
  });
});
