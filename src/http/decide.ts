// The one place that decides what a guarded request gets (SPEC §4). The adapters only read the
// header and the client's address out of their framework's request and write the refusal back.
import { type AuditEvent, type AuditListener, emitEvent } from '../handshake/events.js';
import type { CheckResult, OtpVerifier } from '../handshake/types.js';
import { fail, flag, listener } from '../handshake/validate.js';
import { resolveWindow } from '../options.js';
import { ReplayGuard } from './replay.js';
import { FailureThrottle } from './throttle.js';

/** Options shared by every guard. `Req` is the framework's request type. */
export interface OtpGuardOptions<Req> {
  /** What checks the codes: a `KeyOwner` (or anything implementing `OtpVerifier`). */
  owner: OtpVerifier;
  /** The request header holding the code, matched case-insensitively. Default 'X-OTP'. */
  header?: string;
  /** Steps accepted on each side of the current one. Default 1; at most 10. */
  window?: number;
  /** Failed codes per client within one TOTP step before it gets 429. Default 20. */
  maxFailures?: number;
  /**
   * Clients tracked by the throttle at once; past that the least recently active one is
   * forgotten. Default 10,000 (under 2 MB of heap with IPv6 addresses as keys).
   */
  maxClients?: number;
  /**
   * Accept each code only once per key (RFC 6238 §5.2). Default false: a service may send the
   * same code for every request within a step, which is what the handshake relies on.
   */
  rejectReplay?: boolean;
  /**
   * The throttling key of a request. Default: the client's address. Return undefined to fall
   * back to the address. Anything read from request headers is under the client's control.
   */
  clientKey?: (req: Req) => string | undefined;
  /** Called with a `verify` event for each checked request and a `throttle` event for each 429. */
  onEvent?: AuditListener;
  /** The clock in milliseconds since the Unix epoch. Default `Date.now`; meant for tests. */
  now?: () => number;
}

/** What a refused request is answered with: the same in every adapter. */
export interface Refusal {
  readonly status: 401 | 429 | 503;
  /** content-type; `www-authenticate: OTP error="missing"|"invalid"` on a 401; `retry-after` on a 429. */
  readonly headers: Readonly<Record<string, string>>;
  /** JSON, e.g. `{"error":"Invalid OTP"}`. */
  readonly body: string;
}

/** A header as frameworks hand it over: node gives arrays only for a few names, fetch gives null. */
export type HeaderValue = string | readonly string[] | null | undefined;

export interface Decider {
  /** Decides one request: null lets it through. */
  decide(value: HeaderValue, client: string): Refusal | null;
  /** Clients the throttle tracks now (never more than `maxClients`). */
  readonly trackedClients: number;
}

const DEFAULT_HEADER = 'x-otp';
const DEFAULT_MAX_FAILURES = 20;
const DEFAULT_MAX_CLIENTS = 10_000;
// RFC 9110 §5.1: a field name is a token.
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function refusal(status: Refusal['status'], error: string, headers: Record<string, string> = {}): Refusal {
  return Object.freeze({
    status,
    headers: Object.freeze({ 'content-type': 'application/json; charset=utf-8', ...headers }),
    body: JSON.stringify({ error }),
  });
}

const UNAVAILABLE = refusal(503, 'OTP key unavailable');
// RFC 9110 §15.5.2: a 401 carries a WWW-Authenticate challenge. The OTP scheme also tells a client
// (otpFetch) that the guard refused before any handler ran, so the request is safe to send again.
const MISSING = refusal(401, 'Missing OTP', { 'www-authenticate': 'OTP error="missing"' });
const INVALID = refusal(401, 'Invalid OTP', { 'www-authenticate': 'OTP error="invalid"' });
const tooManyAttempts = (seconds: number): Refusal => refusal(429, 'Too many attempts', { 'retry-after': String(seconds) });

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) fail(`${name} must be a whole number, 1 or more`);
  return value as number;
}

function optionalFunction<F>(value: F | undefined, name: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') fail(`${name} must be a function`);
  return value;
}

function resolveHeader(header: unknown): string {
  if (header === undefined) return DEFAULT_HEADER;
  if (typeof header !== 'string' || !FIELD_NAME.test(header)) fail('header must be an HTTP field name such as X-OTP');
  return header.toLowerCase();
}

function checkOwner(owner: unknown): OtpVerifier {
  const verifier = owner as Partial<OtpVerifier> | null | undefined;
  if (typeof verifier?.check !== 'function' || typeof verifier.timing !== 'function') {
    fail('owner must be a KeyOwner (an object with check() and timing())');
  }
  return verifier as OtpVerifier;
}

// What the verifier is asked to check: undefined for an absent header. Node hands over an array
// only for the few headers it never joins; more than one value is not a code.
function single(value: HeaderValue): unknown {
  if (typeof value === 'string' || value === undefined) return value;
  if (value === null) return undefined;
  return value.length <= 1 ? value[0] : value;
}

function report(onEvent: AuditListener | undefined, result: CheckResult): void {
  if (onEvent === undefined) return;
  const event: Omit<AuditEvent, 'at'> = { type: 'verify', ok: result.ok };
  if (result.reason !== undefined) event.reason = result.reason;
  if (result.keyId !== undefined) event.keyId = result.keyId;
  if (result.delta !== undefined) event.delta = result.delta;
  emitEvent(onEvent, event);
}

/** Validates the options (throwing OtpError ERR_OTP_OPTIONS) and returns the decision core. */
export function createDecider(options: OtpGuardOptions<never>): Decider {
  if (options === null || typeof options !== 'object') fail('the guard options must be an object with an owner');
  const owner = checkOwner(options.owner);
  const window = resolveWindow(options.window);
  const maxFailures = positiveInteger(options.maxFailures, 'maxFailures', DEFAULT_MAX_FAILURES);
  const maxClients = positiveInteger(options.maxClients, 'maxClients', DEFAULT_MAX_CLIENTS);
  const rejectReplay = flag(options.rejectReplay, 'rejectReplay', false);
  const onEvent = listener(options.onEvent);
  const now = optionalFunction(options.now, 'now') ?? Date.now;
  const throttle = new FailureThrottle(maxFailures, maxClients);
  const replays = rejectReplay ? new ReplayGuard(window) : undefined;
  // One options object for every check: verification is synchronous and reads it only during the
  // call, so the hot path allocates nothing for it.
  const verifyOptions = { window, timeMs: 0 };

  // A verifier that does not say which step matched cannot be checked for replays: refuse.
  function acceptOnce(guard: ReplayGuard, { keyId = '', step }: CheckResult, nowMs: number): boolean {
    const timing = owner.timing();
    return timing !== undefined && step !== undefined && guard.accept(keyId, step, nowMs, timing);
  }

  function refuse(result: CheckResult, client: string, nowMs: number): Refusal {
    report(onEvent, result);
    if (result.reason === 'no-key') return UNAVAILABLE;
    if (result.reason === 'missing') return MISSING;
    const timing = owner.timing();
    if (timing !== undefined) throttle.fail(client, nowMs, timing);
    return INVALID;
  }

  return {
    decide(value, client) {
      const nowMs = now();
      const wait = throttle.retryAfter(client, nowMs);
      if (wait > 0) {
        emitEvent(onEvent, { type: 'throttle', ok: false, reason: 'throttled', message: `too many failed codes; retry in ${wait} s` });
        return tooManyAttempts(wait);
      }
      verifyOptions.timeMs = nowMs;
      const result = owner.check(single(value), verifyOptions);
      if (!result.ok) return refuse(result, client, nowMs);
      if (replays !== undefined && !acceptOnce(replays, result, nowMs)) {
        return refuse({ ...result, ok: false, reason: 'replayed' }, client, nowMs);
      }
      report(onEvent, result);
      return null;
    },
    get trackedClients() {
      return throttle.size;
    },
  };
}

/**
 * The guard behind every adapter: reads the header with `read`, picks the client's throttling
 * key (`clientKey`, else the address the adapter found) and decides.
 */
export function createGuard<Req>(
  options: OtpGuardOptions<Req>,
  read: (req: Req, header: string) => HeaderValue,
): (req: Req, address: string | undefined) => Refusal | null {
  const { decide } = createDecider(options);
  const header = resolveHeader(options.header);
  const clientKey = optionalFunction(options.clientKey, 'clientKey');
  return (req, address) => decide(read(req, header), clientKey?.(req) ?? address ?? '');
}
