// Failed guesses per client, counted within one TOTP step (RFC 4226 §7.3: a throttle that holds
// across connections). Counting per step rather than per sliding window means a client that hit
// the limit can retry exactly when a fresh code exists, and lets every count expire in one clear().
import type { KeyTiming } from '../handshake/types.js';

export class FailureThrottle {
  readonly #maxFailures: number;
  readonly #maxClients: number;
  // Insertion order doubles as recency: a client is moved to the end on each failure or refusal,
  // so when the table is full the least recently active client is the one forgotten. An attacker
  // who wants to erase its own count must first spend maxClients failures from other keys.
  readonly #failures = new Map<string, number>();
  #stepStart = 0;
  #stepEnd = 0;

  constructor(maxFailures: number, maxClients: number) {
    this.#maxFailures = maxFailures;
    this.#maxClients = maxClients;
  }

  /** How many clients are tracked now: never more than maxClients. */
  get size(): number {
    return this.#failures.size;
  }

  /** Whole seconds until `client` may try again (at least 1), or 0 when it is not throttled. */
  retryAfter(client: string, nowMs: number): number {
    if (this.#failures.size === 0) return 0;
    this.#expire(nowMs);
    const failures = this.#failures.get(client);
    if (failures === undefined || failures < this.#maxFailures) return 0;
    this.#touch(client, failures);
    return Math.max(1, Math.ceil((this.#stepEnd - nowMs) / 1000));
  }

  /** Counts one failed guess by `client` in the step of `timing` that contains `nowMs`. */
  fail(client: string, nowMs: number, timing: KeyTiming): void {
    this.#expire(nowMs);
    if (this.#failures.size === 0) this.#startStep(nowMs, timing);
    const failures = this.#failures.get(client);
    if (failures === undefined && this.#failures.size >= this.#maxClients) {
      this.#failures.delete(this.#failures.keys().next().value as string);
    }
    this.#touch(client, (failures ?? 0) + 1);
  }

  #touch(client: string, failures: number): void {
    this.#failures.delete(client);
    this.#failures.set(client, failures);
  }

  // A clock that jumps backwards ends the step too, so Retry-After never exceeds one period.
  #expire(nowMs: number): void {
    if (nowMs >= this.#stepEnd || nowMs < this.#stepStart) this.#failures.clear();
  }

  #startStep(nowMs: number, { period, epoch }: KeyTiming): void {
    const periodMs = period * 1000;
    const epochMs = epoch * 1000;
    this.#stepStart = epochMs + Math.floor((nowMs - epochMs) / periodMs) * periodMs;
    this.#stepEnd = this.#stepStart + periodMs;
  }
}
