// Differential testing of the compatibility layers against the real packages: run the same call
// on both and compare what came out (value, its exact type, or the error thrown).
import fc from 'fast-check';

import { toBase32 } from '../../bench/lib/fixtures.mjs';

/** Runs per property: CI gets the full count, a local run a quarter (COMPAT_RUNS overrides). */
export const RUNS = Number(process.env.COMPAT_RUNS ?? (process.env.CI ? 400 : 100));

export type Outcome = { value: unknown } | { error: { class: string; name: string; message: string; code?: unknown } };

const BUILTIN_ERRORS = [RangeError, TypeError, URIError, SyntaxError, ReferenceError] as const;

/**
 * A value as comparable data: byte arrays carry their exact class (Buffer, Uint8Array), so a
 * Buffer where the original returns a plain Uint8Array is a difference; functions compare by kind.
 */
export function comparable(value: unknown, seen = new Set<unknown>()): unknown {
  if (value instanceof Uint8Array) return { class: value.constructor.name, hex: Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex') };
  if (typeof value === 'function') return 'function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (Object.is(value, -0)) return '-0';
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => comparable(v, seen));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = comparable((value as Record<string, unknown>)[key], seen);
  return out;
}

function describeError(error: unknown): Outcome {
  if (!(error instanceof Error)) return { error: { class: 'non-error', name: typeof error, message: String(error) } };
  const builtin = BUILTIN_ERRORS.find((type) => error instanceof type);
  const code = (error as { code?: unknown }).code;
  return { error: { class: builtin?.name ?? 'Error', name: error.name, message: error.message, ...(code === undefined ? {} : { code }) } };
}

export function outcome(run: () => unknown): Outcome {
  try {
    return { value: comparable(run()) };
  } catch (error) {
    return describeError(error);
  }
}

export async function outcomeAsync(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { value: comparable(await run()) };
  } catch (error) {
    return describeError(error);
  }
}

/** Replaces the parts of a message that differ on purpose (see `differences`) with a marker. */
export function normalise(result: Outcome, rewrite: (message: string) => string): Outcome {
  return 'error' in result ? { error: { ...result.error, message: rewrite(result.error.message) } } : result;
}

/** RFC 4648 base32 without padding: the bench's own encoder, independent of every implementation. */
export const base32: (bytes: Uint8Array) => string = toBase32;

/**
 * Base32 text as people and programs write it: canonical, lower case, grouped with spaces,
 * padded, truncated to a length that is not a multiple of 8, or with stray characters.
 */
export function base32Text(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: bytes.map(base32) },
    { weight: 1, arbitrary: bytes.map((b) => base32(b).toLowerCase()) },
    { weight: 1, arbitrary: bytes.map((b) => base32(b).replace(/(.{4})/g, '$1 ').trim()) },
    { weight: 1, arbitrary: bytes.map((b) => base32(b).padEnd(Math.ceil(base32(b).length / 8) * 8, '=')) },
    { weight: 1, arbitrary: fc.tuple(bytes, fc.integer({ min: 1, max: 7 })).map(([b, cut]) => base32(b).slice(0, Math.max(1, base32(b).length - cut))) },
    { weight: 1, arbitrary: fc.tuple(bytes, fc.constantFrom('1', '8', '0', '=', '-', 'é', '!', 'y')).map(([b, c]) => `${base32(b).slice(0, 5)}${c}${base32(b).slice(5)}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  );
}

/** A code string: the valid one (from `generate`), or a near miss, or something malformed. */
export function tokenFrom(valid: string, choice: number, noise: string): unknown {
  switch (choice % 8) {
    case 0:
    case 1:
    case 2:
      return valid;
    case 3:
      return valid.replace(/^./, (c) => String((Number(c) + 1) % 10));
    case 4:
      return valid.slice(1);
    case 5:
      return `${valid.slice(0, -1)}${noise.slice(0, 1) || 'x'}`;
    case 6:
      return noise;
    default:
      return Number(valid);
  }
}
