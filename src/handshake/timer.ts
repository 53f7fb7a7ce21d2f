// The handshake's background timers: unref'd, so that a KeyOwner or KeyReader never keeps a
// process alive by itself, and clamped, because Node fires a delay over 2^31-1 ms at once.
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Calls `callback` in `delay` ms (negative: at once; beyond ~24.8 days: then, for the caller to look again). */
export function later(callback: () => void, delay: number): NodeJS.Timeout {
  return setTimeout(callback, Math.min(Math.max(delay, 0), MAX_DELAY_MS)).unref();
}
