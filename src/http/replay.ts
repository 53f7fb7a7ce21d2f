// Each code accepted once per key (RFC 6238 §5.2), for guards with rejectReplay. Only a valid
// code can add an entry, and an entry lives exactly as long as its code would verify (the
// verifier says until when: the end of the window for the key that matched it, or the end of
// that key's grace), so the memory is a handful of entries per key, whatever clients send.

export class ReplayGuard {
  // `${keyId}:${step}` -> the time (ms) from which that code no longer verifies.
  readonly #used = new Map<string, number>();

  /** Entries held now: at most 2 * window + 1 per key that verified codes recently. */
  get size(): number {
    return this.#used.size;
  }

  /** True the first time the code of (keyId, step) is seen while it still verifies. */
  accept(keyId: string, step: number, expiresAt: number, nowMs: number): boolean {
    for (const [entry, until] of this.#used) {
      if (until <= nowMs) this.#used.delete(entry);
    }
    const entry = `${keyId}:${step}`;
    if (this.#used.has(entry)) return false;
    this.#used.set(entry, expiresAt);
    return true;
  }
}
