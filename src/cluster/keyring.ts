// The keyring as etcd holds it, and as an owner verifies with it.
//
// One etcd key, `/totp-handshake/<name>/ring`, holds the whole keyring as one JSON document, so
// that every change is one atomic put that a watcher sees whole:
//
//   {"v":1,"grace":60000,"by":"api-1:4242","keys":[
//     {"uri":"otpauth://totp/totp-handshake?secret=...&algorithm=SHA1&digits=6&period=30","activeAt":1764633600000},
//     {"uri":"otpauth://totp/totp-handshake?secret=...&algorithm=SHA1&digits=6&period=30","activeAt":1764637200000}]}
//
// Keys are in activation order. A key is active from its `activeAt` (ms since the Unix epoch) until
// the next one's; it is then still accepted for `grace` ms (counted, by each owner, from the next
// key's activation or from its arrival if that was later), and the rotator drops it from the ring
// once that has passed. A key published with its `activeAt` ahead (the next key) is accepted by
// every owner as soon as it holds it: a host whose clock runs ahead of the rotator's then switches
// early without a refusal, and a code of the next key is no easier to guess than one of the
// current key (two keys are valid at once, as during grace). `by` names the owner that wrote it.
import { OtpError } from '../errors.js';
import { matched } from '../handshake/ring.js';
import { TotpKey } from '../key.js';
import type { CheckResult, KeyTiming } from '../verifier.js';

export interface RingKey {
  key: TotpKey;
  activeAt: number;
}

export interface Ring {
  grace: number;
  by: string;
  keys: RingKey[];
}

const FORMAT_VERSION = 1;
// A rotator keeps the current key, the next one and those within grace: a handful. More is no
// keyring this package wrote, and verifying a refused code tries every key.
export const MAX_RING_KEYS = 16;
const URI_LABEL = 'totp-handshake';

function malformed(where: string, why: string): OtpError {
  return new OtpError('ERR_OTP_KEY_MALFORMED', `the keyring at ${where} is not one this package wrote: ${why}`);
}

/** The JSON document for `ring`. Holds every secret of the ring: the caller wipes the buffer once sent. */
export function encodeRing(ring: Ring): Buffer {
  const keys = ring.keys.map(({ key, activeAt }) => ({ uri: key.toUri(URI_LABEL), activeAt }));
  return Buffer.from(JSON.stringify({ v: FORMAT_VERSION, grace: ring.grace, by: ring.by, keys }), 'utf8');
}

/**
 * The keyring in `value` (etcd's bytes), read strictly: a document of another shape is refused
 * with ERR_OTP_KEY_MALFORMED naming `where` and what is wrong, never what it holds.
 */
export function decodeRing(value: Buffer, where: string): Ring {
  let document: unknown;
  try {
    document = JSON.parse(value.toString('utf8'));
  } catch {
    throw malformed(where, 'it is not JSON');
  }
  const { v, grace, by, keys } = (document ?? {}) as Record<string, unknown>;
  if (v !== FORMAT_VERSION) throw malformed(where, `its format version is not ${FORMAT_VERSION}`);
  if (!Number.isSafeInteger(grace) || (grace as number) < 0) throw malformed(where, 'its grace is not a whole number of milliseconds');
  if (typeof by !== 'string' || by.length > 256) throw malformed(where, "its writer's name is not a short string");
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_RING_KEYS) throw malformed(where, `it does not hold 1 to ${MAX_RING_KEYS} keys`);
  const parsed: RingKey[] = [];
  try {
    for (const [i, entry] of keys.entries()) {
      const { uri, activeAt } = (entry ?? {}) as Record<string, unknown>;
      if (typeof uri !== 'string') throw malformed(where, `key ${i} has no otpauth URI`);
      if (!Number.isSafeInteger(activeAt) || (activeAt as number) < 0) throw malformed(where, `key ${i} has no activation time`);
      const previous = parsed[parsed.length - 1];
      if (previous !== undefined && (activeAt as number) <= previous.activeAt) throw malformed(where, `key ${i} is not activated after key ${i - 1}`);
      try {
        parsed.push({ key: TotpKey.fromUri(uri), activeAt: activeAt as number });
      } catch (error) {
        // The core's messages give positions and lengths, never the text.
        throw malformed(where, `key ${i}: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    for (const { key } of parsed) key.destroy();
    throw error;
  }
  return { grace: grace as number, by, keys: parsed };
}

interface Scheduled {
  key: TotpKey;
  activeAt: number;
  /** When this schedule first held the key (ms since the Unix epoch). */
  seenAt: number;
  /**
   * Codes timed from here on are refused: grace after the next key's activation, or after this
   * schedule first held the next key if that came later (Infinity for the newest).
   */
  until: number;
  timing: KeyTiming;
}

/**
 * The keys an owner accepts, from a keyring: the one active now first, then the others (the next
 * key, those within grace) from the newest. Replacing the keyring keeps the TotpKey objects of
 * keys that stay (their step caches with them) and destroys those that left.
 */
export class Schedule {
  #keys: Scheduled[] = [];

  get size(): number {
    return this.#keys.length;
  }

  /** The key active at `timeMs`: the last one activated by then, or the first when none is yet (a clock behind the rotator's). */
  activeAt(timeMs: number): { key: TotpKey; activeAt: number; timing: KeyTiming } | undefined {
    const keys = this.#keys;
    for (let i = keys.length - 1; i >= 0; i--) {
      const entry = keys[i] as Scheduled;
      if (entry.activeAt <= timeMs) return entry;
    }
    return keys[0];
  }

  /** The newest key (the next one while it is pending). */
  get newest(): { key: TotpKey; activeAt: number } | undefined {
    return this.#keys[this.#keys.length - 1];
  }

  /** Every key with its activation time, oldest first. */
  entries(): readonly { readonly key: TotpKey; readonly activeAt: number; readonly seenAt: number; readonly until: number }[] {
    return this.#keys;
  }

  /**
   * Takes `ring`'s keys (which become this schedule's to destroy) and returns those it did not
   * hold before. `now`: when the ring arrived.
   *
   * A replaced key stays valid for grace after its successor's activation, or after its
   * successor arrived here if that was later: a key that arrives late (its rotation committed
   * while this process could not reach etcd, or committed late after a partition healed) must
   * not end its predecessor's grace before the thin clients, whose mirrors receive it the same
   * way, have switched to it.
   */
  replace(ring: Ring, now = Date.now()): TotpKey[] {
    const old = this.#keys;
    const added: TotpKey[] = [];
    const next = ring.keys.map(({ key, activeAt }): Scheduled => {
      const kept = old.find((entry) => entry.key.equals(key));
      if (kept !== undefined) {
        key.destroy();
        return { key: kept.key, activeAt, seenAt: kept.seenAt, until: Infinity, timing: kept.timing };
      }
      added.push(key);
      return { key, activeAt, seenAt: now, until: Infinity, timing: Object.freeze({ period: key.period, epoch: key.epoch }) };
    });
    for (let i = 0; i < next.length - 1; i++) {
      const following = next[i + 1] as Scheduled;
      (next[i] as Scheduled).until = Math.max(following.activeAt, following.seenAt) + ring.grace;
    }
    for (const entry of old) if (!next.some((kept) => kept.key === entry.key)) entry.key.destroy();
    this.#keys = next;
    return added;
  }

  /** Drops and destroys the keys whose grace ended before `timeMs`; returns how many. */
  prune(timeMs: number): number {
    const before = this.#keys.length;
    this.#keys = this.#keys.filter((entry) => {
      if (entry.until > timeMs) return true;
      entry.key.destroy();
      return false;
    });
    return before - this.#keys.length;
  }

  /** The match for `code` among the keys accepted at `options.timeMs`, the active one first. */
  match(code: string, options: { window: number; timeMs: number }): CheckResult | undefined {
    const active = this.activeAt(options.timeMs) as Scheduled | undefined;
    if (active === undefined) return undefined;
    const delta = active.key.check(code, options);
    if (delta !== null) return matched(active.key, delta, options, active.until);
    const keys = this.#keys;
    for (let i = keys.length - 1; i >= 0; i--) {
      const entry = keys[i] as Scheduled;
      if (entry === active || options.timeMs >= entry.until) continue;
      const other = entry.key.check(code, options);
      if (other !== null) return matched(entry.key, other, options, entry.until);
    }
    return undefined;
  }

  /** Destroys every key. */
  wipe(): void {
    for (const entry of this.#keys) entry.key.destroy();
    this.#keys = [];
  }
}
