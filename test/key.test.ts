import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';

import { TOTP_DEFAULTS, TotpKey } from 'totp-handshake';
import { encodeBase32 } from '../dist/base32.js';
import { nativeEngine } from '../dist/engine/index.js';
import { engineCases, keyOn } from './helpers/engines.js';
import { errorOf } from './helpers/throws.js';

const T = 1_700_000_000_000; // inside a step: 1_700_000_000 % 30 = 20
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('creating keys refuses', () => {
  it('secrets shorter than 16 bytes, saying why and not quoting them', () => {
    const error = errorOf(() => TotpKey.fromBase32('GEZDGNBVGY3TQOJQGEZDGNBV')); // 15 bytes
    expect(error.code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(error.message).toBe('a TOTP secret must be at least 16 bytes (128 bits, RFC 4226 §4); this one has 15 (to accept an existing shorter secret, pass minSecretBytes: 15)');
    expect(errorOf(() => TotpKey.fromBytes(new Uint8Array(15))).code).toBe('ERR_OTP_SECRET_LENGTH');
    expect(errorOf(() => TotpKey.random({ bytes: 15 })).code).toBe('ERR_OTP_SECRET_LENGTH');
  });

  it('secrets longer than 1024 bytes', () => {
    expect(errorOf(() => TotpKey.fromBytes(new Uint8Array(1025))).code).toBe('ERR_OTP_SECRET_LENGTH');
  });

  it('a non-Uint8Array secret and a fractional byte count', () => {
    expect(errorOf(() => TotpKey.fromBytes('12345678901234567890' as never)).code).toBe('ERR_OTP_OPTIONS');
    expect(errorOf(() => TotpKey.random({ bytes: 20.5 })).code).toBe('ERR_OTP_OPTIONS');
  });

  it.each([
    [{ algorithm: 'sha1' }, 'algorithm must be one of SHA1, SHA256, SHA512'],
    [{ algorithm: 'MD5' }, 'algorithm must be one of SHA1, SHA256, SHA512'],
    [{ digits: 5 }, 'digits must be 6, 7 or 8'],
    [{ digits: 9 }, 'digits must be 6, 7 or 8'],
    [{ digits: '6' }, 'digits must be 6, 7 or 8'],
    [{ period: 0 }, 'period must be a whole number of seconds'],
    [{ period: 1.5 }, 'period must be a whole number of seconds'],
    [{ period: 2 ** 31 }, 'period must be a whole number of seconds'],
    [{ epoch: -1 }, 'epoch must be a whole number of seconds, from 0 to 8640000000000'],
    [{ epoch: 0.5 }, 'epoch must be a whole number of seconds, from 0 to 8640000000000'],
    [{ epoch: 8.64e12 + 1 }, 'epoch must be a whole number of seconds, from 0 to 8640000000000'],
    ['SHA1', 'TOTP options must be an object'],
  ])('options %j, with ERR_OTP_OPTIONS', (options, message) => {
    const error = errorOf(() => TotpKey.fromBase32(SECRET, options as never));
    expect(error.code).toBe('ERR_OTP_OPTIONS');
    expect(error.message).toContain(message);
  });

  it('direct construction', () => {
    expect(() => new (TotpKey as unknown as new () => TotpKey)()).toThrow(TypeError);
  });
});

describe('TotpKey', () => {
  it('defaults to the RFC 6238 / oathtool parameters', () => {
    expect(TOTP_DEFAULTS).toEqual({ algorithm: 'SHA1', digits: 6, period: 30, epoch: 0 });
    expect(Object.isFrozen(TOTP_DEFAULTS)).toBe(true);
    const key = TotpKey.fromBase32(SECRET);
    expect([key.algorithm, key.digits, key.period, key.epoch]).toEqual(['SHA1', 6, 30, 0]);
  });

  it('makes random keys of 20 bytes by default from the CSPRNG, each different', () => {
    const a = TotpKey.random();
    const b = TotpKey.random();
    expect(a.toBase32()).toMatch(/^[A-Z2-7]{32}$/);
    expect(a.toBase32()).not.toBe(b.toBase32());
    expect(TotpKey.random({ bytes: 16 }).toBase32()).toHaveLength(26);
    expect(TotpKey.random({ bytes: 64, algorithm: 'SHA512' }).algorithm).toBe('SHA512');
  });

  it('copies the secret bytes it is given', () => {
    const bytes = new TextEncoder().encode('12345678901234567890');
    const key = TotpKey.fromBytes(bytes);
    bytes.fill(0);
    expect(key.generate(59_000)).toBe('287082');
    expect(key.toBase32()).toBe(SECRET);
  });

  it('has a short fingerprint id: stable for a secret, independent of options, not the secret', () => {
    const key = TotpKey.fromBase32(SECRET);
    expect(key.id).toMatch(/^[0-9a-f]{8}$/);
    expect(TotpKey.fromBase32(SECRET.toLowerCase(), { digits: 8, algorithm: 'SHA256' }).id).toBe(key.id);
    expect(TotpKey.random().id).not.toBe(key.id);
    expect(Buffer.from('12345678901234567890').toString('hex')).not.toContain(key.id);
  });

  it('keeps the secret out of util.inspect, JSON and String', () => {
    const key = TotpKey.fromBase32(SECRET);
    for (const text of [inspect(key), JSON.stringify(key), String(key), inspect(key, { showHidden: true, depth: 5 })]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('12345678901234567890');
    }
    expect(JSON.parse(JSON.stringify(key))).toEqual({ id: key.id, algorithm: 'SHA1', digits: 6, period: 30, epoch: 0 });
  });

  it('counts steps from the epoch', () => {
    const shifted = TotpKey.fromBase32(SECRET, { epoch: 1_000 });
    const plain = TotpKey.fromBase32(SECRET);
    expect(shifted.generate(1_000_000 + 59_000)).toBe(plain.generate(59_000));
    expect(shifted.check(plain.generate(59_000), { timeMs: 1_000_000 + 59_000 })).toBe(0);
  });

  it('honours window: 0 accepts only the current step, 2 reaches two steps back', () => {
    const key = TotpKey.random();
    const twoBack = key.generate(T - 60_000);
    const oneAhead = key.generate(T + 30_000);
    expect(key.check(twoBack, { timeMs: T })).toBeNull();
    expect(key.check(twoBack, { timeMs: T, window: 2 })).toBe(-2);
    expect(key.check(oneAhead, { timeMs: T, window: 0 })).toBeNull();
    expect(key.check(oneAhead, { timeMs: T })).toBe(1);
    expect(key.check(oneAhead, { timeMs: T, window: 0 })).toBeNull();
  });

  it('answers from the step cache exactly as from the engine, across steps and windows', () => {
    const key = TotpKey.random();
    const codes = [-3, -2, -1, 0, 1, 2, 3].map((d) => key.generate(T + d * 30_000));
    const expected = (delta: number, window: number) => (Math.abs(delta) <= window ? delta : null);
    for (const timeMs of [T, T + 9_999, T + 10_000, T - 20_001, T - 20_000, T + 40_000]) {
      for (const window of [1, 0, 3, 2]) {
        codes.forEach((code, i) => {
          const stepOfT = Math.floor(timeMs / 30_000) - Math.floor(T / 30_000);
          expect(key.check(code, { timeMs, window })).toBe(expected(i - 3 - stepOfT, window));
        });
      }
    }
  });

  it('verifies its own current code with the real clock', () => {
    const key = TotpKey.random();
    expect(key.verify(key.generate())).toBe(true);
  });
});

describe('TotpKey and the engine', () => {
  it('takes its id from the engine: the first 32 bits of SHA-256("totp-handshake key id\\0" || secret), on every engine', () => {
    const secret = new TextEncoder().encode('12345678901234567890');
    const want = createHash('sha256').update('totp-handshake key id\0').update(secret).digest('hex').slice(0, 8);
    for (const { engine } of engineCases) {
      const key = keyOn(engine, secret, { algorithm: 'SHA512', digits: 8 });
      expect(key.id).toBe(want);
      key.destroy();
      expect(key.id).toBe(want); // still there for the logs of a destroyed key
    }
    expect(TotpKey.fromBase32(SECRET).id).toBe(want);
  });

  it('keeps no copy of the secret in JavaScript: nothing reachable from the key holds its bytes', () => {
    const secret = new Uint8Array(20).map((_, i) => 200 - i);
    for (const { engine } of engineCases) {
      const key = keyOn(engine, secret);
      key.verify('123456', { timeMs: T });
      const seen = new Set<unknown>();
      const holds = (value: unknown, depth: number): boolean => {
        if (value === null || typeof value !== 'object' || seen.has(value) || depth > 6) return false;
        seen.add(value);
        if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes(Buffer.from(secret));
        return Reflect.ownKeys(value).some((name) => holds((value as Record<PropertyKey, unknown>)[name], depth + 1));
      };
      // Private fields are out of reach of Reflect; inspect shows them.
      expect(holds(key, 0)).toBe(false);
      expect(inspect(key, { showHidden: true, depth: 8 })).not.toMatch(/200, 199, 198/);
      expect(key.toBase32()).toBe(encodeBase32(secret));
      key.destroy();
    }
  });

  it('wipes and frees the engine state of keys dropped without destroy(), once the garbage collector has them', () => {
    const script = `
      const { setImmediate: tick } = require('node:timers/promises');
      const { TotpKey, HotpKey } = require(${JSON.stringify(require.resolve('../dist/index.js'))});
      const { nativeEngine, jsEngine } = require(${JSON.stringify(require.resolve('../dist/engine/index.js'))});
      const { createKeyOnEngine } = require(${JSON.stringify(require.resolve('../dist/key.js'))});
      const live = () => nativeEngine === undefined ? 0 : nativeEngine.arenaStats().liveKeys;
      let jsDestroyed = 0;
      const counting = { ...jsEngine, destroyKey: (key) => { if (jsEngine.destroyKey(key)) jsDestroyed++; return true; } };
      async function settle() { for (let i = 0; i < 6; i++) { gc(); await tick(); } }
      (async () => {
        const start = live();
        for (let i = 0; i < 1000; i++) TotpKey.random().verify('123456');        // one synchronous run: batches of 32
        for (let i = 0; i < 40; i++) { HotpKey.random(); await tick(); }         // one per turn: a batch each
        for (let i = 0; i < 100; i++) createKeyOnEngine(counting, new Uint8Array(20).fill(i));
        const destroyed = TotpKey.random(); destroyed.destroy();                  // its batch entry is refused later
        const kept = TotpKey.fromBase32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
        await tick();
        const made = live() - start;
        await settle();
        const afterGc = live() - start;
        const code = kept.generate(59000);
        kept.destroy();
        console.log(JSON.stringify({ made, afterGc, jsDestroyed, code, end: live() - start }));
      })();`;
    const result = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout);
    const native = nativeEngine !== undefined;
    expect(out.made).toBe(native ? 1041 : 0);
    // Only the kept key, and at most the siblings of its batch (keys made in its synchronous run: none here).
    expect(out.afterGc).toBe(native ? 1 : 0);
    expect(out.jsDestroyed).toBe(100);
    expect(out.code).toBe('287082');
    expect(out.end).toBe(0);
  });
});

describe('failing closed', () => {
  it('accepts nothing, and caches nothing, when an engine call gives no answer (a native throw that itself failed)', () => {
    for (const { engine } of engineCases) {
      const silent = { ...engine, findCode: () => undefined as unknown as number, findCounter: () => undefined as unknown as number };
      const key = keyOn(silent, new Uint8Array(20).fill(3));
      for (const code of ['000000', key.generate(T), '123456']) {
        expect(key.check(code, { timeMs: T })).toBeNull();
        expect(key.check(code, { timeMs: T })).toBeNull(); // and not from a cache of zeros
      }
      key.destroy();
    }
  });
});
