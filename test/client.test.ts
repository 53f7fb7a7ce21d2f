// otpFetch against real servers on 127.0.0.1: the header, the one retry after a 401, and which
// bodies can be sent a second time.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

import { KeyOwner, KeyReader } from 'totp-handshake';
import { otpFetch } from 'totp-handshake/client';
import { otpCheck } from 'totp-handshake/http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { tempDir } from './helpers/handshake-fs.js';

interface Received {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let url: string;
let received: Received[];
/** Answers each request in turn; the last status repeats. */
let statuses: number[];
/** A guard in front of the scripted answers: false when it has answered. */
let handler: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
/** The WWW-Authenticate of a scripted 401 (by default the guard's); undefined: none, as a handler's own 401. */
let challenge: string | undefined;
const GUARD_CHALLENGE = 'OTP error="invalid"';
/** A scripted 429's Retry-After and body (by default the guard's). */
let retryAfter: string | undefined;
let throttledBody: string;
const GUARD_THROTTLED = '{"error":"Too many attempts"}';

beforeEach(async () => {
  received = [];
  statuses = [200];
  handler = undefined;
  challenge = GUARD_CHALLENGE;
  retryAfter = '1';
  throttledBody = GUARD_THROTTLED;
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('latin1') });
    if (handler !== undefined && !handler(req, res)) return;
    const status = statuses[Math.min(received.length, statuses.length) - 1] as number;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status === 401 && challenge !== undefined) headers['www-authenticate'] = challenge;
    if (status === 429 && retryAfter !== undefined) headers['retry-after'] = retryAfter;
    res.writeHead(status, headers).end(status === 429 ? throttledBody : JSON.stringify({ status }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/secure`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A code source that counts its reloads; the code changes with each reload. */
function source(reload: () => Promise<unknown> = async () => undefined) {
  const counter = {
    reloads: 0,
    headers: () => ({ 'X-OTP': String(100000 + counter.reloads) }),
    reload: () => {
      counter.reloads++;
      return reload();
    },
  };
  return counter;
}

describe('otpFetch', () => {
  it('sends the code in X-OTP with the caller\'s headers, and passes any non-401 answer through', async () => {
    for (const status of [200, 403, 500]) {
      statuses = [status];
      received = [];
      const codes = source();
      const response = await otpFetch(codes, url, { headers: { 'x-trace': 'abc' } });
      expect(response.status).toBe(status);
      expect(await response.json()).toEqual({ status });
      expect(received).toHaveLength(1);
      expect(received[0]?.headers).toMatchObject({ 'x-otp': '100000', 'x-trace': 'abc' });
      expect(codes.reloads).toBe(0);
    }
  });

  it('reloads the key once and retries once after a 401, never twice', async () => {
    statuses = [401];
    const codes = source();
    const response = await otpFetch(codes, url, { method: 'POST', body: 'payload' });
    expect(response.status).toBe(401);
    expect(codes.reloads).toBe(1);
    expect(received.map((r) => [r.headers['x-otp'], r.body])).toEqual([
      ['100000', 'payload'],
      ['100001', 'payload'],
    ]);
  });

  it('retries with the key it has when the reload fails (a bodiless Request input)', async () => {
    statuses = [401, 200];
    const codes = source(() => Promise.reject(new Error('the key file is gone')));
    expect((await otpFetch(codes, new Request(url))).status).toBe(200);
    expect(codes.reloads).toBe(1);
    expect(received).toHaveLength(2);
  });

  const resendable: Array<[string, () => BodyInit, string]> = [
    ['a string', () => 'text body', 'text body'],
    ['a Uint8Array', () => new Uint8Array([104, 105]), 'hi'],
    ['an ArrayBuffer', () => new Uint8Array([104, 105]).buffer, 'hi'],
    ['a DataView', () => new DataView(new Uint8Array([104, 105]).buffer), 'hi'],
    ['URLSearchParams', () => new URLSearchParams({ a: '1', b: '2' }), 'a=1&b=2'],
    ['a Blob', () => new Blob(['blob body']), 'blob body'],
  ];

  it.each(resendable)('sends %s body again', async (_kind, body, text) => {
    statuses = [401, 200];
    const response = await otpFetch(source(), url, { method: 'POST', body: body() });
    expect(response.status).toBe(200);
    expect(received.map((r) => r.body)).toEqual([text, text]);
  });

  it('sends a FormData body again', async () => {
    statuses = [401, 200];
    const form = new FormData();
    form.set('field', 'value');
    form.set('file', new Blob(['file content']), 'a.txt');
    expect((await otpFetch(source(), url, { method: 'POST', body: form })).status).toBe(200);
    expect(received).toHaveLength(2);
    for (const { body } of received) expect(body).toContain('file content');
  });

  it('clones a Request input with a body, and keeps its headers', async () => {
    statuses = [401, 200];
    const request = new Request(url, { method: 'PUT', body: 'request body', headers: { 'x-trace': 'r' } });
    expect((await otpFetch(source(), request)).status).toBe(200);
    expect(received.map((r) => [r.method, r.body, r.headers['x-trace'], r.headers['x-otp']])).toEqual([
      ['PUT', 'request body', 'r', '100000'],
      ['PUT', 'request body', 'r', '100001'],
    ]);
  });

  const oneShot: Array<[string, () => unknown]> = [
    ['a ReadableStream', () => new Blob(['streamed']).stream()],
    ['a Node Readable', () => Readable.from([Buffer.from('streamed')])],
    [
      'an async iterable',
      () =>
        (async function* chunks() {
          yield new TextEncoder().encode('streamed');
        })(),
    ],
  ];

  it.each(oneShot)('returns the 401 without a retry for %s body', async (_kind, body) => {
    statuses = [401, 200];
    const codes = source();
    const init = { method: 'POST', body: body() as BodyInit, duplex: 'half' } as RequestInit;
    expect((await otpFetch(codes, url, init)).status).toBe(401);
    expect(received.map((r) => r.body)).toEqual(['streamed']);
    expect(codes.reloads).toBe(0);
  });

  it('keeps the request body for the retry when init.body is null or undefined on a Request input', async () => {
    for (const body of [null, undefined]) {
      statuses = [401, 200];
      received = [];
      const request = new Request(url, { method: 'POST', body: 'request body' });
      const response = await otpFetch(source(), request, { body });
      expect(response.status).toBe(200);
      expect(received.map((r) => [r.method, r.body])).toEqual([
        ['POST', 'request body'],
        ['POST', 'request body'],
      ]);
    }
  });

  it('takes a Request of another fetch implementation (not instanceof Request) with its headers and body', async () => {
    statuses = [401, 200];
    const real = new Request(url, { method: 'PUT', body: 'foreign body', headers: { 'x-trace': 'f' } });
    // What a Request of a second copy of undici looks like from here: the same shape, another class.
    const foreign = { clone: () => real.clone() };
    for (const name of ['url', 'method', 'headers', 'body', 'redirect', 'signal'] as const) {
      Object.defineProperty(foreign, name, { get: () => real[name], enumerable: true });
    }
    expect(foreign instanceof Request).toBe(false);
    expect((await otpFetch(source(), foreign as unknown as Request)).status).toBe(200);
    expect(received.map((r) => [r.method, r.body, r.headers['x-trace'], r.headers['x-otp']])).toEqual([
      ['PUT', 'foreign body', 'f', '100000'],
      ['PUT', 'foreign body', 'f', '100001'],
    ]);
  });
});

describe('otpFetch and a 401 the guard did not send', () => {
  it('returns a POST\'s 401 without the OTP challenge as it is: the handler ran once', async () => {
    challenge = undefined;
    statuses = [401, 200];
    const codes = source();
    const response = await otpFetch(codes, url, { method: 'POST', body: 'charge the card' });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ status: 401 });
    expect(received).toHaveLength(1);
    expect(codes.reloads).toBe(0);
  });

  it.each([
    'Basic realm="api"',
    'Bearer error="invalid_token"',
    'Basic realm="OTP, otp"',
    'Basic otp="1"',
    'Basic otp = 1',
    'OTPX error="x"',
    // An OTP challenge that is not the guards' own: a bare scheme, another error, a token68.
    'Bearer realm="x", otp',
    'otp',
    'OTP error="expired"',
    'OTP aW52YWxpZA==',
    'Bearer realm="x", error="invalid"',
    'Basic realm="OTP error=\\"invalid\\""',
  ])(
    'does not retry a POST whose 401 challenges with %s only',
    async (value) => {
      challenge = value;
      statuses = [401, 200];
      expect((await otpFetch(source(), url, { method: 'POST', body: 'x' })).status).toBe(401);
      expect(received).toHaveLength(1);
    },
  );

  it.each([
    'OTP error="invalid"',
    'OTP error=missing',
    'otp ERROR = "invalid"',
    'Basic realm="a, b", OTP error="missing"',
    'Bearer realm="x",otp error="invalid"',
    'Bearer realm="x", OTP realm="api", error="invalid"',
  ])(
    'retries a POST once when the 401 challenges with %s',
    async (value) => {
      challenge = value;
      statuses = [401, 200];
      expect((await otpFetch(source(), url, { method: 'POST', body: 'x' })).status).toBe(200);
      expect(received).toHaveLength(2);
    },
  );

  it.each(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'get', 'put'])('retries an idempotent %s once after any 401', async (method) => {
    challenge = undefined;
    statuses = [401, 200];
    const codes = source();
    expect((await otpFetch(codes, url, { method })).status).toBe(200);
    expect(received.map((r) => r.method)).toEqual([method.toUpperCase(), method.toUpperCase()]);
    expect(codes.reloads).toBe(1);
  });

  it.each(['POST', 'PATCH'])('does not retry %s given as a Request input after a 401 without the challenge', async (method) => {
    challenge = undefined;
    statuses = [401, 200];
    expect((await otpFetch(source(), new Request(url, { method, body: 'x' }))).status).toBe(401);
    expect(received).toHaveLength(1);
  });
});

describe('otpFetch and a 429', () => {
  it('waits out the guard\'s Retry-After, then sends a POST once more with a fresh code', async () => {
    statuses = [429, 200];
    const started = performance.now();
    const codes = source();
    const response = await otpFetch(codes, url, { method: 'POST', body: 'x' });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(received.map((r) => r.body)).toEqual(['x', 'x']);
    // A throttled step is not a stale key: nothing to reload.
    expect(codes.reloads).toBe(0);
  });

  it('sends once more at most: a second 429 is returned', async () => {
    statuses = [429];
    retryAfter = '0';
    const response = await otpFetch(source(), url, { method: 'POST', body: 'x' });
    expect(response.status).toBe(429);
    expect(await response.text()).toBe(GUARD_THROTTLED);
    expect(received).toHaveLength(2);
  });

  it.each([
    ['a Retry-After beyond maxRetryWait', () => (retryAfter = '31'), {}],
    ['maxRetryWait 0', () => undefined, { maxRetryWait: 0 }],
    ['no Retry-After', () => (retryAfter = undefined), {}],
    ['an unreadable Retry-After', () => (retryAfter = 'soon'), {}],
  ])('returns the 429 at once with %s', async (_, setUp, init) => {
    statuses = [429, 200];
    setUp();
    const started = performance.now();
    const response = await otpFetch(source(), url, { method: 'POST', body: 'x', ...init });
    expect(response.status).toBe(429);
    expect(await response.text()).toBe(GUARD_THROTTLED);
    expect(performance.now() - started).toBeLessThan(900);
    expect(received).toHaveLength(1);
  });

  it('returns a POST\'s 429 that is not the guard\'s (a handler\'s own rate limit) as it is, body intact', async () => {
    statuses = [429, 200];
    retryAfter = '0';
    throttledBody = '{"error":"slow down"}';
    const response = await otpFetch(source(), url, { method: 'POST', body: 'x' });
    expect(response.status).toBe(429);
    expect(await response.text()).toBe('{"error":"slow down"}');
    expect(received).toHaveLength(1);
  });

  it('retries an idempotent GET after any 429', async () => {
    statuses = [429, 200];
    retryAfter = '0';
    throttledBody = '{"error":"slow down"}';
    expect((await otpFetch(source(), url)).status).toBe(200);
    expect(received).toHaveLength(2);
  });

  it('gives up the wait when the signal aborts', async () => {
    statuses = [429, 200];
    retryAfter = '30';
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('the caller gave up')), 100);
    await expect(otpFetch(source(), url, { method: 'POST', body: 'x', signal: controller.signal })).rejects.toThrow('the caller gave up');
    expect(received).toHaveLength(1);
  });

  it('refuses a bad maxRetryWait or socketPath with a TypeError', async () => {
    await expect(otpFetch(source(), url, { maxRetryWait: -1 })).rejects.toThrow(TypeError);
    await expect(otpFetch(source(), url, { socketPath: '' })).rejects.toThrow(TypeError);
    expect(received).toHaveLength(0);
  });
});

describe('otpFetch and redirects', () => {
  let other: Server;
  let otherUrl: string;
  let otherReceived: IncomingHttpHeaders[];

  beforeEach(async () => {
    otherReceived = [];
    // Another port on 127.0.0.1: another origin.
    other = createServer((req, res) => {
      otherReceived.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"other":true}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/elsewhere`;
    handler = (_req, res) => {
      res.writeHead(302, { location: otherUrl }).end();
      return false;
    };
  });

  afterEach(async () => {
    other.closeAllConnections();
    await new Promise((resolve) => other.close(resolve));
  });

  it('returns a 3xx to the caller instead of sending the code to another origin', async () => {
    for (const input of [url, new URL(url), new Request(url)]) {
      received = [];
      const response = await otpFetch(source(), input);
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe(otherUrl);
      expect(received).toHaveLength(1);
    }
    expect(otherReceived).toEqual([]);
  });

  it('keeps a Request\'s own redirect: error', async () => {
    await expect(otpFetch(source(), new Request(url, { redirect: 'error' }))).rejects.toThrow(TypeError);
    expect(otherReceived).toEqual([]);
  });

  it('follows the redirect, X-OTP and all, only when the caller asks for redirect: follow', async () => {
    const response = await otpFetch(source(), url, { redirect: 'follow' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ other: true });
    // The risk the caller takes: fetch strips Authorization and Cookie on a cross-origin redirect, not X-OTP.
    expect(otherReceived).toHaveLength(1);
    expect(otherReceived[0]?.['x-otp']).toBe('100000');
  });
});

describe('otpFetch across a key rotation', () => {
  let shared: ReturnType<typeof tempDir>;
  beforeEach(() => {
    shared = tempDir('otp-client');
  });
  afterEach(() => shared.cleanup());

  it('succeeds with exactly one retry when the API rotated without grace', async () => {
    const keyPath = shared.file;
    const owner = await KeyOwner.start({ path: keyPath, grace: 0 });
    // Not watching: the reader keeps the old key until otpFetch reloads it.
    const reader = await KeyReader.open({ path: keyPath, watch: false });
    try {
      handler = otpCheck({ owner });
      expect((await otpFetch(reader, url)).status).toBe(200);
      await owner.rotate();
      received = [];
      const response = await otpFetch(reader, url, { method: 'POST', body: '{"n":1}' });
      expect(response.status).toBe(200);
      expect(received).toHaveLength(2);
      // The guard's 401 carries the challenge that made the POST safe to send again.
      received = [];
      const stale = await fetch(url, { method: 'POST', body: '{"n":2}', headers: { 'X-OTP': 'stale' } });
      expect(stale.status).toBe(401);
      expect(stale.headers.get('www-authenticate')).toBe('OTP error="invalid"');
    } finally {
      reader.close();
      await owner.close();
    }
  });

  it('does not send a POST again when the guard let it through and the handler answered 401 itself', async () => {
    const owner = await KeyOwner.start({ path: shared.file });
    const reader = await KeyReader.open({ path: shared.file, watch: false });
    try {
      handler = otpCheck({ owner });
      challenge = undefined;
      statuses = [401, 200];
      const response = await otpFetch(reader, url, { method: 'POST', body: '{"n":1}' });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBeNull();
      expect(received).toHaveLength(1);
    } finally {
      reader.close();
      await owner.close();
    }
  });
});
