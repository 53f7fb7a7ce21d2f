// How many wrong codes a guard lets through, per TOTP step (RFC 4226 §7.3: a throttle that holds
// across connections). Two counts, both reset at each step boundary:
//
// - per client (`maxFailures`): one client's failures do not lock out the others. The client is
//   whatever the guard is told (an address, a header), so an attacker can be many clients: on
//   Linux one unprivileged process can connect from any of the 16 million addresses of
//   127.0.0.0/8, and a header is whatever it writes;
// - per listener (`maxFailuresTotal`): every wrong code that arrives through one listening
//   socket, whatever client it claims to be. This is the bound on guessing: the account is the
//   key (RFC 4226 §7.3 throttles per account), so the count belongs to the verifier, shared by
//   every guard of this process that checks codes with it. It is kept per listener so that
//   failures on one transport (a TCP port any local process can reach) cannot lock out the
//   clients of another (a Unix socket in the key's own directory, which only processes that can
//   open that directory reach).
//
// Counting per step rather than per sliding window means a throttled client can retry exactly
// when a fresh code exists, and every count expires at once.
import { stepBounds } from '../internal/steps.js';
import type { KeyTiming } from '../verifier.js';

/** Where a request arrived when the adapter cannot tell (the fetch guard without connection info). */
export const UNKNOWN_LISTENER: object = Object.freeze({});

/** Failed codes in one step on one listener, for every guard of one verifier. */
class StepTally {
  startMs = 0;
  endMs = 0;
  failures = 0;

  /** The failures counted in the step containing `nowMs` (0 once that step has ended, or the clock went back). */
  failuresAt(nowMs: number): number {
    return nowMs >= this.startMs && nowMs < this.endMs ? this.failures : 0;
  }

  add(nowMs: number, timing: KeyTiming): void {
    if (this.failuresAt(nowMs) === 0) {
      const { startMs, endMs } = stepBounds(nowMs, timing);
      [this.startMs, this.endMs, this.failures] = [startMs, endMs, 0];
    }
    this.failures++;
  }
}

// verifier -> listener -> tally. Weak both ways: a verifier or a server that is gone takes its
// counts with it.
const talliesByVerifier = new WeakMap<object, WeakMap<object, StepTally>>();

function talliesOf(verifier: object): WeakMap<object, StepTally> {
  let tallies = talliesByVerifier.get(verifier);
  if (tallies === undefined) talliesByVerifier.set(verifier, (tallies = new WeakMap()));
  return tallies;
}

// A client is tracked under a 53-bit hash of its listener and its key, whatever the key holds: an
// entry costs the same few dozen bytes for an IPv4 address as for a 15 KB header. Two clients
// whose hashes collide share a count, which gives an attacker nothing it could not get by
// sending the other's key (or address) itself.
function clientHash(listenerId: number, key: string): number {
  // Two 32-bit FNV-1a hashes with different offset bases, the listener folded into both.
  let a = Math.imul(0x811c9dc5 ^ listenerId, 0x01000193);
  let b = Math.imul(0x050c5d1f ^ listenerId, 0x01000193);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (a >>> 11) * 0x1_0000_0000 + (b >>> 0);
}

function secondsUntil(endMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((endMs - nowMs) / 1000));
}

export interface ThrottleLimits {
  /** Failed codes per client per step before it gets 429. */
  maxFailures: number;
  /** Failed codes per listener per step, all clients together, before every request on it gets 429. */
  maxFailuresTotal: number;
  /** Clients tracked at once; past that the least recently active one is forgotten. */
  maxClients: number;
}

/** Why a request is refused before its code is looked at, and for how long. */
export interface Throttled {
  /** Whole seconds until the step ends (at least 1). */
  retryAfter: number;
  /** 'client': this client's own failures; 'listener': all failures on its listener. */
  scope: 'client' | 'listener';
}

let nextListenerId = 0;

export class FailureThrottle {
  readonly #limits: ThrottleLimits;
  readonly #tallies: WeakMap<object, StepTally>;
  // One small number per listener, to keep clients of different listeners apart in #failures.
  readonly #listenerIds = new WeakMap<object, number>();
  // Insertion order doubles as recency: a client is moved to the end on each failure or refusal,
  // so when the table is full the least recently active client is the one forgotten. Forgetting
  // lets a client start counting again, which the per-listener count does not.
  readonly #failures = new Map<number, number>();
  #stepStart = 0;
  #stepEnd = 0;

  constructor(verifier: object, limits: ThrottleLimits) {
    this.#limits = limits;
    this.#tallies = talliesOf(verifier);
  }

  /** How many clients are tracked now: never more than maxClients. */
  get size(): number {
    return this.#failures.size;
  }

  /** Whether a request from `client` on `listener` is refused before its code is checked. */
  check(client: string, listener: object, nowMs: number): Throttled | undefined {
    const tally = this.#tallies.get(listener);
    if (tally !== undefined && tally.failuresAt(nowMs) >= this.#limits.maxFailuresTotal) {
      return { retryAfter: secondsUntil(tally.endMs, nowMs), scope: 'listener' };
    }
    if (this.#failures.size === 0) return undefined;
    this.#expire(nowMs);
    const key = this.#keyOf(client, listener);
    const failures = this.#failures.get(key);
    if (failures === undefined || failures < this.#limits.maxFailures) return undefined;
    this.#touch(key, failures);
    return { retryAfter: secondsUntil(this.#stepEnd, nowMs), scope: 'client' };
  }

  /** Counts one failed code from `client` on `listener`, in the step of `timing` that contains `nowMs`. */
  fail(client: string, listener: object, nowMs: number, timing: KeyTiming): void {
    let tally = this.#tallies.get(listener);
    if (tally === undefined) this.#tallies.set(listener, (tally = new StepTally()));
    tally.add(nowMs, timing);
    this.#expire(nowMs);
    if (this.#failures.size === 0) {
      const { startMs, endMs } = stepBounds(nowMs, timing);
      [this.#stepStart, this.#stepEnd] = [startMs, endMs];
    }
    const key = this.#keyOf(client, listener);
    const failures = this.#failures.get(key);
    if (failures === undefined && this.#failures.size >= this.#limits.maxClients) {
      this.#failures.delete(this.#failures.keys().next().value as number);
    }
    this.#touch(key, (failures ?? 0) + 1);
  }

  #keyOf(client: string, listener: object): number {
    let id = this.#listenerIds.get(listener);
    if (id === undefined) this.#listenerIds.set(listener, (id = nextListenerId++));
    return clientHash(id, client);
  }

  #touch(key: number, failures: number): void {
    this.#failures.delete(key);
    this.#failures.set(key, failures);
  }

  // A clock that jumps backwards ends the step too, so Retry-After never exceeds one period.
  #expire(nowMs: number): void {
    if (nowMs >= this.#stepEnd || nowMs < this.#stepStart) this.#failures.clear();
  }
}
