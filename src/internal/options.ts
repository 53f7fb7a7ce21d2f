// Option checking shared by every entry point (TotpKey, KeyOwner, KeyReader, the guards): misuse
// throws ERR_OTP_OPTIONS at once, naming the option, rather than misbehaving later. In plain
// JavaScript a misspelt option name would otherwise be ignored in silence (`windw: 2` leaving
// the window at 1), so option objects are also checked for names they do not know.
import { OtpError, type OtpErrorCode } from '../errors.js';

/** Throws the OtpError for a bad argument: ERR_OTP_OPTIONS, or the code of the format being read. */
export function fail(message: string, code: OtpErrorCode = 'ERR_OTP_OPTIONS'): never {
  throw new OtpError(code, message);
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean". */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[];
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = best;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The known name closest to `name`, when one is close enough to be what was meant. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const candidateLower = candidate.toLowerCase();
    // A prefix either way ('rotate' for 'rotateEvery') is a likely slip whatever its length.
    const d = candidateLower.startsWith(lower) || lower.startsWith(candidateLower) ? 1 : distance(lower, candidateLower);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** Throws for an own enumerable property of `options` that is not in `known`, suggesting the closest. */
export function rejectUnknownOptions(options: object, known: readonly string[], what: string): void {
  for (const name in options) {
    if (!Object.hasOwn(options, name) || known.includes(name)) continue;
    // The name is the caller's own code, not data from a request: quoting it (shortened) is safe.
    const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
    const guess = closestName(name, known);
    fail(`${what} has no option ${shown}${guess === undefined ? `; the options are ${known.join(', ')}` : ` (did you mean ${guess}?)`}`);
  }
}

/**
 * `options` when it is an object whose option names are all `known`; undefined stays undefined
 * unless `required` (then it is refused with `what`'s name).
 */
export function optionsObject<T extends object>(options: T | undefined, what: string, known: readonly string[], required = false): T | undefined {
  if (options === undefined && !required) return undefined;
  if (options === null || typeof options !== 'object') fail(`${what} options must be an object`);
  rejectUnknownOptions(options, known, what);
  return options;
}

export function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${name} must be a boolean`);
  return value;
}

/** A whole number from `min` to `max` (inclusive), or `fallback` when undefined. */
export function wholeNumber(value: unknown, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    fail(`${name} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}`);
  }
  return value as number;
}

/** A duration in milliseconds: a whole number, 0 or more. */
export function milliseconds(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0) fail(`${name} must be a whole number of milliseconds, 0 or more`);
  return value as number;
}

export function optionalFunction<F>(value: F | undefined, name: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') fail(`${name} must be a function`);
  return value;
}
