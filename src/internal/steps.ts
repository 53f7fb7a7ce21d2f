// TOTP time steps (RFC 6238 §4.2): T = floor((now - T0) / X). The one place that does the
// arithmetic, in milliseconds, for keys, owners, the throttle and the replay record.

/** What a step count needs: the period and the epoch, both in seconds (as keys report them). */
export interface StepTiming {
  /** Time step in seconds. */
  readonly period: number;
  /** Unix time in seconds of step 0. */
  readonly epoch: number;
}

/** The step containing `timeMs` (negative before the epoch). */
export function stepAt(timeMs: number, periodMs: number, epochMs: number): number {
  return Math.floor((timeMs - epochMs) / periodMs);
}

/** The time (ms) at which `step` begins. */
export function stepStartMs(step: number, periodMs: number, epochMs: number): number {
  return epochMs + step * periodMs;
}

/** The step of `timing` containing `timeMs`, and when it begins and ends (ms). */
export function stepBounds(timeMs: number, { period, epoch }: StepTiming): { step: number; startMs: number; endMs: number } {
  const periodMs = period * 1000;
  const epochMs = epoch * 1000;
  const step = stepAt(timeMs, periodMs, epochMs);
  const startMs = stepStartMs(step, periodMs, epochMs);
  return { step, startMs, endMs: startMs + periodMs };
}
