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

beforeEach(async () => {
  received = [];
  statuses = [200];
  handler = undefined;
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('latin1') });
    if (handler !== undefined && !handler(req, res)) return;
    const status = statuses[Math.min(received.length, statuses.length) - 1] as number;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
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
    } finally {
      reader.close();
      await owner.close();
    }
  });
});
