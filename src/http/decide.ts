// The one place that decides what a guarded request gets (SPEC §4). The adapters only read the
// header, the client's address and the listening socket out of their framework's request and
// write the refusal back. Nothing here is specific to Node: the guards depend on the verifier
// contract and on shared validation, not on the file handshake.
import { type AuditEvent, type AuditListener, emitEvent } from '../events.js';
import { fail, flag, optionalFunction, optionsObject, wholeNumber } from '../internal/options.js';
import { DEFAULT_WINDOW, resolveWindow } from '../options.js';
import type { CheckResult, OtpVerifier } from '../verifier.js';
import { ReplayGuard } from './replay.js';
import { FailureThrottle, type Throttled, UNKNOWN_LISTENER } from './throttle.js';

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
   * Failed codes within one TOTP step on one listening socket, all clients together, before
   * every request on it gets 429 until the step ends. Default 20. This is the bound on guessing:
   * it holds whatever addresses or `clientKey` values the guesses come with, and it is shared by
   * every guard of this process that uses the same `owner`.
   */
  maxFailuresTotal?: number;
  /**
   * Clients tracked by the per-client count at once; past that the least recently active one is
   * forgotten. Default 10,000 (about 1 MB of heap, whatever the client keys hold).
   */
  maxClients?: number;
  /**
   * Accept each code only once per key (RFC 6238 §5.2). Default false: a service may send the
   * same code for every request within a step, which is what the handshake relies on.
   */
  rejectReplay?: boolean;
  /**
   * The per-client throttling key of a request. Default: the client's address. Return undefined
   * to fall back to the address. Anything read from request headers is under the client's
   * control: it can spread its guesses over many keys, which `maxFailuresTotal` still bounds.
   */
  clientKey?: (req: Req) => string | undefined;
  /** Called with a `verify` event for each checked request and a `throttle` event for each 429. */
  onEvent?: AuditListener;
  /** The clock in milliseconds since the Unix epoch. Default `Date.now`; meant for tests. */
  now?: () => number;
}

const OPTION_NAMES: readonly string[] = [
  'owner',
  'header',
  'window',
  'maxFailures',
  'maxFailuresTotal',
  'maxClients',
  'rejectReplay',
  'clientKey',
  'onEvent',
  'now',
] satisfies (keyof OtpGuardOptions<never>)[];

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

/** Where a request came from, as far as throttling goes. */
export interface Connection {
  /** The peer's address (undefined on a Unix socket). */
  address?: string | undefined;
  /**
   * The listening socket the request arrived on (a node `net.Server`): failures are counted per
   * listener. Undefined: one count for every request whose listener is not known.
   */
  listener?: object | undefined;
}

export interface Decider {
  /** Decides one request: null lets it through. */
  decide(value: HeaderValue, client: string, listener?: object): Refusal | null;
  /** Clients the per-client count tracks now (never more than `maxClients`). */
  readonly trackedClients: number;
}

/** The guards' defaults, one table (SECURITY.md derives the odds of guessing a code from them). */
export const GUARD_DEFAULTS = Object.freeze({
  header: 'X-OTP',
  window: DEFAULT_WINDOW,
  maxFailures: 20,
  maxFailuresTotal: 20,
  maxClients: 10_000,
  rejectReplay: false,
});
// RFC 9110 §5.1: a field name is a token.
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function refusal(status: Refusal['status'], error: string, headers: Record<string, string> = {}): Refusal {
  return Object.freeze({
    status,
    headers: Object.freeze({ 'content-type': 'application/json; charset=utf-8', ...headers }),
    body: JSON.stringify({ error }),
  });
}

const KEY_UNAVAILABLE = refusal(503, 'OTP key unavailable');
// RFC 9110 §15.5.2: a 401 carries a WWW-Authenticate challenge. The OTP scheme also tells a client
// (otpFetch) that the guard refused before any handler ran, so the request is safe to send again.
const CODE_MISSING = refusal(401, 'Missing OTP', { 'www-authenticate': 'OTP error="missing"' });
const CODE_INVALID = refusal(401, 'Invalid OTP', { 'www-authenticate': 'OTP error="invalid"' });
const tooManyAttempts = (seconds: number): Refusal => refusal(429, 'Too many attempts', { 'retry-after': String(seconds) });

function resolveHeader(header: unknown): string {
  if (header === undefined) return GUARD_DEFAULTS.header.toLowerCase();
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
function codeOf(value: HeaderValue): unknown {
  if (typeof value === 'string' || value === undefined) return value;
  if (value === null) return undefined;
  return value.length <= 1 ? value[0] : value;
}

function report(onEvent: AuditListener | undefined, result: CheckResult | { ok: false; reason: 'replayed'; keyId?: string | undefined }): void {
  if (onEvent === undefined) return;
  const event: Omit<AuditEvent, 'at'> = { type: 'verify', ok: result.ok };
  if (result.reason !== undefined) event.reason = result.reason;
  if (result.keyId !== undefined) event.keyId = result.keyId;
  if ('delta' in result && result.delta !== undefined) event.delta = result.delta;
  emitEvent(onEvent, event);
}

function reportThrottle(onEvent: AuditListener | undefined, { retryAfter, scope }: Throttled): void {
  if (onEvent === undefined) return;
  const whose = scope === 'client' ? 'from this client' : 'on this listener, from all clients together';
  emitEvent(onEvent, { type: 'throttle', ok: false, reason: 'throttled', message: `too many failed codes ${whose}; retry in ${retryAfter} s` });
}

/** Validates the options (throwing OtpError ERR_OTP_OPTIONS) and returns the decision core. */
export function createDecider(options: OtpGuardOptions<never>): Decider {
  optionsObject(options, 'the guard', OPTION_NAMES, true);
  const owner = checkOwner(options.owner);
  const window = resolveWindow(options.window);
  const throttle = new FailureThrottle(owner, {
    maxFailures: wholeNumber(options.maxFailures, 'maxFailures', GUARD_DEFAULTS.maxFailures, 1),
    maxFailuresTotal: wholeNumber(options.maxFailuresTotal, 'maxFailuresTotal', GUARD_DEFAULTS.maxFailuresTotal, 1),
    maxClients: wholeNumber(options.maxClients, 'maxClients', GUARD_DEFAULTS.maxClients, 1),
  });
  const replays = flag(options.rejectReplay, 'rejectReplay', GUARD_DEFAULTS.rejectReplay) ? new ReplayGuard() : undefined;
  const onEvent = optionalFunction(options.onEvent, 'onEvent');
  const now = optionalFunction(options.now, 'now') ?? Date.now;
  // One options object for every check: verification is synchronous and reads it only during the
  // call, so the hot path allocates nothing for it.
  const verifyOptions = { window, timeMs: 0 };

  // A verifier that does not say which step matched, and until when, cannot be checked for replays: refuse.
  function firstUse(guard: ReplayGuard, { keyId = '', step, expiresAt }: CheckResult, nowMs: number): boolean {
    return step !== undefined && expiresAt !== undefined && guard.accept(keyId, step, expiresAt, nowMs);
  }

  function countFailure(client: string, listener: object, nowMs: number): Refusal {
    const timing = owner.timing();
    if (timing !== undefined) throttle.fail(client, listener, nowMs, timing);
    return CODE_INVALID;
  }

  return {
    decide(value, client, listener = UNKNOWN_LISTENER) {
      const nowMs = now();
      const throttled = throttle.check(client, listener, nowMs);
      if (throttled !== undefined) {
        reportThrottle(onEvent, throttled);
        return tooManyAttempts(throttled.retryAfter);
      }
      verifyOptions.timeMs = nowMs;
      const result = owner.check(codeOf(value), verifyOptions);
      if (!result.ok) {
        report(onEvent, result);
        if (result.reason === 'no-key') return KEY_UNAVAILABLE;
        if (result.reason === 'missing') return CODE_MISSING;
        return countFailure(client, listener, nowMs);
      }
      if (replays !== undefined && !firstUse(replays, result, nowMs)) {
        report(onEvent, { ok: false, reason: 'replayed', keyId: result.keyId });
        return countFailure(client, listener, nowMs);
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
 * The guard behind every adapter: reads the header with `read` and the connection with
 * `connection`, picks the client's per-client key (`clientKey`, else the address) and decides.
 */
export function createGuard<Req>(
  options: OtpGuardOptions<Req>,
  read: (req: Req, header: string) => HeaderValue,
): (req: Req, connection: Connection) => Refusal | null {
  const { decide } = createDecider(options as OtpGuardOptions<never>);
  const header = resolveHeader(options.header);
  const clientKey = optionalFunction(options.clientKey, 'clientKey');
  return (req, { address, listener }) => {
    const key = clientKey?.(req);
    return decide(read(req, header), typeof key === 'string' ? key : (address ?? ''), listener);
  };
}
