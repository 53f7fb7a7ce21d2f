// totp-handshake/http: the guard for a plain node:http server.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { createGuard, type OtpGuardOptions } from './decide.js';

export { GUARD_DEFAULTS } from './decide.js';
import { connectionOf } from './connection.js';

export type OtpCheckOptions = OtpGuardOptions<IncomingMessage>;

/**
 * A check for `node:http` request handlers. It returns true when the request carries a valid code;
 * otherwise it has already answered (401, 429 or 503 with a JSON body) and returns false.
 * Failures are counted per `req.socket.remoteAddress` (unless `clientKey` says otherwise) and per
 * listening socket (`maxFailuresTotal`).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { KeyOwner } from 'totp-handshake';
 * import { otpCheck } from 'totp-handshake/http';
 *
 * const owner = await KeyOwner.start({ path: '/opt/shared/otp.key' });
 * const checkOtp = otpCheck({ owner });
 * createServer((req, res) => {
 *   if (!checkOtp(req, res)) return;
 *   res.end('trusted');
 * }).listen(8080);
 * ```
 */
export function otpCheck(options: OtpCheckOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const guard = createGuard(options, (req, header) => req.headers[header]);
  return (req, res) => {
    const refusal = guard(req, connectionOf(req.socket));
    if (refusal === null) return true;
    res.writeHead(refusal.status, refusal.headers).end(refusal.body);
    return false;
  };
}
