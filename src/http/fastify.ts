// totp-handshake/fastify: the guard as an onRequest hook. Typed structurally so that this module
// never loads fastify (or fastify-plugin) itself.
import type { IncomingHttpHeaders } from 'node:http';

import { connectionOf, type SocketLike } from './connection.js';
import { createGuard, type OtpGuardOptions } from './decide.js';

export { GUARD_DEFAULTS } from './decide.js';

/** The part of a Fastify request the guard reads. */
export interface FastifyLikeRequest {
  readonly ip: string;
  readonly headers: IncomingHttpHeaders;
  readonly routeOptions: { readonly config?: unknown };
  readonly raw: { readonly socket: SocketLike };
}

/** The part of a Fastify reply the guard writes. */
export interface FastifyLikeReply {
  code(statusCode: number): FastifyLikeReply;
  headers(values: Record<string, string>): FastifyLikeReply;
  send(payload: string): unknown;
}

/** The part of a Fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  addHook(
    name: 'onRequest',
    hook: (request: FastifyLikeRequest, reply: FastifyLikeReply, done: (error?: Error) => void) => void,
  ): unknown;
}

/**
 * The options; `Req` is the request type `clientKey` receives. Give it Fastify's own (annotate
 * the parameter, `clientKey: (req: FastifyRequest) => ...`, or register `fastifyOtp<FastifyRequest>`):
 * this module never loads fastify, not even its types.
 */
export type FastifyOtpOptions<Req extends FastifyLikeRequest = FastifyLikeRequest> = OtpGuardOptions<Req>;

function optedOut(request: FastifyLikeRequest): boolean {
  return (request.routeOptions.config as { otp?: unknown } | undefined)?.otp === false;
}

/**
 * A Fastify plugin that lets a request through only with a valid code in `X-OTP`; otherwise it
 * answers 401, 429 or 503 with a JSON body, before the body is read. Registered on the root
 * instance it guards every route registered after it; registered inside an encapsulated context
 * it guards that context. A route opts out with `config: { otp: false }`. Throttling is per
 * `request.ip` (which honours Fastify's `trustProxy`) unless `clientKey` says otherwise.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { KeyOwner } from 'totp-handshake';
 * import { fastifyOtp } from 'totp-handshake/fastify';
 *
 * const owner = await KeyOwner.start({ path: '/opt/shared/otp.key' });
 * const app = Fastify();
 * await app.register(fastifyOtp, { owner });
 * app.get('/health', { config: { otp: false } }, async () => ({ ok: true }));
 * app.post('/secure', async () => ({ success: true }));
 * ```
 */
export async function fastifyOtp<Req extends FastifyLikeRequest = FastifyLikeRequest>(instance: FastifyLikeInstance, options: FastifyOtpOptions<Req>): Promise<void> {
  const guard = createGuard<FastifyLikeRequest>(options as FastifyOtpOptions, (request, header) => request.headers[header]);
  instance.addHook('onRequest', (request, reply, done) => {
    const refusal = optedOut(request) ? null : guard(request, connectionOf(request.raw.socket, request.ip));
    if (refusal === null) done();
    else reply.code(refusal.status).headers(refusal.headers).send(refusal.body);
  });
}

// What fastify-plugin would set: skip-override adds the hook to the instance `register` was
// called on instead of a new child context, so a root registration guards the whole app.
Object.defineProperties(fastifyOtp, {
  [Symbol.for('skip-override')]: { value: true },
  [Symbol.for('fastify.display-name')]: { value: 'totp-handshake' },
  [Symbol.for('plugin-meta')]: { value: { name: 'totp-handshake', fastify: '5.x' } },
});
