// The keys a KeyOwner accepts: the current one, and those it replaced while their grace lasts.
import { stepBounds } from '../internal/steps.js';
import type { TotpKey } from '../key.js';
import type { CheckResult, KeyTiming } from '../verifier.js';
import { afterElapsed, type Elapsed } from './timer.js';

/**
 * A replaced key. It is accepted for codes timed before `until` (ms since the Unix epoch), and
 * destroyed when `expiry` fires, after `grace` of elapsed time: a wall clock set back cannot
 * stretch its life, a clock set forward ends it at once.
 */
interface Retained {
  key: TotpKey;
  until: number;
  expiry: Elapsed;
}

// Rotating faster than the grace period (a burst of rotate() calls, several owners and the CLI)
// leaves several keys within grace; past this many the oldest goes. It bounds memory and the
// cost of a refused code.
const MAX_RETAINED = 8;

function destroy(old: Retained): void {
  old.expiry.cancel();
  old.key.destroy();
}

/** Destroys the keys `drop` picks and returns the others. */
function retire(list: Retained[], drop: (old: Retained) => boolean): Retained[] {
  return list.filter((old) => {
    if (!drop(old)) return true;
    destroy(old);
    return false;
  });
}

/** The result for a code of `key` found `delta` steps from `timeMs`'s, accepted until the window or `until` ends. */
export function matched(key: TotpKey, delta: number, { window, timeMs }: { window: number; timeMs: number }, until: number): CheckResult {
  const { step, startMs } = stepBounds(timeMs, key);
  // The code of step s is accepted while the current step is within `window` of s: until step
  // s + window + 1 begins.
  const windowEndsAt = startMs + (delta + window + 1) * key.period * 1000;
  return { ok: true, keyId: key.id, delta, step: step + delta, expiresAt: Math.min(windowEndsAt, until) };
}

export class KeyRing {
  readonly #grace: number;
  #current: TotpKey | undefined;
  #timing: KeyTiming | undefined;
  #retained: Retained[] = [];

  constructor(grace: number) {
    this.#grace = grace;
  }

  get current(): TotpKey | undefined {
    return this.#current;
  }

  /** The current key's period and epoch, one frozen object per key (the guards ask per request). */
  get timing(): KeyTiming | undefined {
    return this.#timing;
  }

  /**
   * Makes `key` current, keeping the one it replaces for the grace period. Returns false, and
   * destroys `key`, when it is the current key already.
   */
  install(key: TotpKey): boolean {
    const previous = this.#current;
    if (previous !== undefined && previous.equals(key)) {
      key.destroy();
      return false;
    }
    // A key coming back from retirement (an old file restored) is current again, not twice.
    this.#retained = retire(this.#retained, (old) => old.key.equals(key));
    if (previous !== undefined) {
      const retained: Retained = {
        key: previous,
        until: Date.now() + this.#grace,
        expiry: afterElapsed(() => (this.#retained = retire(this.#retained, (old) => old === retained)), this.#grace),
      };
      this.#retained.unshift(retained);
      for (const dropped of this.#retained.splice(MAX_RETAINED)) destroy(dropped);
    }
    this.#current = key;
    this.#timing = Object.freeze({ period: key.period, epoch: key.epoch });
    return true;
  }

  /**
   * The match for `code` at `options.timeMs` among the current key and those replaced less than
   * the grace period before that time (the current one first), or undefined.
   */
  match(code: string, options: { window: number; timeMs: number }): CheckResult | undefined {
    const current = this.#current;
    if (current === undefined) return undefined;
    const delta = current.check(code, options);
    if (delta !== null) return matched(current, delta, options, Infinity);
    const retained = this.#retained;
    for (let i = 0; i < retained.length; i++) {
      const { key, until } = retained[i] as Retained;
      if (options.timeMs >= until) continue;
      const old = key.check(code, options);
      if (old !== null) return matched(key, old, options, until);
    }
    return undefined;
  }

  /** Destroys every key. */
  wipe(): void {
    this.#current?.destroy();
    for (const old of this.#retained) destroy(old);
    this.#current = undefined;
    this.#timing = undefined;
    this.#retained = [];
  }
}
