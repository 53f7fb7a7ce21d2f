// totp-handshake/compat/otplib against the real otplib 12 (npm alias otplib12) and otplib 13:
// the same calls on random secrets, encodings, times, windows, digits, algorithms and tokens
// (valid, near misses, malformed) must give the same values, of the same types, and the same
// errors. Messages differ only where the original quotes a character of the secret.
import { createHmac } from 'node:crypto';

import fc from 'fast-check';
import * as v13 from 'otplib';
import * as v12 from 'otplib12';
import { describe as group, expect, it } from 'vitest';

import * as mine from '../dist/compat/otplib.js';
import { base32, base32Text, normalise, type Outcome, outcome, outcomeAsync, RUNS, tokenFrom } from './helpers/compat.js';

type Lib12 = typeof v12;
type AnyOtp = { clone(): AnyOtp; options: Record<string, unknown> } & Record<string, (...args: any[]) => any>;

const libs12: [string, Lib12][] = [
  ['otplib 12', v12],
  ['compat', mine as unknown as Lib12],
];

const withOptions = (base: unknown, options: Record<string, unknown>): AnyOtp => {
  const instance = (base as AnyOtp).clone();
  instance.options = options;
  return instance;
};

// ---- otplib 12 ----------------------------------------------------------------------------------

const v12Options = fc.record(
  {
    algorithm: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('sha1', 'sha256', 'sha512') }, { weight: 1, arbitrary: fc.constantFrom('SHA1', 'md5', undefined) }),
    digits: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(6, 7, 8) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 12 }) }, { weight: 1, arbitrary: fc.constantFrom(1.5, '6', Number.NaN) }),
    encoding: fc.oneof({ weight: 4, arbitrary: fc.constant('ascii') }, { weight: 3, arbitrary: fc.constantFrom('hex', 'base64', 'latin1', 'utf8') }, { weight: 1, arbitrary: fc.constantFrom('binary', 'base32') }),
    epoch: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 4_102_444_800_000 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, -45_000, 59_999.5, 1e300, Number.NaN, '100') }),
    step: fc.oneof({ weight: 6, arbitrary: fc.constant(30) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 120 }) }, { weight: 1, arbitrary: fc.constantFrom(0.5, 0, -30, '30') }),
    window: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) },
      { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })) },
      { weight: 1, arbitrary: fc.constantFrom(-2, 1.5, Number.NaN, 'x', [1], [-1, -2]) },
    ),
  },
  { requiredKeys: ['epoch'] },
);

const textSecret = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 80 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, 5, Buffer.from('abc'), ['a'], {}) },
) as fc.Arbitrary<string>;

/** A token for instance `base` under `options`: its code `shift` steps away, mangled by `choice`. */
function v12Token(base: unknown, options: Record<string, any>, secret: string, shift: number, choice: number, noise: string): unknown {
  const at = withOptions(base, { ...options, epoch: typeof options.epoch === 'number' ? options.epoch + shift * Number(options.step ?? 30) * 1000 : options.epoch });
  const valid = outcome(() => at.generate(secret));
  return 'value' in valid && typeof valid.value === 'string' ? tokenFrom(valid.value, choice, noise) : noise;
}

function v12TotpCalls(instance: AnyOtp, secret: unknown, token: unknown) {
  return {
    generate: outcome(() => instance.generate(secret)),
    checkDelta: outcome(() => instance.checkDelta(token, secret)),
    check: outcome(() => instance.check(token, secret)),
    verify: outcome(() => instance.verify({ token, secret })),
    timeUsed: outcome(() => instance.timeUsed()),
    timeRemaining: outcome(() => instance.timeRemaining()),
    allOptions: outcome(() => instance.allOptions()),
    options: outcome(() => instance.options),
  };
}

group('compat/otplib, v12 objects, against otplib 12', () => {
  it('totp: generate, checkDelta, check, verify, timeUsed, timeRemaining and options agree', () => {
    fc.assert(
      fc.property(v12Options, textSecret, fc.integer({ min: -4, max: 4 }), fc.nat(), fc.string({ maxLength: 8 }), (options, secret, shift, choice, noise) => {
        const token = v12Token(v12.totp, options, secret, shift, choice, noise);
        const [a, b] = libs12.map(([, lib]) => v12TotpCalls(withOptions(lib.totp, options), secret, token));
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('authenticator: base32 secrets as people write them, decode and encode agree', () => {
    fc.assert(
      fc.property(v12Options, fc.oneof({ weight: 12, arbitrary: base32Text(fc.uint8Array({ minLength: 1, maxLength: 40 })) }, { weight: 1, arbitrary: textSecret }), fc.integer({ min: -4, max: 4 }), fc.nat(), fc.string({ maxLength: 8 }), (options, secret, shift, choice, noise) => {
        const token = v12Token(v12.authenticator, options, secret, shift, choice, noise);
        const [a, b] = libs12.map(([, lib]) => {
          const instance = withOptions(lib.authenticator, options);
          return { ...v12TotpCalls(instance, secret, token), decode: outcome(() => instance.decode(secret)), encode: outcome(() => instance.encode(Buffer.from(secret).toString('hex'))) };
        });
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('hotp: generate, check and verify agree for every kind of counter', () => {
    const counter = fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 2 ** 40 }) },
      { weight: 1, arbitrary: fc.constantFrom(0, Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 64, -1, -300, 1.5, Number.NaN, '10', 'ff') },
    );
    fc.assert(
      fc.property(v12Options, textSecret, counter, fc.nat(), fc.string({ maxLength: 8 }), (options, secret, at, choice, noise) => {
        const { window: _w, epoch: _e, step: _s, ...hotpOptions } = options;
        const valid = outcome(() => withOptions(v12.hotp, hotpOptions).generate(secret, at));
        const token = 'value' in valid && typeof valid.value === 'string' ? tokenFrom(valid.value, choice, noise) : noise;
        const [a, b] = libs12.map(([, lib]) => {
          const instance = withOptions(lib.hotp, hotpOptions);
          return {
            generate: outcome(() => instance.generate(secret, at)),
            check: outcome(() => instance.check(token, secret, at)),
            verify: outcome(() => instance.verify({ token, secret, counter: at })),
            keyuri: outcome(() => instance.keyuri('user@example.com', 'ACME', secret, at)),
          };
        });
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS },
    );
  });

  it('keyuri, create, clone, resetOptions and plugin options agree', () => {
    const text = fc.string({ maxLength: 12 });
    fc.assert(
      fc.property(v12Options, text, text, textSecret, (options, account, issuer, secret) => {
        const [a, b] = libs12.map(([, lib]) => {
          const instance = withOptions(lib.authenticator, options);
          const cloned = instance.clone();
          const created = lib.totp.create({ createDigest: (alg: string, key: string, counter: string) => createHmac(alg, Buffer.from(key, 'hex')).update(Buffer.from(counter, 'hex')).digest('hex') } as never);
          const decoding = withOptions(lib.authenticator, { ...options, keyDecoder: (text: string, encoding: BufferEncoding) => Buffer.from(text).toString(encoding), keyEncoder: (text: string) => `<${text}>` });
          created.options = { epoch: options.epoch, digest: 'ab'.repeat(20), digits: 8 } as never;
          const reset = withOptions(lib.totp, options);
          reset.resetOptions();
          return {
            keyuri: outcome(() => instance.keyuri(account, issuer, secret)),
            totpKeyuri: outcome(() => withOptions(lib.totp, options).keyuri(account, issuer, secret)),
            cloned: outcome(() => cloned.options),
            createdGenerate: outcome(() => created.generate(secret)),
            createdOptions: outcome(() => created.allOptions()),
            bare: outcome(() => lib.authenticator.create().generate(secret)),
            customDecoder: outcome(() => [decoding.generate(secret), decoding.checkDelta(decoding.generate(secret), secret), decoding.encode(secret)]),
            reset: outcome(() => reset.options),
            keys: Object.keys(instance),
          };
        });
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS },
    );
  });

  it('generateSecret gives base32 of the requested size that generate accepts', () => {
    for (const size of [undefined, 1, 10, 16, 20, 32]) {
      const secret = mine.authenticator.generateSecret(size);
      const original = v12.authenticator.generateSecret(size);
      expect(secret).toMatch(/^[A-Z2-7]+$/);
      expect(secret.length).toBe(original.length);
      const at = (lib: Lib12) => withOptions(lib.authenticator, { epoch: 1_700_000_000_000 }).generate(secret);
      expect(at(v12)).toBe(at(mine as unknown as Lib12));
    }
    // The original clears the top bit of every byte (it goes through an ASCII string); the
    // compat layer keeps all of them: over 200 secrets of 10 bytes, some byte has it set.
    const topBits = Array.from({ length: 200 }, () => Buffer.from(mine.authenticator.decode(mine.authenticator.generateSecret()), 'hex')).some((bytes) => bytes.some((b) => b >= 0x80));
    expect(topBits).toBe(true);
  });
});

// ---- otplib 13 ----------------------------------------------------------------------------------

const v13Secret = fc.oneof(
  { weight: 6, arbitrary: base32Text(fc.uint8Array({ minLength: 16, maxLength: 64 })) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 70 }) },
  { weight: 1, arbitrary: base32Text(fc.uint8Array({ minLength: 1, maxLength: 80 })) },
  { weight: 1, arbitrary: fc.constantFrom('', undefined, null, 5) },
);

const customCrypto = {
  name: 'node-test',
  algorithms: ['sha1', 'sha256'] as const,
  hmac: (algorithm: string, key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac(algorithm, key).update(data).digest()),
  randomBytes: (n: number) => new Uint8Array(n),
  constantTimeEqual: (a: string | Uint8Array, b: string | Uint8Array) => String(a) === String(b),
};
const asyncCrypto = { ...customCrypto, name: 'node-async', hmac: async (algorithm: string, key: Uint8Array, data: Uint8Array) => customCrypto.hmac(algorithm, key, data) };
const hooks = { encodeToken: (value: number, digits: number) => String(value % 10 ** digits).padStart(digits, '9') };
const validateHook = {
  validateToken: (token: string) => {
    if (typeof token !== 'string' || token.length < 4) throw new Error('token too short');
  },
};
const truncateHook = { truncateDigest: (mac: Uint8Array) => ((mac[0] as number) << 8) | (mac[1] as number) };
const customBase32 = { name: 'hex-as-base32', encode: (data: Uint8Array) => Buffer.from(data).toString('hex'), decode: (text: string) => new Uint8Array(Buffer.from(text, 'hex')) };

const v13Options = fc.record(
  {
    epoch: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 4_102_444_800 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 59.5, Number.NaN, Number.POSITIVE_INFINITY, 1e20) }),
    t0: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -200, max: 200 }) }, { weight: 1, arbitrary: fc.constantFrom(0.5, -1e18) }),
    period: fc.oneof({ weight: 6, arbitrary: fc.constant(30) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 3600 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1.5, 3601, -30) }),
    algorithm: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('sha1', 'sha256', 'sha512') }, { weight: 2, arbitrary: fc.constantFrom('SHA1', 'sha-256', 'SHA_512', 'md5', 'sha384') }),
    digits: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(6, 7, 8) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 10 }) }),
    epochTolerance: fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 120 }) },
      { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 90 }), fc.integer({ min: 0, max: 90 })) },
      { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 100_000, [5, -5]) },
    ),
    afterTimeStep: fc.oneof(fc.integer({ min: 0, max: 140_000_000 }), fc.constantFrom(-1, 1.5)),
    guardrails: fc.constantFrom(undefined, { MIN_SECRET_BYTES: 10 }, { MAX_WINDOW: 3 }, { MAX_COUNTER: 1000 }),
    crypto: fc.constantFrom(undefined, customCrypto, asyncCrypto),
    hooks: fc.constantFrom(undefined, hooks, {}, validateHook, truncateHook),
    base32: fc.constantFrom(undefined, undefined, undefined, customBase32),
  },
  { requiredKeys: ['epoch'] },
);

// otplib quotes a bad base32 letter; the compat layer gives its position.
const v13Message = (message: string) => message.replace(/Unknown letter (?:".*"|at position \d+)\. Allowed:/s, 'Unknown letter <where>. Allowed:');

function prepare(lib: typeof v13, raw: Record<string, any>) {
  const { guardrails, ...options } = raw;
  return { ...options, ...(guardrails === undefined ? {} : { guardrails: lib.createGuardrails(guardrails) }) };
}

async function v13Calls(lib: typeof v13, options: Record<string, any>): Promise<Record<string, Outcome>> {
  const o = prepare(lib, options);
  const { afterTimeStep, ...noAfter } = o;
  const results: Record<string, Outcome> = {
    generateSync: outcome(() => lib.generateSync(o as never)),
    generate: await outcomeAsync(() => lib.generate(o as never)),
    verifySync: outcome(() => lib.verifySync(noAfter as never)),
    verify: await outcomeAsync(() => lib.verify(noAfter as never)),
    verifyAfter: outcome(() => lib.verifySync({ ...o, afterTimeStep } as never)),
  };
  for (const key of Object.keys(results)) results[key] = normalise(results[key] as Outcome, v13Message);
  return results;
}

group('compat/otplib, v13 functional API, against otplib 13', () => {
  it('TOTP: generate, verify and their Sync forms agree, { valid, delta, epoch, timeStep } included', async () => {
    await fc.assert(
      fc.asyncProperty(v13Options, v13Secret, fc.integer({ min: -5, max: 5 }), fc.nat(), fc.string({ maxLength: 10 }), async (options, secret, shift, choice, noise) => {
        const base = { ...options, secret };
        const at = typeof options.epoch === 'number' ? options.epoch + shift * Number(options.period ?? 30) : options.epoch;
        const valid = outcome(() => v13.generateSync(prepare(v13, { ...base, epoch: at }) as never));
        const token = 'value' in valid && typeof valid.value === 'string' ? tokenFrom(valid.value, choice, noise) : noise;
        const [a, b] = [await v13Calls(v13, { ...base, token }), await v13Calls(mine as unknown as typeof v13, { ...base, token })];
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('HOTP: generate and verify with counter tolerances agree', async () => {
    const counter = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 2 ** 40 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 3, Number.MAX_SAFE_INTEGER, -1, 1.5, 10n, 2 ** 60) });
    const tolerance = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })), fc.constantFrom(-1, 200, [1, -1]));
    await fc.assert(
      fc.asyncProperty(v13Options, v13Secret, counter, tolerance, fc.integer({ min: -6, max: 6 }), fc.nat(), fc.string({ maxLength: 10 }), async (options, secret, at, counterTolerance, shift, choice, noise) => {
        const base = { ...options, secret, strategy: 'hotp', counter: at, counterTolerance };
        const shifted = typeof at === 'number' ? at + shift : at;
        const valid = outcome(() => v13.generateSync(prepare(v13, { ...base, counter: shifted }) as never));
        const token = 'value' in valid && typeof valid.value === 'string' ? tokenFrom(valid.value, choice, noise) : noise;
        const [a, b] = [await v13Calls(v13, { ...base, token }), await v13Calls(mine as unknown as typeof v13, { ...base, token })];
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS },
    );
  });

  it('generateURI, generateSecret and strategy errors agree', () => {
    const text = fc.string({ maxLength: 12 });
    fc.assert(
      fc.property(text, text, v13Options, fc.constantFrom('totp', 'hotp', 'other', undefined), fc.option(fc.nat()), (issuer, label, options, strategy, counter) => {
        const uri = (lib: typeof v13) =>
          outcome(() =>
            lib.generateURI({ issuer, label, secret: base32(new Uint8Array(20).fill(7)), algorithm: options.algorithm, digits: options.digits, period: options.period, strategy, counter: counter ?? undefined } as never),
          );
        expect(uri(mine as unknown as typeof v13)).toEqual(uri(v13));
        const noCounter = (lib: typeof v13) => outcome(() => lib.generateSync({ secret: 'A'.repeat(32), strategy } as never));
        expect(noCounter(mine as unknown as typeof v13)).toEqual(noCounter(v13));
      }),
      { numRuns: RUNS },
    );
    for (const length of [undefined, 16, 20, 64]) {
      const secret = mine.generateSecret(length === undefined ? undefined : { length });
      expect(secret.length).toBe(v13.generateSecret(length === undefined ? undefined : { length }).length);
      expect(v13.verifySync({ secret, token: mine.generateSync({ secret, epoch: 1_700_000_000 }), epoch: 1_700_000_000 }).valid).toBe(true);
    }
    for (const length of [-1, 1.5, '3', 65_537]) {
      const run = (lib: typeof v13) => outcome(() => lib.generateSecret({ length } as never));
      expect(run(mine as unknown as typeof v13)).toEqual(run(v13));
    }
  });

  it('errors carry otplib 13 names, and its exported classes match them', () => {
    const run = (lib: typeof v13) => {
      try {
        lib.verifySync({ secret: 'JBSWY3DPEHPK3PXP', token: '123456' });
      } catch (error) {
        return error;
      }
    };
    const error = run(mine as unknown as typeof v13) as Error;
    expect(error).toBeInstanceOf(mine.SecretTooShortError);
    expect(error).toBeInstanceOf(mine.OTPError);
    expect(error.name).toBe((run(v13) as Error).name);
    expect(new mine.AlgorithmUnsupportedError('md5', { supported: ['sha1'], plugin: 'x' }).message).toBe(new v13.AlgorithmUnsupportedError('md5', { supported: ['sha1'], plugin: 'x' }).message);
    expect(mine.stringToBytes('12')).toEqual(v13.stringToBytes('12'));
  });
});
