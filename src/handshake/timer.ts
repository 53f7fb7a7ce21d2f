// The handshake's background timers: unref'd, so that a KeyOwner or KeyReader never keeps a
// process alive by itself, and clamped, because Node fires a delay over 2^31-1 ms at once.
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Calls `callback` in `delay` ms (negative: at once; beyond ~24.8 days: then, for the caller to look again). */
export function later(callback: () => void, delay: number): NodeJS.Timeout {
  return setTimeout(callback, Math.min(Math.max(delay, 0), MAX_DELAY_MS)).unref();
}

/** A pending `afterElapsed` call; `cancel()` is idempotent. */
export interface Elapsed {
  cancel(): void;
}

/**
 * Calls `callback` once `delay` ms of elapsed time have passed, whatever the wall clock does
 * meanwhile (Node's timers run on a monotonic clock). Delays beyond one timer's range are
 * chained, so the clock is never read to find out how much is left.
 */
export function afterElapsed(callback: () => void, delay: number): Elapsed {
  let timer: NodeJS.Timeout;
  const wait = (remaining: number): void => {
    const step = Math.min(Math.max(remaining, 0), MAX_DELAY_MS);
    timer = later(() => (remaining > step ? wait(remaining - step) : callback()), step);
  };
  wait(delay);
  return { cancel: () => clearTimeout(timer) };
}
