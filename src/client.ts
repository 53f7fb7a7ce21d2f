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

function withOtp(reader: OtpHeaderSource, input: string | URL | Request, init: RequestInit | undefined): RequestInit {
  // fetch(request, init) takes init.headers instead of the request's, not in addition to them.
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  for (const [name, value] of Object.entries(reader.headers())) headers.set(name, value);
  return { ...init, headers };
}

/**
 * `fetch` with the reader's current code in `X-OTP`. On a 401 (typically: the API rotated its
 * key and this reader has not seen the new file yet) it reloads the key once and sends the request
 * once more, if its body can be sent again (none, a string, bytes, URLSearchParams, FormData or a
 * Blob; a `Request` input is cloned first). With a stream body the 401 is returned as it is.
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
  const again = canSendAgain(init?.body);
  const retryInput = again && input instanceof Request && input.body !== null && init?.body === undefined ? input.clone() : input;
  const response = await fetch(input, withOtp(reader, input, init));
  if (response.status !== 401 || !again) return response;
  // Frees the connection without reading a body nobody will look at.
  await response.body?.cancel().catch(() => undefined);
  await reader.reload().catch(() => undefined);
  return fetch(retryInput, withOtp(reader, retryInput, init));
}
