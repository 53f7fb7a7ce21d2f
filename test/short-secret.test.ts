// Secrets shorter than RFC 4226's 128 bits: refused by default, accepted with the explicit opt-in
// `minSecretBytes` (issue 11: 10-byte secrets are common in existing enrolments). The engines
// take 16 bytes and up, so a short secret reaches them zero-padded to 16; these tests prove that
// this is the same HMAC key by asking references no one here wrote (oathtool, Python's hmac)
// for the codes of the unpadded secret, on every engine.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { checkHotp, checkTotp, generateHotp, generateTotp, HotpKey, TotpKey, verifyTotp } from 'totp-handshake';
import { encodeBase32 } from '../dist/base32.js';
import { createKeyFromBase32OnEngine } from '../dist/key.js';
import { engineCases, hotpKeyOn, inCi, keyOn, oneShotOn } from './helpers/engines.js';
import { errorOf } from './helpers/throws.js';

const ALGORITHMS = ['SHA1', 'SHA256', 'SHA512'] as const;
const LENGTHS = [1, 5, 10, 15];
const TIMES = [59, 1_111_111_109, 1_234_567_890, 2_000_000_000];

interface Case {
  secret: Uint8Array;
  algorithm: (typeof ALGORITHMS)[number];
  digits: 6 | 7 | 8;
  counter: number;
}

// Every length with every hash, each with its own random secret (fixed for the run).
const cases: Case[] = LENGTHS.flatMap((length) =>
  ALGORITHMS.flatMap((algorithm, a) =>
    TIMES.map((time, t) => ({ secret: randomBytes(length), algorithm, digits: ([6, 7, 8] as const)[(a + t) % 3] as 6 | 7 | 8, counter: Math.floor(time / 30) })),
  ),
);

/** RFC 4226 codes for `cases`, from Python's hmac with the secret as it is (no padding). */
function pythonCodes(): string[] {
  const script = [
    'import hmac, json, struct, sys',
    'out = []',
    'for c in json.load(sys.stdin):',
    '    mac = hmac.new(bytes.fromhex(c["key"]), struct.pack(">Q", c["counter"]), c["algorithm"]).digest()',
    '    o = mac[-1] & 15',
    '    v = int.from_bytes(mac[o:o + 4], "big") & 0x7fffffff',
    '    out.append(str(v % 10 ** c["digits"]).zfill(c["digits"]))',
    'print(json.dumps(out))',
  ].join('\n');
  const input = JSON.stringify(cases.map((c) => ({ key: Buffer.from(c.secret).toString('hex'), counter: c.counter, algorithm: c.algorithm.toLowerCase(), digits: c.digits })));
  return JSON.parse(execFileSync('python3', ['-c', script], { input, encoding: 'utf8' })) as string[];
}

const oathtool = spawnSync('oathtool', ['--version'], { encoding: 'utf8' }).status === 0;
if (!oathtool && inCi) {
  it('oathtool is installed (CI runs .ci/run, which installs it)', () => expect.fail('oathtool is not installed'));
}

describe('short secrets are refused unless the caller opts in', () => {
  const tenBytes = randomBytes(10);

  it('every entry point refuses a 10-byte secret by default, and the error names the opt-in', () => {
    const base32 = encodeBase32(tenBytes);
    const calls = [
      () => TotpKey.fromBytes(tenBytes),
      () => TotpKey.fromBase32(base32),
      () => TotpKey.fromUri(`otpauth://totp/x?secret=${base32}`),
      () => HotpKey.fromBytes(tenBytes),
      () => HotpKey.fromBase32(base32),
      () => checkTotp(base32, '123456'),
      () => checkTotp(tenBytes, 'not a code'), // a bad code does not hide a bad secret
      () => generateTotp(tenBytes),
      () => checkHotp(base32, '123456', 0),
      () => generateHotp(tenBytes, 0),
    ];
    for (const call of calls) {
      const error = errorOf(call);
      expect(error.code).toBe('ERR_OTP_SECRET_LENGTH');
      expect(error.message).toMatch(/at least 16 bytes.*this one has 10.*minSecretBytes: 10/);
    }
  });

  it('minSecretBytes lowers the floor to what it says, and no further', () => {
    const nine = randomBytes(9);
    const error = errorOf(() => TotpKey.fromBytes(nine, { minSecretBytes: 10 }));
    expect(error.code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(error.message).toMatch(/at least 10 bytes \(minSecretBytes\); this one has 9$/);
    expect(errorOf(() => verifyTotp(nine, '123456', { minSecretBytes: 10 })).code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(errorOf(() => generateHotp(nine, 0, { minSecretBytes: 10 })).code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(TotpKey.fromBytes(nine, { minSecretBytes: 9 }).toBase32()).toBe(encodeBase32(nine));
  });

  it('refuses a minSecretBytes that is not a whole number from 1 to 16, even with a long secret', () => {
    const long = randomBytes(20);
    for (const bad of [0, 17, 1.5, -1, '10', null, Number.NaN]) {
      const options = { minSecretBytes: bad as number };
      for (const call of [
        () => TotpKey.fromBytes(long, options),
        () => TotpKey.fromUri(`otpauth://totp/x?secret=${encodeBase32(long)}`, options),
        () => HotpKey.fromBytes(long, options),
        () => checkTotp(long, '123456', options),
        () => checkTotp(long, 'bad', options),
        () => generateTotp(long, options),
        () => checkHotp(long, '123456', 0, options),
        () => generateHotp(long, 0, options),
      ]) {
        const error = errorOf(call);
        expect(error.code).toBe('ERR_OTP_OPTIONS');
        expect(error.message).toMatch(/minSecretBytes must be a whole number from 1 to 16/);
      }
    }
  });

  it('random keys are never short: minSecretBytes is not one of their options', () => {
    expect(errorOf(() => TotpKey.random({ minSecretBytes: 10 } as never)).message).toMatch(/minSecretBytes/);
    expect(errorOf(() => HotpKey.random({ minSecretBytes: 10 } as never)).message).toMatch(/minSecretBytes/);
  });
});

describe.each(engineCases)('short secrets on the $name engine', ({ engine, setUp, tearDown }) => {
  const expected = pythonCodes();
  const once = oneShotOn(engine);
  const withSetUp = (test: () => void) => () => {
    setUp?.();
    try {
      test();
    } finally {
      tearDown?.();
    }
  };

  it(
    'keys, one-shots and HOTP give the codes Python\'s hmac computes from the unpadded secret',
    withSetUp(() => {
      cases.forEach(({ secret, algorithm, digits, counter }, i) => {
        const options = { algorithm, digits, minSecretBytes: secret.length };
        const code = expected[i] as string;
        const timeMs = counter * 30_000;
        const key = keyOn(engine, secret, options);
        const fromText = createKeyFromBase32OnEngine(engine, encodeBase32(secret), options);
        const hotp = hotpKeyOn(engine, secret, options);
        expect([key.generate(timeMs), fromText.generate(timeMs), hotp.generate(counter)]).toEqual([code, code, code]);
        expect([key.check(code, { timeMs }), fromText.check(code, { timeMs: timeMs + 30_000 }), hotp.check(code, Math.max(0, counter - 3), { lookAhead: 5 })]).toEqual([0, -1, counter]);
        expect(once.generateTotp(secret, { ...options, timeMs })).toBe(code);
        expect(once.checkTotp(encodeBase32(secret), code, { ...options, timeMs: timeMs - 30_000 })).toBe(1);
        expect(once.generateHotp(encodeBase32(secret), counter, options)).toBe(code);
        expect(once.checkHotp(secret, code, counter, options)).toBe(counter);
        for (const made of [key, fromText, hotp]) made.destroy();
      });
    }),
  );

  it(
    'a short key keeps its own secret: toBase32, toUri and equals see the unpadded bytes',
    withSetUp(() => {
      const secret = randomBytes(10);
      const key = keyOn(engine, secret, { minSecretBytes: 10 });
      expect(key.toBase32()).toBe(encodeBase32(secret));
      expect(key.toBase32()).toHaveLength(16); // 10 bytes are 16 base32 symbols
      const again = TotpKey.fromUri(key.toUri('alice'), { minSecretBytes: 10 });
      expect(again.equals(key)).toBe(true);
      // The same bytes with zeros appended to 16 make the same codes, but they are not the same secret.
      const padded = new Uint8Array(16);
      padded.set(secret);
      const long = keyOn(engine, padded);
      expect(long.generate(1e12)).toBe(key.generate(1e12));
      expect(long.equals(key)).toBe(false);
      expect(errorOf(() => TotpKey.fromUri(key.toUri())).code).toBe('ERR_OTP_SECRET_LENGTH');
      for (const made of [key, again, long]) made.destroy();
    }),
  );
});

describe.skipIf(!oathtool)('short secrets agree with oathtool', () => {
  it.each(LENGTHS)('a %i-byte secret: oathtool --totp and --hotp, hex key as given, on the three hashes', (length) => {
    const secret = randomBytes(length);
    const hex = Buffer.from(secret).toString('hex');
    for (const algorithm of ALGORITHMS) {
      for (const at of TIMES) {
        const digits = 8;
        const theirs = execFileSync('oathtool', [`--totp=${algorithm.toLowerCase()}`, `--now=@${at}`, '-d', String(digits), hex], { encoding: 'utf8' }).trim();
        expect(generateTotp(secret, { algorithm, digits, timeMs: at * 1000, minSecretBytes: length })).toBe(theirs);
        expect(checkTotp(encodeBase32(secret), theirs, { algorithm, digits, timeMs: at * 1000, minSecretBytes: length })).toBe(0);
      }
    }
    const hotp = execFileSync('oathtool', ['--hotp', '-c', '7', hex], { encoding: 'utf8' }).trim();
    expect(HotpKey.fromBytes(secret, { minSecretBytes: length }).check(hotp, 0, { lookAhead: 10 })).toBe(7);
  });
});
