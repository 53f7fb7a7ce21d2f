// The keyring document and the schedule owners verify with, without etcd: strict decoding that
// never quotes a secret, and which keys are accepted when (activation, grace, a key that arrives
// late, a published key before its activation).
import { TotpKey } from 'totp-handshake';
import { describe, expect, it } from 'vitest';

import { decodeRing, encodeRing, MAX_RING_KEYS, Schedule } from '../dist/cluster/keyring.js';
import { expectNoSecrets, secretsOf } from './helpers/handshake-fs.js';

const WHERE = '/totp-handshake/test/ring';
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

describe('the keyring document', () => {
  it('round-trips keys, activation times, grace and writer', () => {
    const keys = [TotpKey.random(), TotpKey.random({ digits: 8, algorithm: 'SHA256', period: 60 })];
    const ring = decodeRing(encodeRing({ grace: 60_000, by: 'api-1', keys: [{ key: keys[0]!, activeAt: 1000 }, { key: keys[1]!, activeAt: 2000 }] }), WHERE);
    expect(ring.grace).toBe(60_000);
    expect(ring.by).toBe('api-1');
    expect(ring.keys.map(({ key, activeAt }) => [key.id, key.digits, activeAt])).toEqual([
      [keys[0]!.id, 6, 1000],
      [keys[1]!.id, 8, 2000],
    ]);
    expect(ring.keys.every(({ key }, i) => key.equals(keys[i]!))).toBe(true);
  });

  it('refuses any other shape with ERR_OTP_KEY_MALFORMED, naming the keyring and never quoting a secret', () => {
    const key = TotpKey.random();
    const uri = key.toUri();
    const entry = { uri, activeAt: 1000 };
    const cases: [Buffer, RegExp][] = [
      [Buffer.from(`not json ${uri}`), /it is not JSON/],
      [json({ v: 2, grace: 0, by: '', keys: [entry] }), /format version is not 1/],
      [json({ v: 1, grace: -1, by: '', keys: [entry] }), /grace is not a whole number/],
      [json({ v: 1, grace: 0, by: 7, keys: [entry] }), /writer's name/],
      [json({ v: 1, grace: 0, by: '', keys: [] }), /1 to 16 keys/],
      [json({ v: 1, grace: 0, by: '', keys: Array.from({ length: MAX_RING_KEYS + 1 }, (_, i) => ({ uri, activeAt: i })) }), /1 to 16 keys/],
      [json({ v: 1, grace: 0, by: '', keys: [{ activeAt: 1 }] }), /key 0 has no otpauth URI/],
      [json({ v: 1, grace: 0, by: '', keys: [{ uri, activeAt: 1.5 }] }), /key 0 has no activation time/],
      [json({ v: 1, grace: 0, by: '', keys: [entry, { uri: TotpKey.random().toUri(), activeAt: 1000 }] }), /key 1 is not activated after key 0/],
      [json({ v: 1, grace: 0, by: '', keys: [{ uri: uri.replace(/secret=[A-Z2-7]+/, 'secret=AAAA'), activeAt: 1 }] }), /key 0: /],
    ];
    for (const [value, message] of cases) {
      let thrown: unknown;
      try {
        decodeRing(value, WHERE);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'ERR_OTP_KEY_MALFORMED', message: expect.stringMatching(message) });
      expect((thrown as Error).message).toContain(WHERE);
      expectNoSecrets([thrown], secretsOf([key]));
    }
  });
});

describe('the schedule', () => {
  const period = 30_000;
  const t0 = 1_800_000_000_000;

  function schedule(grace: number, entries: [TotpKey, number][], now: number): Schedule {
    const s = new Schedule();
    s.replace({ grace, by: 'test', keys: entries.map(([key, activeAt]) => ({ key: TotpKey.fromUri(key.toUri()), activeAt })) }, now);
    return s;
  }

  it('accepts the active key, the next one once held, and the previous one for grace after the next activation', () => {
    const [a, b] = [TotpKey.random(), TotpKey.random()];
    const s = schedule(10_000, [[a, t0], [b, t0 + period]], t0 + 1000);
    const at = (timeMs: number, key: TotpKey) => s.match(key.generate(timeMs), { window: 1, timeMs });
    expect(s.activeAt(t0 + 5000)?.key.id).toBe(a.id);
    expect(at(t0 + 5000, a)).toMatchObject({ ok: true, keyId: a.id });
    // Published, not yet active: accepted already.
    expect(at(t0 + 5000, b)).toMatchObject({ ok: true, keyId: b.id });
    expect(s.activeAt(t0 + period)?.key.id).toBe(b.id);
    expect(at(t0 + period + 9_999, a)).toMatchObject({ ok: true, keyId: a.id, expiresAt: t0 + period + 10_000 });
    expect(at(t0 + period + 10_000, a)).toBeUndefined();
    expect(at(t0 + period + 10_000, b)).toMatchObject({ ok: true, keyId: b.id });
  });

  it('counts grace from the next key\'s arrival when it arrived after its activation', () => {
    const [a, b] = [TotpKey.random(), TotpKey.random()];
    const arrived = t0 + period + 20_000;
    const s = schedule(10_000, [[a, t0], [b, t0 + period]], arrived);
    // Its activation plus grace has passed, but not its arrival plus grace.
    const timeMs = arrived + 5000;
    expect(s.match(a.generate(timeMs), { window: 1, timeMs })).toMatchObject({ ok: true, keyId: a.id, expiresAt: arrived + 10_000 });
  });

  it('keeps the objects of keys that stay, destroys those that leave, and prunes ended grace', () => {
    const [a, b, c] = [TotpKey.random(), TotpKey.random(), TotpKey.random()];
    const s = schedule(1000, [[a, t0], [b, t0 + period]], t0);
    const kept = s.entries()[1]!.key;
    const gone = s.entries()[0]!.key;
    const added = s.replace({ grace: 1000, by: 'test', keys: [{ key: TotpKey.fromUri(b.toUri()), activeAt: t0 + period }, { key: TotpKey.fromUri(c.toUri()), activeAt: t0 + 2 * period }] }, t0);
    expect(added.map((key) => key.id)).toEqual([c.id]);
    expect(s.entries()[0]!.key).toBe(kept);
    expect(() => gone.generate()).toThrow(expect.objectContaining({ code: 'ERR_OTP_DESTROYED' }));
    expect(s.prune(t0 + 2 * period + 1000)).toBe(1);
    expect(s.entries().map((entry) => entry.key.id)).toEqual([c.id]);
    expect(() => kept.generate()).toThrow(expect.objectContaining({ code: 'ERR_OTP_DESTROYED' }));
  });
});
