// HTTP over a Unix domain socket, with fetch's Request and Response: what otpFetch uses when it
// is given `socketPath` (Node's fetch cannot reach a socket without a dispatcher from the undici
// package, which Node 20 does not expose). node:http is loaded on first use, so that the client
// entry point stays free of it for runtimes without a Unix socket.
import type { IncomingMessage } from 'node:http';

// Statuses whose responses have no body (RFC 9110 §6.4.1), and HEAD, whose responses never do.
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function responseHeaders(message: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = message.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return headers;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * Sends `request` to the HTTP server listening on the Unix socket `socketPath`, as fetch would
 * with `redirect: 'manual'` (a 3xx comes back as it is) or 'error' (a 3xx rejects). The Host
 * header is the request URL's host. The body is read whole before it is sent.
 */
export async function fetchOverUnixSocket(socketPath: string, request: Request): Promise<Response> {
  if (request.redirect === 'follow') {
    throw new TypeError("otpFetch over a Unix socket does not follow redirects: use redirect 'manual' (the default) or 'error'");
  }
  const { request: send } = await import('node:http');
  const url = new URL(request.url);
  if (url.protocol !== 'http:') throw new TypeError(`otpFetch over a Unix socket sends http: requests, not ${url.protocol}`);
  const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
  const headers: Record<string, string> = { host: url.host };
  for (const [name, value] of request.headers) headers[name] = value;
  if (body !== undefined) headers['content-length'] = String(body.length);
  const signal = request.signal;
  if (signal.aborted) throw abortError(signal);

  const message = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = send({ socketPath, method: request.method, path: `${url.pathname}${url.search}`, headers, signal }, resolve);
    outgoing.on('error', (error) => reject(signal.aborted ? abortError(signal) : new TypeError(`fetch over ${socketPath} failed`, { cause: error })));
    outgoing.end(body);
  });

  const status = message.statusCode ?? 0;
  if (request.redirect === 'error' && status >= 300 && status < 400) {
    message.destroy();
    throw new TypeError(`the server at ${socketPath} answered ${status}, a redirect, and redirect is 'error'`);
  }
  const empty = request.method === 'HEAD' || NULL_BODY_STATUSES.has(status);
  if (empty) message.resume();
  const { Readable } = await import('node:stream');
  const responseBody = empty ? null : (Readable.toWeb(message) as unknown as ReadableStream<Uint8Array>);
  return new Response(responseBody, { status, statusText: message.statusMessage ?? '', headers: responseHeaders(message) });
}
