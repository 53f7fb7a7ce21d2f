// totp-handshake/compat/speakeasy against the real speakeasy 2.0.0: secrets in every encoding
// (base32 of every length, with the decoder's quirks), Buffers, algorithms, digits and windows
// as numbers or strings, times, epochs, steps, counters, deprecated options and tokens. Values,
// errors and console warnings must agree.
import fc from 'fast-check';
import speakeasy from 'speakeasy';
import { afterEach, beforeEach, describe as group, expect, it, vi } from 'vitest';

import compat, * as named from '../dist/compat/speakeasy.js';
import { base32Text, outcome, RUNS, tokenFrom } from './helpers/compat.js';

type Lib = typeof speakeasy;
const libs: [string, Lib][] = [
  ['speakeasy', speakeasy],
  ['compat', compat as unknown as Lib],
];

let warnings: string[] = [];
beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

/** The outcome of `run` on each library, with the warnings each printed. */
function same(run: (lib: Lib) => unknown) {
  const [a, b] = libs.map(([, lib]) => {
    warnings = [];
    const result = outcome(() => run(lib));
    return { result, warnings };
  });
  expect(b).toEqual(a);
}

const encodedSecret = fc.oneof(
  { weight: 4, arbitrary: fc.record({ secret: fc.string({ maxLength: 40 }), encoding: fc.constantFrom('ascii', undefined) }) },
  { weight: 2, arbitrary: fc.record({ secret: fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 64 }), encoding: fc.constant('hex') }) },
  { weight: 2, arbitrary: fc.record({ secret: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')), encoding: fc.constant('base64') }) },
  { weight: 4, arbitrary: fc.record({ secret: base32Text(fc.uint8Array({ minLength: 0, maxLength: 40 })), encoding: fc.constant('base32') }) },
  { weight: 1, arbitrary: fc.record({ secret: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), encoding: fc.constantFrom('base32', 'ascii') }) },
  { weight: 1, arbitrary: fc.record({ secret: fc.constantFrom(undefined, '', 5, 'x'), encoding: fc.constantFrom('base32', 'ascii', 'utf16le', 'nope') }) },
);

const common = fc.record(
  {
    algorithm: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('sha1', 'sha256', 'sha512') }, { weight: 2, arbitrary: fc.constantFrom('SHA256', 'md5', 'sha3-256', 'nope', 5) }),
    digits: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(6, 7, 8) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 12 }) }, { weight: 1, arbitrary: fc.constantFrom('6', '8', 6.5, null) }),
    window: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 2, arbitrary: fc.constantFrom('1', '2', -1, 1.7, Number.NaN, null) }),
    step: fc.oneof({ weight: 6, arbitrary: fc.constant(30) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 120 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 0.5) }),
    epoch: fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(-30, 0.5)),
    length: fc.constantFrom(6, 8),
    key: fc.constantFrom('12345678901234567890'),
    initial_time: fc.constantFrom(0, 60),
  },
  { requiredKeys: [] },
);
// The deprecated names (length, key, initial_time) are in one call in ten.
const options = fc.tuple(common, fc.integer({ min: 0, max: 9 })).map(([o, n]) => {
  if (n === 0) return o;
  const { length: _l, key: _k, initial_time: _i, ...rest } = o;
  return rest;
});

const time = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 4_102_444_800 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1.5, -60, 2 ** 40, Number.NaN) });
const counter = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }, { weight: 2, arbitrary: fc.constantFrom(0, 2 ** 31, 2 ** 32 + 5, -1, -(2 ** 31), 1.5, '17', '1e3', Number.NaN) });

function tokenOf(valid: unknown, choice: number, noise: string): unknown {
  return typeof valid === 'string' ? tokenFrom(valid, choice, noise) : noise;
}

group('compat/speakeasy against speakeasy 2.0.0', () => {
  it('totp, totp.verifyDelta, totp.verify and the time alias agree', () => {
    fc.assert(
      fc.property(encodedSecret, options, time, fc.integer({ min: -5, max: 5 }), fc.nat(), fc.string({ maxLength: 10 }), (secret, o, t, shift, choice, noise) => {
        const base = { ...secret, ...o, time: t } as Record<string, any>;
        let valid: unknown;
        try {
          valid = speakeasy.totp({ ...base, time: t + shift * Number(o.step || 30) } as never);
        } catch {
          valid = undefined;
        }
        const token = tokenOf(valid, choice, noise);
        same((lib) => lib.totp(base as never));
        same((lib) => lib.time(base as never));
        same((lib) => lib.totp.verifyDelta({ ...base, token } as never));
        same((lib) => lib.totp.verify({ ...base, token } as never));
        same((lib) => lib._counter(base as never));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('hotp, counter, hotp.verifyDelta, hotp.verify and digest agree', () => {
    fc.assert(
      fc.property(encodedSecret, options, counter, fc.integer({ min: -2, max: 6 }), fc.nat(), fc.string({ maxLength: 10 }), (secret, o, c, shift, choice, noise) => {
        const base = { ...secret, ...o, counter: c } as Record<string, any>;
        let valid: unknown;
        try {
          valid = speakeasy.hotp({ ...base, counter: typeof c === 'number' ? c + shift : c } as never);
        } catch {
          valid = undefined;
        }
        const token = tokenOf(valid, choice, noise);
        same((lib) => lib.hotp(base as never));
        same((lib) => lib.counter(base as never));
        same((lib) => lib.digest(base as never));
        same((lib) => lib.hotp.verifyDelta({ ...base, token } as never));
        same((lib) => lib.hotp.verify({ ...base, token } as never));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('a given digest and a given TOTP counter are used as speakeasy uses them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), counter, fc.constantFrom(6, 8, '6'), (bytes, c, d) => {
        same((lib) => lib.hotp({ secret: 'x', counter: 1, digest: Buffer.from(bytes), digits: d } as never));
        same((lib) => lib.totp({ secret: 'x', counter: c, digits: d } as never));
        same((lib) => lib.totp.verifyDelta({ secret: 'x', counter: c, token: lib.hotp({ secret: 'x', counter: 3, digits: d } as never), window: 2, digits: d } as never));
      }),
      { numRuns: RUNS },
    );
  });

  it('otpauthURL agrees, warnings and errors included', () => {
    const field = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(undefined, '', 'a b#?', 'x:y'));
    fc.assert(
      fc.property(
        fc.record(
          {
            secret: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('JBSWY3DPEHPK3PXP', undefined)),
            label: field,
            issuer: field,
            type: fc.constantFrom('totp', 'hotp', 'HOTP', 'other', undefined, 5),
            counter: fc.constantFrom(undefined, 0, 5, null),
            algorithm: fc.constantFrom(undefined, 'sha1', 'SHA256', 'md5', 5),
            digits: fc.constantFrom(undefined, 6, 8, 7, '6', 'x'),
            period: fc.constantFrom(undefined, 30, '60', 'x', 2 ** 33),
            encoding: fc.constantFrom(undefined, 'ascii', 'base32', 'hex'),
          },
          { requiredKeys: [] },
        ),
        (o) => same((lib) => lib.otpauthURL(o as never)),
      ),
      { numRuns: RUNS },
    );
  });

  it('generateSecret gives the same shapes from the same character set', () => {
    for (const o of [undefined, {}, { length: 20 }, { symbols: false }, { name: 'me@x', otpauth_url: false }, { qr_codes: true, google_auth_qr: true, length: 10 }]) {
      const shape = (lib: Lib) => {
        warnings = [];
        const s = lib.generateSecret(o as never) as unknown as Record<string, string>;
        const keys = Object.keys(s);
        const url = s.otpauth_url?.replace(/secret=[^&]*/, 'secret=S');
        return { keys, length: s.ascii?.length, url, hexOk: s.hex === Buffer.from(s.ascii as string).toString('hex'), warnings };
      };
      expect(shape(compat as unknown as Lib)).toEqual(shape(speakeasy));
      const s = compat.generateSecret(o);
      expect(s.base32).toBe(Buffer.from(s.ascii).length ? speakeasy.otpauthURL({ secret: s.ascii, label: 'x' }).match(/secret=([^&]*)/)?.[1] : '');
    }
    const set = new Set([...Array.from({ length: 300 }, () => named.generateSecretASCII(32, true)).join('')]);
    const theirs = new Set([...Array.from({ length: 300 }, () => speakeasy.generateSecretASCII(32, true)).join('')]);
    expect([...set].sort()).toEqual([...theirs].sort());
  });

  it('the default export and the named exports are the same functions', () => {
    expect(compat.totp).toBe(named.totp);
    expect(compat.hotp.verifyDelta).toBe(named.hotp.verifyDelta);
    expect(named.time).toBe(named.totp);
    expect(named.counter).toBe(named.hotp);
    const keys = Object.keys(speakeasy).sort();
    expect(Object.keys(compat).sort()).toEqual(keys);
  });
});
