// A client for etcd's v3 JSON gateway (the `/v3/` paths that etcd 3.4, 3.5 and 3.6 serve beside
// gRPC): kv/range, kv/txn, watch, lease/grant, lease/keepalive, lease/revoke, auth/authenticate.
// Keys and values travel base64-encoded in JSON, int64 fields as decimal strings.
//
// Why node:http and node:https rather than fetch: Node 20's fetch takes neither a CA nor a client
// certificate per request (that needs undici's Agent, a dependency), and etcd deployments use both.
// The built-in modules do everything needed here (TLS options, per-request abort, a streamed
// response for the watch) with no runtime dependency.
//
// The client talks to one endpoint at a time and moves to the next when one does not answer, or
// answers that it cannot serve (no leader, no quorum). Nothing an etcd answer holds is ever put
// into an error message: a range of the keyring holds secrets.
import * as http from 'node:http';
import * as https from 'node:https';

import { OtpError } from '../errors.js';

export interface EtcdAuth {
  /** An etcd user (`etcdctl user add`): the owners' needs read and write on the keyring's prefix, a mirror's read only. */
  username: string;
  password: string;
}

export interface EtcdTls {
  /** The CA certificate(s) that sign etcd's serving certificates (PEM). Default: Node's bundled CAs. */
  ca?: string | Buffer;
  /** A client certificate and its key (PEM), for etcd run with --client-cert-auth. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the serving certificate must carry, when it is not the endpoint's host. */
  servername?: string;
}

export interface EtcdClientOptions {
  endpoints: readonly URL[];
  auth?: EtcdAuth | undefined;
  tls?: EtcdTls | undefined;
  /** How long one request to one endpoint may take before the next is tried (ms). */
  requestTimeout: number;
}

/** A key-value pair as etcd holds it; `value` is the caller's to wipe. */
export interface KeyValue {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  /** The lease the key is attached to ('0' for none): an int64, kept as its decimal string. */
  lease: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

export interface WatchHandlers {
  /** A batch of events, and the store revision they bring the watcher to. */
  onEvents(events: WatchEvent[], revision: number): void;
  /** The watch ended: compacted (history before `compactRevision` is gone), cancelled, or its stream failed. */
  onEnd(why: { compactRevision?: number; error?: OtpError }): void;
}

export interface Watch {
  /** The endpoint the watch streams from. */
  readonly endpoint: URL;
  close(): void;
}

export type Compare =
  | { key: string; target: 'CREATE'; createRevision: number }
  | { key: string; target: 'MOD'; modRevision: number }
  | { key: string; target: 'VALUE'; value: Buffer };

export type Operation =
  | { put: { key: string; value: Buffer; lease?: string } }
  | { range: { key: string; rangeEnd?: string } }
  | { delete: { key: string } };

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** The key-values of the range operations that ran, in order. */
  ranges: KeyValue[][];
}

// gRPC status codes etcd answers with (google.golang.org/grpc/codes).
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;
// What etcd says when it cannot serve now, or when the token it was given has expired: the
// first kind is worth another endpoint, the second a new token.
const TRY_ELSEWHERE = new Set([UNAVAILABLE, DEADLINE_EXCEEDED]);
const INVALID_TOKEN = /invalid auth token/;
// A response this large is not a keyring (a few hundred bytes a key): the stream is refused.
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A failed etcd request: ERR_OTP_KEY_IO, with etcd's gRPC code when it answered one. */
export class EtcdError extends OtpError {
  override name = 'EtcdError';
  constructor(
    message: string,
    /** etcd's gRPC status code; undefined when the endpoint did not answer at all. */
    readonly grpcCode?: number,
    options?: { cause?: unknown },
  ) {
    super('ERR_OTP_KEY_IO', message, options);
  }

  /** Whether another endpoint may answer where this one did not. */
  get tryElsewhere(): boolean {
    return this.grpcCode === undefined || TRY_ELSEWHERE.has(this.grpcCode) || (this.grpcCode === UNKNOWN && /deadline/.test(this.message));
  }
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The end of the range of every key under `prefix` (etcd's prefix convention: the last byte plus one). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0xff) i--;
  if (i < 0) return '\0';
  const end = bytes.subarray(0, i + 1);
  end[i] = (end[i] as number) + 1;
  return end.toString('latin1');
}

/** A range end as etcd wants it: the raw bytes, base64 (prefixEnd works on bytes, so latin1 keeps them). */
function encodeEnd(end: string): string {
  return Buffer.from(end, 'latin1').toString('base64');
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function keyValue(raw: RawKv): KeyValue {
  return {
    key: Buffer.from(raw.key ?? '', 'base64').toString('utf8'),
    value: Buffer.from(raw.value ?? '', 'base64'),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    lease: raw.lease ?? '0',
  };
}

function compare(c: Compare): object {
  const key = b64(c.key);
  if (c.target === 'CREATE') return { key, target: 'CREATE', result: 'EQUAL', create_revision: String(c.createRevision) };
  if (c.target === 'MOD') return { key, target: 'MOD', result: 'EQUAL', mod_revision: String(c.modRevision) };
  return { key, target: 'VALUE', result: 'EQUAL', value: c.value.toString('base64') };
}

function operation(op: Operation): object {
  if ('put' in op) {
    const put: Record<string, string> = { key: b64(op.put.key), value: op.put.value.toString('base64') };
    if (op.put.lease !== undefined) put.lease = op.put.lease;
    return { request_put: put };
  }
  if ('range' in op) {
    const range: Record<string, string> = { key: b64(op.range.key) };
    if (op.range.rangeEnd !== undefined) range.range_end = encodeEnd(op.range.rangeEnd);
    return { request_range: range };
  }
  return { request_delete_range: { key: b64(op.delete.key) } };
}

/** etcd's error answer, as an EtcdError naming the endpoint and etcd's own words (never a value). */
function answered(endpoint: URL, body: { error?: unknown; message?: unknown; code?: unknown; grpc_code?: unknown }): EtcdError {
  const message = typeof body.message === 'string' ? body.message : typeof body.error === 'string' ? body.error : 'an error';
  const code = typeof body.code === 'number' ? body.code : typeof body.grpc_code === 'number' ? body.grpc_code : UNKNOWN;
  return new EtcdError(`etcd at ${endpoint.origin} answered: ${message.slice(0, 200)}`, code);
}

function unreachable(endpoint: URL, error: unknown, timeout: number): EtcdError {
  const err = error as NodeJS.ErrnoException | undefined;
  const why = err?.name === 'TimeoutError' || err?.name === 'AbortError' ? `no answer within ${timeout} ms` : (err?.code ?? err?.message ?? 'unknown error');
  return new EtcdError(`etcd at ${endpoint.origin} cannot be reached (${why})`, undefined, { cause: error });
}

export class EtcdClient {
  readonly endpoints: readonly URL[];
  readonly #auth: EtcdAuth | undefined;
  readonly #requestTimeout: number;
  readonly #httpAgent = new http.Agent({ keepAlive: true });
  readonly #httpsAgent: https.Agent;
  readonly #closed = new AbortController();
  #current = 0;
  #token: string | undefined;
  #authenticating: Promise<string> | undefined;

  constructor({ endpoints, auth, tls, requestTimeout }: EtcdClientOptions) {
    this.endpoints = endpoints;
    this.#auth = auth;
    this.#requestTimeout = requestTimeout;
    this.#httpsAgent = new https.Agent({ keepAlive: true, ...tls });
  }

  /** The endpoint requests go to first. */
  get endpoint(): URL {
    return this.endpoints[this.#current] as URL;
  }

  /**
   * Keys from `key` (to `rangeEnd`, exclusive) and the store's revision, read linearizably: the
   * answer proves that a quorum of etcd agreed with it just now. `keysOnly`: without the values.
   */
  async range(key: string, rangeEnd?: string, { keysOnly = false } = {}): Promise<{ kvs: KeyValue[]; revision: number }> {
    const body: Record<string, string | boolean> = { key: b64(key) };
    if (rangeEnd !== undefined) body.range_end = encodeEnd(rangeEnd);
    if (keysOnly) body.keys_only = true;
    const answer = (await this.#call('/v3/kv/range', body)) as { header?: { revision?: string }; kvs?: RawKv[] };
    return { kvs: (answer.kvs ?? []).map(keyValue), revision: Number(answer.header?.revision ?? 0) };
  }

  async txn(compares: Compare[], success: Operation[], failure: Operation[] = []): Promise<TxnResult> {
    const answer = (await this.#call('/v3/kv/txn', { compare: compares.map(compare), success: success.map(operation), failure: failure.map(operation) })) as {
      header?: { revision?: string };
      succeeded?: boolean;
      responses?: { response_range?: { kvs?: RawKv[] } }[];
    };
    const ranges = (answer.responses ?? []).filter((response) => response.response_range !== undefined).map((response) => (response.response_range?.kvs ?? []).map(keyValue));
    return { succeeded: answer.succeeded === true, revision: Number(answer.header?.revision ?? 0), ranges };
  }

  /** A lease of `ttlSeconds`; resolves to its id (an int64 as a decimal string). */
  async grant(ttlSeconds: number): Promise<string> {
    const answer = (await this.#call('/v3/lease/grant', { TTL: String(ttlSeconds) })) as { ID?: string; error?: string };
    if (answer.ID === undefined || answer.ID === '0') throw new EtcdError(`etcd at ${this.endpoint.origin} granted no lease${answer.error ? `: ${answer.error}` : ''}`);
    return answer.ID;
  }

  /** Renews a lease; resolves to its remaining TTL in seconds, 0 when it has expired. */
  async keepAlive(lease: string): Promise<number> {
    const answer = (await this.#call('/v3/lease/keepalive', { ID: lease })) as { result?: { TTL?: string }; error?: { message?: string; grpc_code?: number } };
    if (answer.error !== undefined) throw answered(this.endpoint, answer.error);
    return Number(answer.result?.TTL ?? 0);
  }

  async revoke(lease: string): Promise<void> {
    await this.#call('/v3/lease/revoke', { ID: lease });
  }

  /**
   * Watches every key from `key` to `rangeEnd` from `startRevision` on, on the current endpoint.
   * The stream is not moved to another endpoint by itself: `onEnd` tells the caller, which decides.
   */
  watch(key: string, rangeEnd: string, startRevision: number, handlers: WatchHandlers): Watch {
    const endpoint = this.endpoint;
    const stop = new AbortController();
    let ended = false;
    const end = (why: { compactRevision?: number; error?: OtpError }): void => {
      if (ended) return;
      ended = true;
      stop.abort();
      handlers.onEnd(why);
    };
    const body = { create_request: { key: b64(key), range_end: encodeEnd(rangeEnd), start_revision: String(startRevision) } };
    void this.#headers(endpoint)
      .then((headers) => {
        if (stop.signal.aborted) return;
        const request = this.#send(endpoint, '/v3/watch', headers, AbortSignal.any([stop.signal, this.#closed.signal]));
        request.on('error', (error) => end({ error: unreachable(endpoint, error, this.#requestTimeout) }));
        request.on('response', (response) => {
          if (response.statusCode !== 200) {
            response.resume();
            return end({ error: new EtcdError(`etcd at ${endpoint.origin} refused the watch (HTTP ${response.statusCode})`) });
          }
          let pending = Buffer.alloc(0);
          response.on('data', (chunk: Buffer) => {
            pending = Buffer.concat([pending, chunk]);
            if (pending.length > MAX_RESPONSE_BYTES) return end({ error: new EtcdError(`etcd at ${endpoint.origin} sent a watch message over ${MAX_RESPONSE_BYTES} bytes`) });
            let newline: number;
            while (!ended && (newline = pending.indexOf(0x0a)) >= 0) {
              const line = pending.subarray(0, newline);
              pending = pending.subarray(newline + 1);
              this.#watchMessage(endpoint, line, handlers, end);
              line.fill(0);
            }
          });
          response.on('end', () => end({ error: new EtcdError(`etcd at ${endpoint.origin} ended the watch`) }));
          response.on('error', (error) => end({ error: unreachable(endpoint, error, this.#requestTimeout) }));
        });
        request.end(JSON.stringify(body));
      })
      .catch((error: unknown) => end({ error: error instanceof OtpError ? error : unreachable(endpoint, error, this.#requestTimeout) }));
    return { endpoint, close: () => ((ended = true), stop.abort()) };
  }

  /** Ends every request under way and every watch; the client cannot be used again. */
  close(): void {
    this.#closed.abort();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  #watchMessage(endpoint: URL, line: Buffer, handlers: WatchHandlers, end: (why: { compactRevision?: number; error?: OtpError }) => void): void {
    let message: {
      result?: { header?: { revision?: string }; events?: { type?: string; kv?: RawKv }[]; canceled?: boolean; compact_revision?: string; cancel_reason?: string };
      error?: { message?: string; grpc_code?: number };
    };
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      return end({ error: new EtcdError(`etcd at ${endpoint.origin} sent a watch message that is not JSON`) });
    }
    if (message.error !== undefined) return end({ error: answered(endpoint, message.error) });
    const result = message.result ?? {};
    if (result.compact_revision !== undefined && result.compact_revision !== '0') return end({ compactRevision: Number(result.compact_revision) });
    if (result.canceled === true) return end({ error: new EtcdError(`etcd at ${endpoint.origin} cancelled the watch${result.cancel_reason ? `: ${result.cancel_reason.slice(0, 200)}` : ''}`) });
    const events = (result.events ?? []).map((event): WatchEvent => ({ type: event.type === 'DELETE' ? 'delete' : 'put', kv: keyValue(event.kv ?? {}) }));
    if (events.length > 0) handlers.onEvents(events, Number(result.header?.revision ?? 0));
  }

  /** One request, tried on each endpoint in turn from the current one until one answers. */
  async #call(path: string, body: object): Promise<unknown> {
    let last: EtcdError | undefined;
    for (let tried = 0; tried < this.endpoints.length; tried++) {
      const endpoint = this.endpoint;
      try {
        return await this.#callWithToken(endpoint, path, body);
      } catch (error) {
        if (!(error instanceof EtcdError) || !error.tryElsewhere || this.#closed.signal.aborted) throw error;
        last = error;
        // Another caller may have moved on already: move only from the endpoint that failed.
        if (this.endpoint === endpoint) this.#current = (this.#current + 1) % this.endpoints.length;
      }
    }
    throw last as EtcdError;
  }

  async #callWithToken(endpoint: URL, path: string, body: object): Promise<unknown> {
    try {
      return await this.#callOnce(endpoint, path, body);
    } catch (error) {
      // A simple token expires after a while unused (--auth-token-ttl): get a new one, once.
      if (!(error instanceof EtcdError) || this.#auth === undefined || error.grpcCode !== UNAUTHENTICATED || !INVALID_TOKEN.test(error.message)) throw error;
      this.#token = undefined;
      return this.#callOnce(endpoint, path, body);
    }
  }

  async #callOnce(endpoint: URL, path: string, body: object): Promise<unknown> {
    return this.#request(endpoint, path, body, await this.#headers(endpoint));
  }

  async #request(endpoint: URL, path: string, body: object, headers: Record<string, string>): Promise<unknown> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.#requestTimeout), this.#closed.signal]);
    const text = await new Promise<Buffer>((resolve, reject) => {
      const request = this.#send(endpoint, path, headers, signal);
      request.on('error', (error) => reject(unreachable(endpoint, error, this.#requestTimeout)));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) request.destroy(new Error(`an answer over ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(chunk);
        });
        response.on('error', (error) => reject(unreachable(endpoint, error, this.#requestTimeout)));
        response.on('end', () => {
          const all = Buffer.concat(chunks);
          for (const chunk of chunks) chunk.fill(0);
          resolve(all);
        });
      });
      request.end(JSON.stringify(body));
    });
    let answer: Record<string, unknown>;
    try {
      answer = JSON.parse(text.toString('utf8'));
    } catch {
      throw new EtcdError(`etcd at ${endpoint.origin} answered ${path} with something that is not JSON`);
    } finally {
      text.fill(0);
    }
    // Unary errors are {error, message, code}; a streamed one (keepalive) is {error: {...}}.
    if (typeof answer.code === 'number' && answer.code !== 0) throw answered(endpoint, answer);
    return answer;
  }

  #send(endpoint: URL, path: string, headers: Record<string, string>, signal: AbortSignal): http.ClientRequest {
    const https_ = endpoint.protocol === 'https:';
    const options: http.RequestOptions = {
      host: endpoint.hostname.replace(/^\[|\]$/g, ''),
      port: endpoint.port || (https_ ? 443 : 80),
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      agent: https_ ? this.#httpsAgent : this.#httpAgent,
      signal,
    };
    return https_ ? https.request(options) : http.request(options);
  }

  /** The Authorization header, authenticating first when a user is configured and no token is held. */
  async #headers(endpoint: URL): Promise<Record<string, string>> {
    if (this.#auth === undefined) return {};
    this.#token ??= await (this.#authenticating ??= this.#authenticate(endpoint).finally(() => (this.#authenticating = undefined)));
    return { authorization: this.#token };
  }

  async #authenticate(endpoint: URL): Promise<string> {
    const { username, password } = this.#auth as EtcdAuth;
    const answer = (await this.#request(endpoint, '/v3/auth/authenticate', { name: username, password }, {})) as { token?: string };
    if (typeof answer.token !== 'string' || answer.token === '') throw new EtcdError(`etcd at ${endpoint.origin} gave user ${username} no token (is auth enabled?)`);
    return answer.token;
  }
}
