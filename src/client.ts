// totp-handshake/client: fetch with the X-OTP header, and one retry after a key rotation.

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

/**
 * True when a WWW-Authenticate value (RFC 9110 §11.6.1; several fields joined by ", ") holds a
 * challenge with the OTP scheme: the guard refused the request before any handler ran.
 */
function hasOtpChallenge(value: string | null): boolean {
  if (value === null) return false;
  // Quoted strings may hold commas and the word OTP; blank them before splitting on commas. A
  // challenge starts with its scheme, then the end or whitespace and a token68 or an auth-param; an
  // element "otp = x" or "otp=x" is an auth-param named otp, not the scheme.
  const unquoted = value.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return unquoted.split(',').some((element) => /^otp(?:$|[ \t]+[^ \t=])/i.test(element.trim()));
}

function retryable(response: Response, method: string): boolean {
  return hasOtpChallenge(response.headers.get('www-authenticate')) || IDEMPOTENT.has(method.toUpperCase());
}

/**
 * `fetch` with the reader's current code in `X-OTP`.
 *
 * Redirects are not followed unless `init.redirect` is 'follow': a 3xx is returned as it is, so
 * the code never reaches another origin. (With 'follow', fetch sends X-OTP to wherever the
 * redirect points, other origins included.)
 *
 * On a 401 (typically: the API rotated its key and this reader has not seen the new file yet) it
 * reloads the key once and sends the request once more, when
 * - the 401 carries a `WWW-Authenticate: OTP ...` challenge (the guard refused it before any
 *   handler ran) or the method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), and
 * - its body can be sent again (none, a string, bytes, URLSearchParams, FormData or a Blob; a
 *   `Request` input is cloned first). With a stream body the 401 is returned as it is.
 * A POST (or PATCH, ...) answered 401 without the OTP challenge, e.g. by the handler itself, is
 * returned as it is: sending it again could do its work twice.
 *
 * @example
 * ```ts
 * import { KeyReader } from 'totp-handshake';
 * import { otpFetch } from 'totp-handshake/client';
 *
 * const reader = await KeyReader.open({ path: '/opt/shared/otp.key' });
 * const res = await otpFetch(reader, 'http://api:8080/secure', { method: 'POST', body: '{}' });
 * ```
 */
export async function otpFetch(reader: OtpHeaderSource, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const target = isRequest(input) ? ownRequest(input) : input;
  const again = canSendAgain(init?.body);
  // fetch(request, init) sends the request's own body when init.body is absent or null, which
  // uses it up: keep a clone for the retry.
  const retryInput = again && target instanceof Request && target.body !== null && init?.body == null ? target.clone() : target;
  const response = await fetch(target, withOtp(reader, target, init));
  if (response.status !== 401 || !again) return response;
  const method = init?.method ?? (target instanceof Request ? target.method : 'GET');
  if (!retryable(response, method)) return response;
  // Frees the connection without reading a body nobody will look at.
  await response.body?.cancel().catch(() => undefined);
  await reader.reload().catch(() => undefined);
  return fetch(retryInput, withOtp(reader, retryInput, init));
}
