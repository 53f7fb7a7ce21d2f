// totp-handshake/fetch: the guard for runtimes built on the Web Request/Response (Hono, Next.js
// route handlers, Bun, Deno). Nothing here is specific to Node.
import { type Connection, createGuard, type OtpGuardOptions } from './decide.js';

export type OtpGuardFetchOptions = OtpGuardOptions<Request>;
export type { Connection } from './decide.js';
export { connectionOf } from './connection.js';
export { GUARD_DEFAULTS } from './decide.js';

/**
 * A guard for Web `Request`s: null lets the request through; otherwise it is the `Response` to
 * send (401, 429 or 503 with a JSON body).
 *
 * Pass where the request came from as the second argument: the client's address (a string), or
 * `{ address, listener }` with the listening server, so that failures are counted per listener
 * as in the other adapters (on Node, `connectionOf(incoming.socket)` builds it). Without an
 * address (and without `clientKey`) every client shares one per-client count, so one client's
 * failures can lock out the others; without a listener every request shares one per-listener count.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { serve, type HttpBindings } from '@hono/node-server';
 * import { KeyOwner } from 'totp-handshake';
 * import { connectionOf, otpGuard } from 'totp-handshake/fetch';
 *
 * const guard = otpGuard({ owner: await KeyOwner.start({ path: '/opt/shared/otp.key' }) });
 * const app = new Hono<{ Bindings: HttpBindings }>();
 * app.use(async (c, next) => guard(c.req.raw, connectionOf(c.env.incoming.socket)) ?? next());
 * serve({ fetch: app.fetch, port: 8080 });
 * ```
 */
export function otpGuard(options: OtpGuardFetchOptions): (req: Request, client?: string | Connection) => Response | null {
  const guard = createGuard(options, (req, header) => req.headers.get(header));
  return (req, client) => {
    const refusal = guard(req, typeof client === 'string' || client === undefined ? { address: client } : client);
    return refusal === null ? null : new Response(refusal.body, { status: refusal.status, headers: refusal.headers });
  };
}
