// totp-handshake/compat/otpauth against the real otpauth 9.5: Secret encodings, TOTP and HOTP
// (instances and static forms) over random secrets, algorithms (SHA-1/2/3 and other node
// digests), digits, periods, timestamps, counters, windows, custom HMAC functions and tokens,
// and URI parsing/printing. Values (with their exact types) and errors must agree; messages
// differ only where otpauth quotes a character of the secret.
import { createHmac } from 'node:crypto';

import fc from 'fast-check';
import * as original from 'otpauth';
import { describe as group, expect, it } from 'vitest';

import * as mine from '../dist/compat/otpauth.js';
import { base32Text, normalise, type Outcome, outcome, RUNS, tokenFrom } from './helpers/compat.js';

type Lib = typeof original;
const libs: [string, Lib][] = [
  ['otpauth', original],
  ['compat', mine as unknown as Lib],
];

const message = (text: string) => text.replace(/Invalid character found(?::.*| at position \d+)$/s, 'Invalid character found <where>');
const same = (run: (lib: Lib) => unknown) => {
  const [a, b] = libs.map(([, lib]) => normalise(outcome(() => run(lib)), message));
  expect(b).toEqual(a);
};

const ALGORITHMS = ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'SHA3-224', 'SHA3-256', 'SHA3-384', 'SHA3-512'];
const algorithm = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ALGORITHMS) },
  { weight: 2, arbitrary: fc.constantFrom('sha1', 'sha-256', 'SHA2-512', 'ssl3-sha1', 'sha3-256', undefined) },
  { weight: 1, arbitrary: fc.constantFrom('md5', 'ripemd160', 'sha512-256', 'nope') },
);
const digits = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(6, 7, 8) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 12 }) }, { weight: 1, arbitrary: fc.constantFrom(1.5, undefined) });
const windowSize = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, Number.NaN, undefined) });
const timestamp = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 4_102_444_800_000 }) }, { weight: 1, arbitrary: fc.constantFrom(-30_000, 1.5, 1e300, Number.NaN) });
const period = fc.oneof({ weight: 6, arbitrary: fc.constant(30) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 120 }) }, { weight: 1, arbitrary: fc.constantFrom(0.5, undefined) });
const secretBytes = fc.uint8Array({ minLength: 0, maxLength: 64 });

/** A custom HMAC (the same function for both): node:crypto under another name, or too short. */
const customHmac = fc.constantFrom(
  undefined,
  (alg: string, key: Uint8Array, message: Uint8Array) => createHmac(alg.toLowerCase().replace('-', ''), key).update(message).digest(),
  (_alg: string, key: Uint8Array, message: Uint8Array) => new Uint8Array(createHmac('sha256', key).update(message).digest()),
  () => new Uint8Array(10),
);

function token(valid: Outcome, choice: number, noise: string): unknown {
  if (!('value' in valid) || typeof valid.value !== 'string') return noise;
  return choice % 9 === 8 ? `${valid.value.slice(0, -1)}é` : tokenFrom(valid.value, choice, noise);
}

group('compat/otpauth against otpauth 9.5', () => {
  it('Secret: every encoding in and out, with the types otpauth returns', () => {
    fc.assert(
      fc.property(secretBytes, base32Text(secretBytes), fc.string({ maxLength: 30 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF g'), maxLength: 40 }), (bytes, b32, text, hex) => {
        same((lib) => {
          const s = new lib.Secret({ buffer: bytes.slice().buffer });
          return [s.bytes, s.base32, s.hex, s.latin1, s.utf8, Object.keys(s)];
        });
        same((lib) => lib.Secret.fromBase32(b32).bytes);
        same((lib) => lib.Secret.fromHex(hex).bytes);
        same((lib) => [lib.Secret.fromLatin1(text).bytes, lib.Secret.fromUTF8(text).bytes]);
        same((lib) => new lib.Secret({ buffer: bytes }).bytes);
        same((lib) => new lib.Secret({ size: bytes.length }).bytes.constructor.name);
      }),
      { numRuns: RUNS },
    );
  });

  it('TOTP instances: generate, validate (delta or null), counter, remaining, toString', () => {
    fc.assert(
      fc.property(
        fc.record({ secret: secretBytes, algorithm, digits, period, hmac: customHmac, issuer: fc.string({ maxLength: 6 }), label: fc.string({ maxLength: 6 }), issuerInLabel: fc.boolean() }, { requiredKeys: ['secret'] }),
        timestamp,
        windowSize,
        fc.integer({ min: -5, max: 5 }),
        fc.nat(),
        fc.string({ maxLength: 10 }),
        (config, at, window, shift, choice, noise) => {
          const build = (lib: Lib) => new lib.TOTP({ ...config, secret: new lib.Secret({ buffer: config.secret.slice().buffer }) } as never);
          const valid = outcome(() => build(original).generate({ timestamp: at + shift * Number(config.period ?? 30) * 1000 }));
          const t = token(valid, choice, noise);
          same((lib) => {
            const totp = build(lib);
            return Object.keys(totp);
          });
          same((lib) => build(lib).generate({ timestamp: at }));
          same((lib) => build(lib).validate({ token: t as string, timestamp: at, window }));
          same((lib) => [build(lib).counter({ timestamp: at }), build(lib).remaining({ timestamp: at })]);
          same((lib) => build(lib).toString());
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('TOTP and HOTP static forms take any node digest name and any counter', () => {
    const counter = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 2 ** 40 }) }, { weight: 2, arbitrary: fc.constantFrom(0, 1, -1, -2, 2 ** 53, 2 ** 64, 1.5, -0.5, Number.NaN) });
    fc.assert(
      fc.property(secretBytes, algorithm, digits, counter, windowSize, customHmac, fc.integer({ min: -5, max: 5 }), fc.nat(), fc.string({ maxLength: 10 }), (bytes, alg, d, c, window, hmac, shift, choice, noise) => {
        const args = (lib: Lib) => ({ secret: new lib.Secret({ buffer: bytes.slice().buffer }), algorithm: alg, digits: d, hmac });
        const valid = outcome(() => original.HOTP.generate({ ...args(original), counter: c + shift } as never));
        const t = token(valid, choice, noise);
        same((lib) => lib.HOTP.generate({ ...args(lib), counter: c } as never));
        same((lib) => lib.HOTP.validate({ ...args(lib), token: t, counter: c, window } as never));
        same((lib) => lib.TOTP.generate({ ...args(lib), timestamp: c * 1000 } as never));
        same((lib) => lib.TOTP.validate({ ...args(lib), token: t, timestamp: c * 30_000, window } as never));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('HOTP instances: generate moves the counter on, validate uses it', () => {
    fc.assert(
      fc.property(base32Text(fc.uint8Array({ minLength: 1, maxLength: 40 })), algorithm, digits, fc.integer({ min: 0, max: 1000 }), windowSize, fc.nat(), fc.string({ maxLength: 8 }), (secret, alg, d, c, window, choice, noise) => {
        const build = (lib: Lib) => new lib.HOTP({ secret, algorithm: alg, digits: d, counter: c } as never);
        const valid = outcome(() => build(original).generate({ counter: c + 1 }));
        const t = token(valid, choice, noise);
        same((lib) => {
          const h = build(lib);
          return [h.generate(), h.generate(), h.counter, h.validate({ token: t as string, window }), h.validate({ token: t as string, counter: c + 2 }), h.toString()];
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('URI.parse and URI.stringify agree on valid and malformed key URIs', () => {
    const part = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('', 'ACME', 'a%3Ab', 'x y', '%E0%A4%A', 'b:c'));
    const param = fc.tuple(
      fc.constantFrom('secret', 'issuer', 'algorithm', 'digits', 'period', 'counter', 'Secret', 'x'),
      fc.oneof(fc.constantFrom('JBSWY3DPEHPK3PXP', 'jbswy3dp', 'SHA256', 'sha3-512', 'md5', '8', '0', '+6', '-1', '30', '', 'A=B'), fc.string({ maxLength: 6 })),
    );
    fc.assert(
      fc.property(fc.constantFrom('totp', 'hotp', 'TOTP', 'xotp'), part, part, fc.array(param, { maxLength: 6 }), customHmac, (type, issuer, label, params, hmac) => {
        const uri = `otpauth://${type}/${issuer}${issuer ? ':' : ''}${label}?${params.map(([k, v]) => `${k}=${v}`).join('&')}`;
        const withSecret = `${uri}${params.length ? '&' : ''}secret=JBSWY3DPEHPK3PXP&counter=3`;
        same((lib) => {
          const parsed = lib.URI.parse(uri, { hmac } as never);
          return [parsed.constructor.name, lib.URI.stringify(parsed), parsed.secret.bytes];
        });
        same((lib) => {
          const parsed = lib.URI.parse(withSecret, { hmac } as never);
          return [parsed.constructor.name, lib.URI.stringify(parsed), parsed.secret.bytes, Object.keys(parsed)];
        });
      }),
      { numRuns: RUNS },
    );
    same((lib) => lib.URI.parse(42 as never));
    for (const input of [5, undefined, null, ['A']]) {
      same((lib) => lib.Secret.fromBase32(input as never));
      same((lib) => lib.Secret.fromHex(input as never));
      same((lib) => lib.Secret.fromLatin1(input as never));
      same((lib) => lib.Secret.fromUTF8(input as never));
    }
    same((lib) => lib.URI.stringify({} as never));
    same((lib) => [lib.TOTP.defaults, lib.HOTP.defaults, lib.version]);
  });
});
