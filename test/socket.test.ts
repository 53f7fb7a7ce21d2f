// The API on a Unix domain socket in the key's own directory (SECURITY.md, "The recommended
// deployment"): every server the guards support listens there through listenOnKeySocket, otpFetch
// reaches it, the socket gets the key file's access, and failures on another listener of the same
// app cannot lock its clients out.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { KeyOwner, KeyReader, listenOnKeySocket } from 'totp-handshake';
import { otpFetch } from 'totp-handshake/client';
import { verifyOtp } from 'totp-handshake/express';
import { fastifyOtp } from 'totp-handshake/fastify';
import { connectionOf, otpGuard } from 'totp-handshake/fetch';
import { otpCheck } from 'totp-handshake/http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const isRoot = process.geteuid?.() === 0;
const NOBODY = 65534;
const OK = '{"success":true}';

let dir: string;
let owner: KeyOwner;
let reader: KeyReader;
const closers: Array<() => Promise<unknown> | unknown> = [];

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'otp-sock-'));
  owner = await KeyOwner.start({ path: path.join(dir, 'otp.key') });
  reader = await KeyReader.open({ path: owner.path });
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  reader.close();
  await owner.close();
  rmSync(dir, { recursive: true, force: true });
});

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The four servers, each with /secure behind its guard; returns the (not yet listening) server. */
const servers: Array<{ name: string; make: () => Promise<Server> }> = [
  {
    name: 'node:http',
    make: async () => {
      const check = otpCheck({ owner });
      return createServer((req, res) => {
        if (check(req, res)) res.end(OK);
      });
    },
  },
  {
    name: 'express',
    make: async () => {
      const app = express();
      app.post('/secure', verifyOtp({ owner }), (_req, res) => void res.type('application/json').send(OK));
      return createServer(app);
    },
  },
  {
    name: 'fastify',
    make: async () => {
      const app = Fastify();
      await app.register(fastifyOtp, { owner });
      app.post('/secure', async (_request, reply) => reply.type('application/json').send(OK));
      await app.ready();
      closers.push(() => app.close());
      return app.server;
    },
  },
  {
    name: 'fetch (Hono on @hono/node-server)',
    make: async () => {
      const guard = otpGuard({ owner });
      const app = new Hono<{ Bindings: HttpBindings }>();
      app.use('/secure', async (c, next) => guard(c.req.raw, connectionOf(c.env.incoming.socket)) ?? next());
      app.post('/secure', (c) => c.body(OK, 200, { 'content-type': 'application/json' }));
      return createAdaptorServer({ fetch: app.fetch }) as Server;
    },
  },
];

/** A raw request over the socket, for codes otpFetch would not send. */
function post(socketPath: string, headers: Record<string, string>): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/secure', method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(servers)('$name on the key directory\'s socket', ({ make }) => {
  it('serves otpFetch\'s requests and refuses a wrong code with the guard\'s 401', async () => {
    const server = await make();
    const socketPath = await listenOnKeySocket(server, owner);
    closers.push(() => closeServer(server));
    expect(socketPath).toBe(path.join(dir, 'api.sock'));
    const response = await otpFetch(reader, 'http://localhost/secure', { method: 'POST', body: '{}', socketPath });
    expect({ status: response.status, body: await response.text() }).toEqual({ status: 200, body: OK });
    expect(await post(socketPath, { 'X-OTP': '000000' === reader.code() ? '000001' : '000000' })).toEqual({ status: 401, challenge: 'OTP error="invalid"' });
  });
});

describe('listenOnKeySocket', () => {
  async function listen(options?: Parameters<typeof listenOnKeySocket>[2], key: Parameters<typeof listenOnKeySocket>[1] = owner): Promise<string> {
    const server = createServer((_req, res) => res.end(OK));
    const socketPath = await listenOnKeySocket(server, key, options);
    closers.push(() => closeServer(server));
    return socketPath;
  }

  it.each([
    [0o600, 0o600],
    [0o640, 0o660],
    [0o644, 0o666],
    [0o400, 0o600],
  ])('gives a key file of mode %s a socket of mode %s (read access to the key, write access to the socket)', async (fileMode, socketMode) => {
    const socketPath = await listen(undefined, { path: owner.path, fileMode });
    expect(statSync(socketPath).mode & 0o777).toBe(socketMode);
  });

  it('takes a name and a mode, and removes the socket file when the server closes', async () => {
    const server = createServer();
    const socketPath = await listenOnKeySocket(server, owner, { name: 'jobs.sock', mode: 0o660 });
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
    await closeServer(server);
    expect(() => statSync(socketPath)).toThrow(/ENOENT/);
  });

  it('replaces a socket file left by a server that died, and refuses a live one', async () => {
    const stale = path.join(dir, 'api.sock');
    // A process that bound the socket and was killed: the file stays, nobody answers.
    const bind = `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    expect(() => execFileSync(process.execPath, ['-e', bind], { stdio: 'ignore' })).toThrow();
    expect(statSync(stale).isSocket()).toBe(true);
    const socketPath = await listen();
    expect(await post(socketPath, {})).toEqual({ status: 200, challenge: undefined });
    await expect(listen()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('another server is listening on it') });
  }, 10_000);

  it('refuses what is not a socket at the path, and leaves it alone', async () => {
    writeFileSync(path.join(dir, 'api.sock'), 'my notes');
    await expect(listen()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('something that is not a socket is at that path') });
    expect(statSync(path.join(dir, 'api.sock')).isFile()).toBe(true);
  });

  it('refuses a key directory every user may write (who could put a socket of their own in its place)', async () => {
    chmodSync(dir, 0o777);
    await expect(listen()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('writable by every user') });
  });

  it('refuses a path longer than a socket address holds, and bad options', async () => {
    const deep = path.join(dir, 'd'.repeat(60), 'e'.repeat(60));
    mkdirSync(deep, { recursive: true });
    await expect(listen(undefined, { path: path.join(deep, 'otp.key'), fileMode: 0o600 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('longer than') });
    await expect(listen({ name: '../api.sock' })).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS' });
    await expect(listen({ nmae: 'x' } as never)).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining('did you mean name?') });
  });

  it.skipIf(!isRoot)('lets no process of another user connect (EACCES): not even a guess reaches the guard', async () => {
    const socketPath = await listen();
    const script = `require('net').connect(${JSON.stringify(socketPath)}).on('connect', () => process.exit(0)).on('error', (e) => { console.log(e.code); process.exit(1); })`;
    const attempt = (() => {
      try {
        return execFileSync(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
      } catch (error) {
        return String((error as { stdout?: string }).stdout).trim();
      }
    })();
    expect(attempt).toBe('EACCES');
  });
});

describe('one app on TCP and on the socket', () => {
  it('counts failures per listener: guesses that exhaust the TCP budget leave the socket\'s clients alone', async () => {
    const check = otpCheck({ owner });
    const handler = (req: Parameters<typeof check>[0], res: Parameters<typeof check>[1]) => {
      if (check(req, res)) res.end(OK);
    };
    const tcp = createServer(handler);
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const unix = createServer(handler);
    const socketPath = await listenOnKeySocket(unix, owner);
    closers.push(() => closeServer(tcp), () => closeServer(unix));
    const port = (tcp.address() as AddressInfo).port;

    const wrong = reader.code() === '000000' ? '000001' : '000000';
    const tcpStatuses: number[] = [];
    for (let i = 0; i < 25; i++) tcpStatuses.push((await fetch(`http://127.0.0.1:${port}/secure`, { method: 'POST', headers: { 'X-OTP': wrong } })).status);
    // A step boundary during the loop restarts the count; either way the budget is used up at the end.
    expect(tcpStatuses.at(-1)).toBe(429);
    expect((await fetch(`http://127.0.0.1:${port}/secure`, { method: 'POST', headers: reader.headers() })).status).toBe(429);

    const response = await otpFetch(reader, 'http://localhost/secure', { method: 'POST', body: '{}', socketPath, maxRetryWait: 0 });
    expect(response.status).toBe(200);
  });
});

describe('a flood from another user (scripts/flood.mjs, 5 s)', () => {
  it.skipIf(!isRoot)('refuses none of the socket clients\' requests, while the flood is held to the per-listener budget on TCP', () => {
    const output = execFileSync(process.execPath, [path.join(__dirname, '../scripts/flood.mjs'), '--seconds', '5', '--clients', '2', '--connections', '16'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const summary = JSON.parse(output.trim().split('\n').at(-1) as string);
    console.info(output.trim().split('\n').at(-2));
    expect(summary.socketClients.requests).toBeGreaterThan(0);
    expect(summary.socketClients.refused).toBe(0);
    expect(summary.attacker.tcpRequests).toBeGreaterThan(summary.api.wrongCodesVerified);
    // 5 s cross at most one step boundary: at most two steps' budgets of guesses were checked.
    expect(summary.api.wrongCodesVerified).toBeLessThanOrEqual(40);
    expect(Object.keys(summary.attacker.socketRefusals)).toEqual(['EACCES']);
    // On TCP the same flood refuses the legitimate client too: the documented trade-off.
    expect(summary.tcpClient.requests - summary.tcpClient.ok).toBeGreaterThan(0);
  }, 90_000);
});
