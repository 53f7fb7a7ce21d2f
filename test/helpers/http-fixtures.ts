// Real servers on 127.0.0.1 for each guard adapter, and a raw HTTP client that can send what
// fetch refuses to (repeated headers, non-ASCII bytes, 16 KiB values).
import { readFileSync } from 'node:fs';
import { request as httpRequest, createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { type HttpBindings, serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { KeyOwner, TotpKey } from 'totp-handshake';
import { verifyOtp } from 'totp-handshake/express';
import { fastifyOtp } from 'totp-handshake/fastify';
import { connectionOf, otpGuard } from 'totp-handshake/fetch';
import { type OtpCheckOptions, otpCheck } from 'totp-handshake/http';

import { tempDir } from './handshake-fs.js';

// Node answers 431 itself past 16 KiB of headers; the suite sends 16 KiB values to the guard.
const MAX_HEADER_SIZE = 64 * 1024;
const SUCCESS = '{"success":true}';

export interface TestServer {
  port: number;
  close(): Promise<void>;
}

/** The guard options the tests pass, whatever the adapter; clientKey reads a test header. */
export type GuardTestOptions = Omit<OtpCheckOptions, 'clientKey'> & {
  /** Throttle by this request header instead of the client address. */
  clientHeader?: string;
  /**
   * Trust X-Forwarded-For from a proxy on loopback (express `trust proxy: 'loopback'`, fastify
   * `trustProxy: '127.0.0.1'`), as an app behind a local reverse proxy does. Ignored by the
   * adapters that have no such setting.
   */
  trustLoopbackProxy?: boolean;
};

export interface AdapterCase {
  name: string;
  /** Starts a server whose /secure route is guarded and /open is not. */
  start(options: GuardTestOptions): Promise<TestServer>;
}

function nodeClientKey(name: string | undefined) {
  if (name === undefined) return {};
  return { clientKey: (req: { headers: IncomingHttpHeaders }) => req.headers[name] as string | undefined };
}

function guardOptions({ clientHeader: _, trustLoopbackProxy: __, ...options }: GuardTestOptions) {
  return options;
}

function listening(server: Server): Promise<TestServer> {
  return new Promise((resolve, reject) => {
    const ready = () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    if (server.listening) ready();
    else server.once('listening', ready).once('error', reject);
  });
}

export const adapters: AdapterCase[] = [
  {
    name: 'express',
    start(options) {
      const app = express();
      if (options.trustLoopbackProxy === true) app.set('trust proxy', 'loopback');
      app.get('/open', (_req, res) => void res.json({ open: true }));
      app.all('/secure', verifyOtp({ ...guardOptions(options), ...nodeClientKey(options.clientHeader) }), (_req, res) => {
        res.type('application/json').send(SUCCESS);
      });
      return listening(createServer({ maxHeaderSize: MAX_HEADER_SIZE }, app).listen(0, '127.0.0.1'));
    },
  },
  {
    name: 'fastify',
    async start(options) {
      const app = Fastify({ http: { maxHeaderSize: MAX_HEADER_SIZE }, ...(options.trustLoopbackProxy === true && { trustProxy: '127.0.0.1' }) });
      await app.register(fastifyOtp, { ...guardOptions(options), ...nodeClientKey(options.clientHeader) });
      app.get('/open', { config: { otp: false } }, async () => ({ open: true }));
      app.all('/secure', async (_request, reply) => reply.type('application/json').send(SUCCESS));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
    },
  },
  {
    name: 'fetch (Hono on @hono/node-server)',
    start(options) {
      const { clientHeader } = options;
      const guard = otpGuard({
        ...guardOptions(options),
        ...(clientHeader === undefined ? {} : { clientKey: (req: Request) => req.headers.get(clientHeader) ?? undefined }),
      });
      const app = new Hono<{ Bindings: HttpBindings }>();
      app.get('/open', (c) => c.json({ open: true }));
      app.use('/secure', async (c, next) => guard(c.req.raw, connectionOf(c.env.incoming.socket)) ?? next());
      app.all('/secure', (c) => c.body(SUCCESS, 200, { 'content-type': 'application/json' }));
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', serverOptions: { maxHeaderSize: MAX_HEADER_SIZE } });
      return listening(server as Server);
    },
  },
  {
    name: 'node:http',
    start(options) {
      const check = otpCheck({ ...guardOptions(options), ...nodeClientKey(options.clientHeader) });
      const server = createServer({ maxHeaderSize: MAX_HEADER_SIZE }, (req, res) => {
        if (req.url === '/open' || check(req, res)) res.writeHead(200, { 'content-type': 'application/json' }).end(SUCCESS);
      });
      return listening(server.listen(0, '127.0.0.1'));
    },
  },
];

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request on a connection of its own (so throttling is shown to hold across connections).
 * An array header value is sent as that many header lines; strings go out byte for byte (latin1).
 */
export function send(port: number, headers: OutgoingHttpHeaders = {}, target = '/secure', method = 'GET', localAddress?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: target, method, headers, agent: false, ...(localAddress !== undefined && { localAddress }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface OwnedKey {
  owner: KeyOwner;
  /** The same key, read from the file, for making codes at any time. */
  key: TotpKey;
  /** Closes the owner and removes its directory. */
  close(): Promise<void>;
}

/** A KeyOwner on a key file of its own in a fresh temporary directory. */
export async function startOwner(): Promise<OwnedKey> {
  const { file, cleanup } = tempDir('otp-guard');
  const owner = await KeyOwner.start({ path: file });
  const key = TotpKey.fromBase32(readFileSync(owner.path, 'utf8').trim());
  return {
    owner,
    key,
    async close() {
      await owner.close();
      key.destroy();
      cleanup();
    },
  };
}
