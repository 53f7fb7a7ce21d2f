// Each code accepted once per key (RFC 6238 §5.2), for guards with rejectReplay. Only a valid
// code can add an entry, and an entry is dropped once its step has left the verification window,
// so the memory is a handful of entries per key no matter what clients send.
import type { KeyTiming } from '../handshake/types.js';

export class ReplayGuard {
  readonly #window: number;
  // `${keyId}:${step}` -> the time (ms) from which that step's code no longer verifies.
  readonly #used = new Map<string, number>();

  constructor(window: number) {
    this.#window = window;
  }

  /** Entries held now: at most 2 * window + 1 per key that verified codes recently. */
  get size(): number {
    return this.#used.size;
  }

  /** True the first time (keyId, step) is seen while that step is still acceptable. */
  accept(keyId: string, step: number, nowMs: number, { period, epoch }: KeyTiming): boolean {
    for (const [entry, expiresAt] of this.#used) {
      if (expiresAt <= nowMs) this.#used.delete(entry);
    }
    const entry = `${keyId}:${step}`;
    if (this.#used.has(entry)) return false;
    this.#used.set(entry, (epoch + (step + this.#window + 1) * period) * 1000);
    return true;
  }
}
