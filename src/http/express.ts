// totp-handshake/express: the guard as Express middleware. Typed structurally (an Express request
// is a node IncomingMessage with `ip`), so this module never loads express itself.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { connectionOf } from './connection.js';
import { createGuard, type OtpGuardOptions } from './decide.js';

export { GUARD_DEFAULTS } from './decide.js';

/** The part of an Express request the guard reads. */
export type ExpressLikeRequest = IncomingMessage & { ip?: string | undefined };

/**
 * The options; `Req` is the request type `clientKey` receives. Give it Express's own (annotate
 * the parameter, `clientKey: (req: Request) => req.header('x-client-id')`, or write
 * `verifyOtp<Request>(...)`): this module never loads express, not even its types.
 */
export type VerifyOtpOptions<Req extends ExpressLikeRequest = ExpressLikeRequest> = OtpGuardOptions<Req>;

/**
 * Express middleware that lets a request through only with a valid code in `X-OTP`; otherwise it
 * answers 401, 429 or 503 with a JSON body. Throttling is per `req.ip` (which honours Express's
 * `trust proxy` setting) unless `clientKey` says otherwise.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { KeyOwner } from 'totp-handshake';
 * import { verifyOtp } from 'totp-handshake/express';
 *
 * const owner = await KeyOwner.start({ path: '/opt/shared/otp.key' });
 * const app = express();
 * app.post('/secure', verifyOtp({ owner }), (req, res) => res.json({ success: true }));
 * ```
 */
export function verifyOtp<Req extends ExpressLikeRequest = ExpressLikeRequest>(
  options: VerifyOtpOptions<Req>,
): (req: Req, res: ServerResponse, next: (error?: unknown) => void) => void {
  const guard = createGuard(options, (req, header) => req.headers[header]);
  return (req, res, next) => {
    const refusal = guard(req, connectionOf(req.socket, req.ip));
    if (refusal === null) next();
    else res.writeHead(refusal.status, refusal.headers).end(refusal.body);
  };
}
