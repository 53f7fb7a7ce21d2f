// totp-handshake/fetch: the guard for runtimes built on the Web Request/Response (Hono, Next.js
// route handlers, Bun, Deno). Nothing here is specific to Node.
import { createGuard, type OtpGuardOptions } from './decide.js';

export type OtpGuardFetchOptions = OtpGuardOptions<Request>;

/**
 * A guard for Web `Request`s: null lets the request through; otherwise it is the `Response` to
 * send (401, 429 or 503 with a JSON body). Pass the client's address as the second argument:
 * without it (and without `clientKey`), every client shares one throttling bucket, so one
 * client's failures can lock out the others.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { getConnInfo } from '@hono/node-server/conninfo';
 * import { KeyOwner } from 'totp-handshake';
 * import { otpGuard } from 'totp-handshake/fetch';
 *
 * const guard = otpGuard({ owner: await KeyOwner.start({ path: '/opt/shared/otp.key' }) });
 * const app = new Hono();
 * app.use(async (c, next) => guard(c.req.raw, getConnInfo(c).remote.address) ?? next());
 * ```
 */
export function otpGuard(options: OtpGuardFetchOptions): (req: Request, clientAddress?: string) => Response | null {
  const guard = createGuard(options, (req, header) => req.headers.get(header));
  return (req, clientAddress) => {
    const refusal = guard(req, clientAddress);
    return refusal === null ? null : new Response(refusal.body, { status: refusal.status, headers: refusal.headers });
  };
}
