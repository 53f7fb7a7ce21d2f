// What the HTTP guards need from a key holder. KeyOwner implements it; so can a test double.
import type { VerifyOptions } from '../options.js';
import type { Reason } from './events.js';

export interface CheckResult {
  ok: boolean;
  /** Why the code was refused: missing, malformed, invalid or no-key (never set when ok). */
  reason?: Reason;
  /** The fingerprint of the key that matched (or of the current key on a refusal). */
  keyId?: string;
  /** The matched step offset (-1 = one step old). */
  delta?: number;
  /** The matched time step (counter), for replay tracking. */
  step?: number;
}

export interface KeyTiming {
  /** Time step in seconds. */
  period: number;
  /** Unix time in seconds of step 0. */
  epoch: number;
}

export interface OtpVerifier {
  /** Checks a code (any value: absent, malformed, wrong). Never throws for a bad code. */
  check(code: unknown, options?: VerifyOptions): CheckResult;
  /** The current key's timing, or undefined while no key is loaded. */
  timing(): KeyTiming | undefined;
}
