// The guard's header handling under fuzzing (SPEC §4). The decision core takes any value a
// framework can hand it; every adapter, on a real server on 127.0.0.1, takes any bytes a client
// can put on the wire as X-OTP: obs-text, valid codes with junk, values up to 16 KiB, the header
// repeated 2 to 5 times. Each answer is checked against a model of the outcome table: a valid code
// alone goes through, anything else is 401 with the right body, 429 exactly when the throttle
// says so, and never a 5xx. Bytes no client may send in a field value (control characters) are
// refused by Node's HTTP parser with 400 before any adapter sees them. FUZZ_RUNS (default 1000)
// scales every property; the real-server ones run a fifth of it per adapter.
import { connect } from 'node:net';

import fc from 'fast-check';
import type { AuditEvent, KeyOwner, TotpKey } from 'totp-handshake';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDecider, type HeaderValue } from '../dist/http/decide.js';
import { expectNoSecrets } from './helpers/handshake-fs.js';
import { adapters, type OwnedKey, startOwner, type TestServer } from './helpers/http-fixtures.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const HTTP_RUNS = Math.max(20, Math.round(RUNS / 5));
const PERIOD_MS = 30_000;
/** A step boundary (a multiple of 30 s). */
const STEP_START = 1_700_000_010_000;
/** Large enough that no property run reaches it: throttling stays out of the way unless a test sets it. */
const NO_THROTTLE = Number.MAX_SAFE_INTEGER;

const MISSING = { status: 401, body: '{"error":"Missing OTP"}', reason: 'missing', challenge: 'OTP error="missing"' } as const;
const MALFORMED = { status: 401, body: '{"error":"Invalid OTP"}', reason: 'malformed', challenge: 'OTP error="invalid"' } as const;
const INVALID = { status: 401, body: '{"error":"Invalid OTP"}', reason: 'invalid', challenge: 'OTP error="invalid"' } as const;
const ALLOWED = { status: 200, body: '{"success":true}' } as const;
/** What Node's HTTP parser answers to a field value no client may send; no adapter sees it. */
const BAD_REQUEST = { status: 400 } as const;

type Expected = { status: number; body?: string; reason?: string; challenge?: string };

let shared: OwnedKey;
let owner: KeyOwner;
let key: TotpKey;
beforeAll(async () => {
  shared = await startOwner();
  ({ owner, key } = shared);
});
afterAll(() => shared.close());

/** The codes a guard accepts at `nowMs` with window 1: steps -1, 0 and +1. */
function validCodes(nowMs: number): string[] {
  return [-1, 0, 1].map((steps) => key.generate(nowMs + steps * PERIOD_MS));
}

/** A code of the same key that is not valid at `nowMs` (two steps away, or a neighbour of it). */
function wrongCode(nowMs: number): string {
  const valid = new Set(validCodes(nowMs));
  let candidate = Number(key.generate(nowMs - 2 * PERIOD_MS));
  while (valid.has(String(candidate).padStart(6, '0'))) candidate = (candidate + 1) % 1_000_000;
  return String(candidate).padStart(6, '0');
}

// ---- the model ----------------------------------------------------------------------------------

/** SPEC §4 for one header value as the framework hands it over (absent, one string, or several). */
function modelDecide(value: HeaderValue, valid: readonly string[]): Expected {
  // Node and fetch give one value per header name; more than one value is not a code.
  const single = Array.isArray(value) ? (value.length <= 1 ? value[0] : value) : value;
  if (single === undefined || single === null || single === '') return MISSING;
  if (typeof single !== 'string' || !/^[0-9]{6}$/.test(single)) return MALFORMED;
  return valid.includes(single) ? ALLOWED : INVALID;
}

/** RFC 9110 §5.5: leading and trailing whitespace (SP, HTAB) is not part of a field value. */
const trimOws = (text: string): string => text.replace(/^[ \t]+|[ \t]+$/g, '');

/** Bytes RFC 9110 forbids in a field value (CTLs other than HTAB); CR and LF are never generated. */
const isForbidden = (byte: number): boolean => (byte < 0x20 && byte !== 0x09) || byte === 0x7f;

/**
 * What a real server answers to X-OTP sent as these lines (none: no header). Node reads the bytes
 * as latin1, trims the whitespace around each value and joins repeated lines with ", ", so a
 * repeated header is never one code, even when every copy is the valid code.
 */
function modelWire(lines: readonly Buffer[], valid: readonly string[]): Expected {
  if (lines.some((line) => line.some(isForbidden))) return BAD_REQUEST;
  if (lines.length === 0) return MISSING;
  return modelDecide(lines.map((line) => trimOws(line.toString('latin1'))).join(', '), valid);
}

// ---- arbitraries --------------------------------------------------------------------------------

const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });
const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 10 });
/** Any one code the test clock makes valid, or one it does not. */
const codeKind = fc.constantFrom('previous', 'current', 'next', 'wrong');
type CodeKind = 'previous' | 'current' | 'next' | 'wrong';

function codeOf(kind: CodeKind, nowMs: number): string {
  if (kind === 'wrong') return wrongCode(nowMs);
  return key.generate(nowMs + { previous: -1, current: 0, next: 1 }[kind] * PERIOD_MS);
}

/** A string of `length` from a repeated pattern: large values without generating every unit. */
const repeated = <T extends string>(pattern: fc.Arbitrary<T>, max: number) =>
  fc.tuple(fc.integer({ min: 0, max }), pattern).map(([length, unit]) => (unit.length === 0 ? '' : unit.repeat(Math.ceil(length / unit.length)).slice(0, length)));

/**
 * Values as a framework may hand them to the core: the code, the code with junk around it, any
 * UTF-16 (lone surrogates too), latin1, digit runs, up to 16 KiB; the codes are those of `nowMs`.
 */
const coreString = (nowMs: number): fc.Arbitrary<string> =>
  fc.oneof(
    codeKind.map((kind) => codeOf(kind, nowMs)),
    fc.tuple(codeKind, fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 })).map(([kind, before, after]) => before + codeOf(kind, nowMs) + after),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
    digits,
    repeated(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), 16_384),
  );

const coreValue = (nowMs: number): fc.Arbitrary<HeaderValue> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom<HeaderValue>(undefined, null, '', []) },
    { weight: 6, arbitrary: coreString(nowMs) },
    { weight: 3, arbitrary: fc.array(coreString(nowMs), { minLength: 1, maxLength: 5 }) },
  );

/** A byte a client may send in a field value: VCHAR, SP, HTAB, obs-text (RFC 9110 §5.5); digits often. */
const wireByte = fc.oneof(
  fc.integer({ min: 0x30, max: 0x39 }),
  fc.integer({ min: 0x21, max: 0x7e }),
  fc.constantFrom(0x20, 0x09),
  fc.integer({ min: 0x80, max: 0xff }),
);
const wireBytes = (maxLength: number) => fc.array(wireByte, { maxLength }).map((bytes) => Buffer.from(bytes));
const forbiddenByte = fc.oneof(fc.integer({ min: 0x00, max: 0x08 }), fc.integer({ min: 0x0b, max: 0x0c }), fc.integer({ min: 0x0e, max: 0x1f }), fc.constant(0x7f));
const latin1 = (text: string) => Buffer.from(text, 'latin1');

/** One X-OTP line's value as bytes. `big` allows values up to 16 KiB. */
const wireLine = (nowMs: number, big: boolean): fc.Arbitrary<Buffer> =>
  fc.oneof(
    // The code alone, maybe with whitespace around it (which is not part of the value).
    { weight: 3, arbitrary: fc.tuple(ows, codeKind, ows).map(([before, kind, after]) => latin1(before + codeOf(kind, nowMs) + after)) },
    // The code with junk appended or prepended.
    {
      weight: 2,
      arbitrary: fc.tuple(codeKind, wireBytes(12), fc.boolean()).map(([kind, junk, append]) => {
        const code = latin1(codeOf(kind, nowMs));
        return append ? Buffer.concat([code, junk]) : Buffer.concat([junk, code]);
      }),
    },
    // Full-width digits of the code, sent as their UTF-8 bytes.
    { weight: 1, arbitrary: codeKind.map((kind) => Buffer.from([...codeOf(kind, nowMs)].map((d) => String.fromCharCode(0xff10 + Number(d))).join(''), 'utf8')) },
    { weight: 1, arbitrary: digits.map(latin1) },
    { weight: 2, arbitrary: wireBytes(48) },
    ...(big
      ? [{ weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 16_384 }), fc.array(wireByte, { minLength: 1, maxLength: 16 })).map(([length, pattern]) => Buffer.alloc(length, Buffer.from(pattern))) }]
      : []),
  );

/** A line holding a byte no client may send (kept short so that Node reads the request in one go). */
const forbiddenLine = fc.tuple(wireBytes(24), forbiddenByte, wireBytes(24)).map(([before, byte, after]) => Buffer.concat([before, Buffer.from([byte]), after]));

/** X-OTP as it goes on the wire: absent, once (up to 16 KiB), or 2 to 5 lines (up to 4 KiB each, under the 64 KiB header limit). */
const wireHeader = (nowMs: number): fc.Arbitrary<Buffer[]> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant<Buffer[]>([]) },
    { weight: 6, arbitrary: wireLine(nowMs, true).map((line) => [line]) },
    {
      weight: 3,
      arbitrary: fc.array(
        fc.oneof(wireLine(nowMs, false), fc.constant(Buffer.alloc(0)), fc.constant(latin1(codeOf('current', nowMs))), repeated(fc.constantFrom('7', 'x', '\u00e9'), 4096).map(latin1)),
        { minLength: 2, maxLength: 5 },
      ),
    },
    { weight: 1, arbitrary: fc.tuple(fc.array(wireLine(nowMs, false), { maxLength: 2 }), forbiddenLine).map(([others, bad]) => [...others, bad]) },
  );

// ---- a raw HTTP/1.1 client ----------------------------------------------------------------------

interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error('truncated chunked body');
    const size = parseInt(data.toString('latin1', at, lineEnd), 16);
    if (!Number.isInteger(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * One request on a fresh connection, its X-OTP lines written byte for byte (node:http's client
 * would refuse some of them), and `extra` header lines (ASCII). Resolves when the server closes.
 */
function sendRaw(port: number, lines: readonly Buffer[], extra: Record<string, string> = {}): Promise<WireResponse> {
  const head = ['GET /secure HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(extra).map(([name, value]) => `${name}: ${value}`)].join('\r\n');
  const request = Buffer.concat([latin1(`${head}\r\n`), ...lines.flatMap((line) => [latin1('X-OTP: '), line, latin1('\r\n')]), latin1('\r\n')]);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        const data = Buffer.concat(chunks);
        const split = data.indexOf('\r\n\r\n');
        if (split < 0) throw new Error(`no complete response (${data.length} bytes)`);
        const [statusLine = '', ...fields] = data.toString('latin1', 0, split).split('\r\n');
        const headers: Record<string, string> = {};
        for (const field of fields) {
          const colon = field.indexOf(':');
          headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
        }
        let body: Buffer = data.subarray(split + 4);
        if (headers['transfer-encoding'] === 'chunked') body = decodeChunked(body);
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]), headers, body: body.toString('utf8') });
      } catch (error) {
        reject(error);
      }
    });
    socket.end(request);
  });
}

function expectWire(response: WireResponse, expected: Expected, what: string): void {
  expect(response.status, what).toBe(expected.status);
  expect(response.status, what).toBeLessThan(500);
  if (expected.body !== undefined) expect(response.body, what).toBe(expected.body);
  if (expected.status === 401 || expected.status === 429) expect(response.headers['content-type'], what).toBe('application/json; charset=utf-8');
  if (expected.status === 401) expect(response.headers['www-authenticate'], what).toBe(expected.challenge);
  if (expected.status === 200 || expected.status === 429) expect(response.headers['www-authenticate'], what).toBeUndefined();
}

/** A label for a failing case: each line's length and start, never a whole 16 KiB value nor a valid code. */
function describeLines(lines: readonly Buffer[], valid: readonly string[]): string {
  const shown = lines.map((line) => {
    let text = line.toString('latin1', 0, 40);
    for (const code of valid) text = text.replaceAll(code, '<valid code>');
    return line.length > 40 ? `${text}... (${line.length} bytes)` : text;
  });
  return `X-OTP x${lines.length}: ${JSON.stringify(shown)}`;
}

// ---- the decision core --------------------------------------------------------------------------

describe('the decision core under fuzzing', () => {
  it('answers any header value (absent, any UTF-16 text up to 16 KiB, 1 to 5 values) as the outcome table says, and never throws', () => {
    const nowArb = fc.integer({ min: 0, max: PERIOD_MS - 1 }).map((offset) => STEP_START + offset);
    fc.assert(
      fc.property(
        nowArb.chain((nowMs) => fc.tuple(fc.constant(nowMs), coreValue(nowMs))),
        ([nowMs, value]) => {
          const events: AuditEvent[] = [];
          const { decide } = createDecider({ owner, now: () => nowMs, maxFailures: NO_THROTTLE, maxFailuresTotal: NO_THROTTLE, onEvent: (event) => events.push(event) });
          const want = modelDecide(value, validCodes(nowMs));
          const refusal = decide(value, 'client');
          if (want.status === 200) {
            expect(refusal).toBeNull();
            expect(events).toEqual([expect.objectContaining({ type: 'verify', ok: true, keyId: owner.keyId })]);
          } else {
            expect(refusal).toEqual({
              status: want.status,
              body: want.body,
              headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': want.challenge },
            });
            expect(events).toEqual([expect.objectContaining({ type: 'verify', ok: false, reason: want.reason })]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('throttles random request sequences exactly as SPEC §4 says: missing not counted, malformed, wrong and repeated values counted, 429 from maxFailures per client or maxFailuresTotal per listener on', () => {
    const run = fc.integer({ min: 0, max: PERIOD_MS - 1 }).chain((offset) => {
      const nowMs = STEP_START + offset;
      const request = fc.record({ client: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3'), listener: fc.constantFrom(0, 1), value: coreValue(nowMs) });
      return fc.tuple(fc.constant(nowMs), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }), fc.array(request, { minLength: 1, maxLength: 40 }));
    });
    fc.assert(
      fc.property(run, ([nowMs, maxFailures, maxFailuresTotal, requests]) => {
        const valid = validCodes(nowMs);
        // A verifier of its own per run: the per-listener counts belong to the verifier.
        const verifier = { check: owner.check.bind(owner), timing: owner.timing.bind(owner) };
        const { decide } = createDecider({ owner: verifier, now: () => nowMs, maxFailures, maxFailuresTotal });
        const listeners = [{}, {}];
        const failures = new Map<string, number>();
        const totals = [0, 0];
        const retryAfter = String(Math.max(1, Math.ceil((STEP_START + PERIOD_MS - nowMs) / 1000)));
        for (const { client, listener, value } of requests) {
          const refusal = decide(value, client, listeners[listener]);
          const count = failures.get(`${listener}|${client}`) ?? 0;
          if (count >= maxFailures || (totals[listener] as number) >= maxFailuresTotal) {
            expect(refusal).toEqual({ status: 429, body: '{"error":"Too many attempts"}', headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': retryAfter } });
            continue;
          }
          const want = modelDecide(value, valid);
          expect(refusal?.status ?? 200).toBe(want.status);
          expect(refusal?.body).toBe(want.body === ALLOWED.body ? undefined : want.body);
          if (want.status === 401 && want.reason !== 'missing') {
            failures.set(`${listener}|${client}`, count + 1);
            totals[listener] = (totals[listener] as number) + 1;
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- every adapter over real HTTP ---------------------------------------------------------------

describe.each(adapters)('$name over real HTTP under fuzzing', (adapter) => {
  const clock = STEP_START + 10_200;
  const events: AuditEvent[] = [];
  let open: TestServer;
  let throttled: TestServer;

  beforeAll(async () => {
    // The per-listener budget has tests of its own (test/attack.test.ts): here it stays out of the way.
    open = await adapter.start({ owner, now: () => clock, maxFailures: NO_THROTTLE, maxFailuresTotal: NO_THROTTLE, onEvent: (event) => events.push(event) });
    throttled = await adapter.start({ owner, now: () => clock, maxFailures: 3, maxFailuresTotal: NO_THROTTLE, clientHeader: 'x-client', onEvent: (event) => events.push(event) });
  });
  afterAll(async () => {
    await open?.close();
    await throttled?.close();
  });

  it('answers any X-OTP bytes a client can send (absent, obs-text, junk, 16 KiB, 2-5 copies) as the outcome table says, never a 5xx', async () => {
    const valid = validCodes(clock);
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(wireHeader(clock), async (lines) => {
        const response = await sendRaw(open.port, lines);
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
        expectWire(response, modelWire(lines, valid), describeLines(lines, valid));
      }),
      { numRuns: HTTP_RUNS },
    );
    // The server is still up and still lets a valid code through.
    expectWire(await sendRaw(open.port, [latin1(valid[1] as string)]), ALLOWED, 'a valid code after the fuzzing');
    expect([...seen.keys()].every((status) => [200, 400, 401].includes(status))).toBe(true);
    expectNoSecrets(events, [...valid, key.toBase32(), key.toBase32().toLowerCase()]);
  });

  it('throttles random sequences of such requests per client as SPEC §4 says (maxFailures 3), repeated headers counted as failures', async () => {
    const valid = validCodes(clock);
    const step = fc.oneof({ weight: 3, arbitrary: wireHeader(clock) }, { weight: 2, arbitrary: codeKind.map((kind) => [latin1(codeOf(kind, clock))]) });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 7 }), async (sequence) => {
        // A client of its own per run (the guard reads x-client), so runs do not share a count.
        const client = `fuzz-${adapter.name.length}-${run++}-${Math.random().toString(36).slice(2)}`;
        let failures = 0;
        for (const lines of sequence) {
          const response = await sendRaw(throttled.port, lines, { 'x-client': client });
          const want = modelWire(lines, valid);
          if (want.status !== 400 && failures >= 3) {
            expectWire(response, { status: 429, body: '{"error":"Too many attempts"}' }, describeLines(lines, valid));
            expect(response.headers['retry-after']).toBe('20');
            continue;
          }
          expectWire(response, want, describeLines(lines, valid));
          if (want.status === 401 && want.body !== MISSING.body) failures++;
        }
      }),
      { numRuns: Math.max(10, Math.round(HTTP_RUNS / 3)) },
    );
  });
});
