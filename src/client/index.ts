// totp-handshake/client: fetch with the X-OTP header, one retry after a key rotation or a
// throttled step, over TCP or a Unix domain socket.
import { isGuardChallenge } from './challenge.js';
import { fetchOverUnixSocket } from './unix.js';

/** Where the code comes from: a `KeyReader`, or anything with the same two methods. */
export interface OtpHeaderSource {
  /** The headers to add, e.g. `{ 'X-OTP': '123456' }`. */
  headers(): Readonly<Record<string, string>>;
  /** Re-reads the key; a rejection is tolerated (the retry then uses the key already held). */
  reload(): Promise<unknown>;
}

// Bodies that fetch can extract again for a second request. Streams and async iterables are
// consumed by the first send.
function canSendAgain(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData ||
    body instanceof URLSearchParams
  );
}

// A Request of this realm, or one of another copy of undici (which fails `instanceof Request`) told
// apart from a string or URL by its shape.
function isRequest(input: string | URL | Request): input is Request {
  if (input instanceof Request) return true;
  if (typeof input !== 'object' || input === null || input instanceof URL) return false;
  const candidate = input as Partial<Request>;
  return typeof candidate.url === 'string' && typeof candidate.method === 'string' && typeof candidate.clone === 'function';
}

// A Request from another copy of undici is rebuilt as one of this realm, which fetch accepts.
function ownRequest(request: Request): Request {
  if (request instanceof Request) return request;
  const input: Request = request;
  const init: RequestInit & { duplex?: 'half' } = {
    method: input.method,
    headers: [...(input.headers as Iterable<[string, string]>)],
    redirect: input.redirect,
    signal: input.signal,
  };
  if (input.body !== null) {
    init.body = input.body as unknown as NonNullable<RequestInit['body']>;
    init.duplex = 'half';
  }
  return new Request(input.url, init);
}

function withOtp(reader: OtpHeaderSource, input: string | URL | Request, init: RequestInit | undefined): RequestInit {
  // fetch(request, init) takes init.headers instead of the request's, not in addition to them.
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  for (const [name, value] of Object.entries(reader.headers())) headers.set(name, value);
  // fetch follows a redirect to any origin with every header but Authorization and Cookie, so a
  // followed redirect would hand a valid code to whatever the Location names. Unless the caller
  // asks for 'follow' in init, the 3xx comes back to the caller instead (a Request's own
  // redirect: 'error', stricter still, is kept).
  const redirect = init?.redirect ?? (input instanceof Request && input.redirect === 'error' ? 'error' : 'manual');
  return { ...init, headers, redirect };
}

// RFC 9110 §9.2.2. fetch itself refuses TRACE; it is listed for completeness.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
// The guards' 429 body: a refusal before any handler ran, whatever the method.
const GUARD_THROTTLED_BODY = '{"error":"Too many attempts"}';
const DEFAULT_MAX_RETRY_WAIT_MS = 30_000;

export interface OtpFetchInit extends RequestInit {
  /**
   * Send the request over this Unix domain socket (the API listening in the key's directory, see
   * `listenOnKeySocket`) instead of TCP. The URL still gives the path and the Host header, e.g.
   * `http://localhost/jobs`. Redirects are never followed over a socket.
   */
  socketPath?: string;
  /**
   * The longest wait, in ms, that a 429's Retry-After may ask for and still be waited out and the
   * request sent once more. Default 30,000 (one TOTP period); 0: a 429 is returned at once.
   */
  maxRetryWait?: number;
}

/** The wait a Retry-After value asks for, in ms (delta-seconds or an HTTP-date), or undefined. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Whether a 429 may be sent again: the guard's own (no handler ran), or an idempotent method. */
async function throttledBeforeHandler(response: Response, method: string): Promise<boolean> {
  if (IDEMPOTENT.has(method.toUpperCase())) return true;
  const text = await response
    .clone()
    .text()
    .catch(() => '');
  return text === GUARD_THROTTLED_BODY;
}

function checkInit(socketPath: unknown, maxRetryWait: unknown): void {
  if (socketPath !== undefined && (typeof socketPath !== 'string' || socketPath.length === 0)) {
    throw new TypeError('otpFetch: socketPath must be a non-empty path');
  }
  if (!Number.isSafeInteger(maxRetryWait) || (maxRetryWait as number) < 0) {
    throw new TypeError('otpFetch: maxRetryWait must be a whole number of milliseconds, 0 or more');
  }
}

/**
 * `fetch` with the reader's current code in `X-OTP`.
 *
 * Redirects are not followed unless `init.redirect` is 'follow': a 3xx is returned as it is, so
 * the code never reaches another origin. (With 'follow', fetch sends X-OTP to wherever the
 * redirect points, other origins included.)
 *
 * It sends a request at most twice:
 * - after a 401 (typically: the API rotated its key and this reader has not seen the new file
 *   yet) it reloads the key and sends it again, when the 401 carries the guards' own challenge
 *   (`WWW-Authenticate: OTP error="missing"` or `"invalid"`: refused before any handler ran) or
 *   the method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE);
 * - after a 429 whose Retry-After is at most `maxRetryWait` (default 30 s) it waits that long and
 *   sends it again, when the 429 is the guard's own (its JSON body) or the method is idempotent;
 * and in both cases only when its body can be sent again (none, a string, bytes, URLSearchParams,
 * FormData or a Blob; a `Request` input is cloned first). A POST (or PATCH, ...) refused by a
 * handler itself is returned as it is: sending it again could do its work twice.
 *
 * With `socketPath` it talks HTTP over that Unix domain socket instead of TCP.
 *
 * @example
 * ```ts
 * import { KeyReader } from 'totp-handshake';
 * import { otpFetch } from 'totp-handshake/client';
 *
 * const reader = await KeyReader.open({ path: '/opt/shared/otp.key' });
 * const res = await otpFetch(reader, 'http://localhost/jobs', { method: 'POST', body: '{}', socketPath: '/opt/shared/api.sock' });
 * ```
 */
export async function otpFetch(reader: OtpHeaderSource, input: string | URL | Request, init?: OtpFetchInit): Promise<Response> {
  const { socketPath, maxRetryWait = DEFAULT_MAX_RETRY_WAIT_MS, ...requestInit } = init ?? {};
  checkInit(socketPath, maxRetryWait);
  const send = (target: string | URL | Request, options: RequestInit): Promise<Response> =>
    socketPath === undefined ? fetch(target, options) : fetchOverUnixSocket(socketPath, new Request(target, options));
  const target = isRequest(input) ? ownRequest(input) : input;
  const again = canSendAgain(requestInit.body);
  // fetch(request, init) sends the request's own body when init.body is absent or null, which
  // uses it up: keep a clone for the retry.
  const retryInput = again && target instanceof Request && target.body !== null && requestInit.body == null ? target.clone() : target;
  const response = await send(target, withOtp(reader, target, requestInit));
  if ((response.status !== 401 && response.status !== 429) || !again) return response;
  const method = requestInit.method ?? (target instanceof Request ? target.method : 'GET');
  if (response.status === 401) {
    if (!isGuardChallenge(response.headers.get('www-authenticate')) && !IDEMPOTENT.has(method.toUpperCase())) return response;
    // Frees the connection without reading a body nobody will look at.
    await response.body?.cancel().catch(() => undefined);
    await reader.reload().catch(() => undefined);
  } else {
    const wait = retryAfterMs(response.headers.get('retry-after'));
    if (wait === undefined || wait > maxRetryWait || !(await throttledBeforeHandler(response, method))) return response;
    await response.body?.cancel().catch(() => undefined);
    await sleep(wait, requestInit.signal);
  }
  return send(retryInput, withOtp(reader, retryInput, requestInit));
}
