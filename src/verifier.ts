// The contract between whatever holds keys (KeyOwner, or a test double) and whatever checks
// requests with them (the HTTP guards). The guards depend on this and nothing of the handshake.
import type { Reason } from './events.js';
import { parseCode } from './internal/code.js';
import type { StepTiming } from './internal/steps.js';
import type { VerifyOptions } from './options.js';

/** Why a verifier refused a code: the reasons only an HTTP guard can give are not among them. */
export type CheckReason = Exclude<Reason, 'replayed' | 'throttled'>;

export interface CheckResult {
  ok: boolean;
  /** Why the code was refused: missing, malformed, invalid or no-key (never set when ok). */
  reason?: CheckReason;
  /** The fingerprint of the key that matched (or of the current key on a refusal). */
  keyId?: string;
  /** The matched step offset (-1 = one step old). */
  delta?: number;
  /** The matched time step (counter) of the matching key. */
  step?: number;
  /**
   * When ok: the time (ms since the Unix epoch) from which this code is refused again, because
   * its step has left the verification window or its key's grace has ended. A replay record of
   * the code need not outlive it.
   */
  expiresAt?: number;
}

/** A key's time steps: period and epoch in seconds. */
export type KeyTiming = StepTiming;

export interface OtpVerifier {
  /** Checks a code (any value: absent, malformed, wrong). Never throws for a bad code. */
  check(code: unknown, options?: VerifyOptions): CheckResult;
  /** The current key's timing, or undefined while no key is loaded. */
  timing(): KeyTiming | undefined;
}

/**
 * The refusal of a value that is no code for `key`: `missing` (undefined, null or ''), or
 * `malformed` (not `digits` ASCII digits); undefined for a well-formed code, which is worth
 * checking. What every verifier answers before it looks at a key.
 */
export function refusalOfNonCode(code: unknown, key: { readonly id: string; readonly digits: number }): CheckResult | undefined {
  if (code === undefined || code === null || code === '') return { ok: false, reason: 'missing', keyId: key.id };
  if (parseCode(code, key.digits) < 0) return { ok: false, reason: 'malformed', keyId: key.id };
  return undefined;
}
