// SPEC §4 against every adapter, over real servers on 127.0.0.1. The guards get an injected clock
// (`now`), so codes, throttling steps and Retry-After never depend on when the suite runs.
import type { OutgoingHttpHeaders } from 'node:http';

import Fastify from 'fastify';
import type { AuditEvent, KeyOwner, TotpKey } from 'totp-handshake';
import { verifyOtp } from 'totp-handshake/express';
import { fastifyOtp } from 'totp-handshake/fastify';
import { otpGuard } from 'totp-handshake/fetch';
import { otpCheck } from 'totp-handshake/http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createDecider } from '../dist/http/decide.js';
import { ReplayGuard } from '../dist/http/replay.js';
import { FailureThrottle } from '../dist/http/throttle.js';
import { expectNoSecrets } from './helpers/handshake-fs.js';
import { adapters, type GuardTestOptions, type OwnedKey, type RawResponse, send, startOwner, type TestServer } from './helpers/http-fixtures.js';

const PERIOD_MS = 30_000;
/** A step boundary (a multiple of 30 s); every test starts 10.2 s into this step. */
const STEP_START = 1_700_000_010_000;
const TIMING = { period: 30, epoch: 0 };

type Outcome = { status: number; body: string; challenge?: string };

const ALLOWED: Outcome = { status: 200, body: '{"success":true}' };
// RFC 9110 §15.5.2: every 401 carries a WWW-Authenticate challenge, the same in every adapter.
const MISSING: Outcome = { status: 401, body: '{"error":"Missing OTP"}', challenge: 'OTP error="missing"' };
const INVALID: Outcome = { status: 401, body: '{"error":"Invalid OTP"}', challenge: 'OTP error="invalid"' };
const UNAVAILABLE: Outcome = { status: 503, body: '{"error":"OTP key unavailable"}' };
const TOO_MANY: Outcome = { status: 429, body: '{"error":"Too many attempts"}' };

function expectOutcome({ status, body, headers }: RawResponse, expected: Outcome): void {
  expect({ status, body }).toEqual({ status: expected.status, body: expected.body });
  if (status !== 200) expect(headers['content-type']).toBe('application/json; charset=utf-8');
  // Only a guard's 401 has the challenge: not a 429, a 503 or a request let through.
  expect(headers['www-authenticate']).toBe(expected.challenge);
}

interface Codes {
  /** The code `steps` steps from the test clock. */
  at(steps?: number): string;
  /** A well-formed code valid at none of the steps -1, 0, +1. */
  wrong(): string;
}

const rows: Array<{ situation: string; headers: (codes: Codes) => OutgoingHttpHeaders; expected: Outcome }> = [
  { situation: 'a valid code', headers: (c) => ({ 'X-OTP': c.at() }), expected: ALLOWED },
  { situation: 'the header name in lower case', headers: (c) => ({ 'x-otp': c.at() }), expected: ALLOWED },
  { situation: 'the header name in mixed case', headers: (c) => ({ 'X-oTp': c.at() }), expected: ALLOWED },
  { situation: 'the previous step\'s code', headers: (c) => ({ 'X-OTP': c.at(-1) }), expected: ALLOWED },
  { situation: 'the next step\'s code', headers: (c) => ({ 'X-OTP': c.at(1) }), expected: ALLOWED },
  { situation: 'no header', headers: () => ({}), expected: MISSING },
  { situation: 'an empty header', headers: () => ({ 'X-OTP': '' }), expected: MISSING },
  { situation: 'the code in another header', headers: (c) => ({ 'X-OTP-Code': c.at() }), expected: MISSING },
  { situation: 'a wrong code', headers: (c) => ({ 'X-OTP': c.wrong() }), expected: INVALID },
  { situation: 'the code of two steps ago', headers: (c) => ({ 'X-OTP': c.at(-2) }), expected: INVALID },
  { situation: 'five digits', headers: (c) => ({ 'X-OTP': c.at().slice(1) }), expected: INVALID },
  { situation: 'seven digits', headers: (c) => ({ 'X-OTP': `${c.at()}0` }), expected: INVALID },
  { situation: 'letters', headers: () => ({ 'X-OTP': 'abcdef' }), expected: INVALID },
  { situation: 'a signed number', headers: () => ({ 'X-OTP': '+12345' }), expected: INVALID },
  { situation: 'junk', headers: () => ({ 'X-OTP': '!#$%&*(){}<>\'"\\' }), expected: INVALID },
  { situation: 'latin-1 bytes', headers: () => ({ 'X-OTP': '\u00e912345' }), expected: INVALID },
  // Full-width digits in UTF-8, sent byte for byte.
  { situation: 'non-ASCII digits', headers: () => ({ 'X-OTP': Buffer.from('１２３４５６').toString('latin1') }), expected: INVALID },
  { situation: 'a 4 KB value', headers: () => ({ 'X-OTP': '7'.repeat(4096) }), expected: INVALID },
  { situation: 'a 16 KB value', headers: () => ({ 'X-OTP': 'x'.repeat(16_384) }), expected: INVALID },
  { situation: 'two X-OTP headers with the valid code', headers: (c) => ({ 'X-OTP': [c.at(), c.at()] }), expected: INVALID },
  { situation: 'two X-OTP headers, one valid, one wrong', headers: (c) => ({ 'X-OTP': [c.at(), c.wrong()] }), expected: INVALID },
];

// For the suites that need a key but no particular one.
let shared: OwnedKey;
beforeAll(async () => {
  shared = await startOwner();
});
afterAll(() => shared.close());

describe.each(adapters)('$name', (adapter) => {
  let owned: OwnedKey;
  let key: TotpKey;
  let owner: KeyOwner;
  let clock: number;
  let events: AuditEvent[];
  let server: TestServer | undefined;

  const codes: Codes = {
    at: (steps = 0) => key.generate(clock + steps * PERIOD_MS),
    wrong() {
      const valid = new Set([-1, 0, 1].map((steps) => codes.at(steps)));
      let candidate = Number(codes.at());
      do candidate = (candidate + 1) % 1_000_000;
      while (valid.has(String(candidate).padStart(6, '0')));
      return String(candidate).padStart(6, '0');
    },
  };

  beforeEach(async () => {
    owned = await startOwner();
    ({ key, owner } = owned);
    clock = STEP_START + 10_200;
    events = [];
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
    await owned.close();
  });

  async function start(options: Partial<GuardTestOptions> = {}): Promise<number> {
    server = await adapter.start({ owner, now: () => clock, onEvent: (event) => events.push(event), ...options });
    return server.port;
  }

  describe('the outcome table', () => {
    it.each(rows)('$situation: $expected.status $expected.body', async ({ headers, expected }) => {
      const port = await start();
      expectOutcome(await send(port, headers(codes)), expected);
      expectOutcome(await send(port, headers(codes), '/secure', 'POST'), expected);
    });

    it('answers 503 while no key is loaded, before looking at the header', async () => {
      const port = await start({ maxFailures: 1 });
      await owner.close();
      for (const headers of [{}, { 'X-OTP': 'abc' }, { 'X-OTP': '123456' }, { 'X-OTP': '123456' }]) {
        expectOutcome(await send(port, headers), UNAVAILABLE);
      }
    });

    it('reads a custom header name in any case, and only that header', async () => {
      const port = await start({ header: 'X-Api-Code' });
      expectOutcome(await send(port, { 'x-api-code': codes.at() }), ALLOWED);
      expectOutcome(await send(port, { 'X-API-CODE': codes.at() }), ALLOWED);
      expectOutcome(await send(port, { 'X-OTP': codes.at() }), MISSING);
    });

    it('accepts the steps of a wider window, and only the current one with window 0', async () => {
      const wide = await start({ window: 2 });
      expectOutcome(await send(wide, { 'X-OTP': codes.at(-2) }), ALLOWED);
      await server?.close();
      const narrow = await start({ window: 0 });
      expectOutcome(await send(narrow, { 'X-OTP': codes.at(-1) }), INVALID);
      expectOutcome(await send(narrow, { 'X-OTP': codes.at() }), ALLOWED);
    });
  });

  describe('throttling', () => {
    it('answers 429 after maxFailures failures in a step, across connections, until the next step', async () => {
      const port = await start({ maxFailures: 3 });
      for (let i = 0; i < 5; i++) expectOutcome(await send(port, {}), MISSING);
      expectOutcome(await send(port, { 'X-OTP': codes.wrong() }), INVALID);
      expectOutcome(await send(port, { 'X-OTP': 'abc' }), INVALID);
      // The failure that reaches the limit is still answered 401.
      expectOutcome(await send(port, { 'X-OTP': codes.wrong() }), INVALID);

      const refused = await send(port, { 'X-OTP': codes.at() });
      expectOutcome(refused, TOO_MANY);
      expect(refused.headers['retry-after']).toBe('20'); // 19.8 s to the boundary, rounded up
      expectOutcome(await send(port, {}), TOO_MANY);

      clock = STEP_START + PERIOD_MS - 999;
      expect((await send(port, { 'X-OTP': codes.at() })).headers['retry-after']).toBe('1');

      clock = STEP_START + PERIOD_MS;
      expectOutcome(await send(port, { 'X-OTP': codes.at() }), ALLOWED);
      expectOutcome(await send(port, { 'X-OTP': codes.wrong() }), INVALID);
      expect(events.filter((event) => event.type === 'throttle')).toHaveLength(3);
    });

    it('refuses a throttled client with 429 before 503', async () => {
      const port = await start({ maxFailures: 1 });
      expectOutcome(await send(port, { 'X-OTP': codes.wrong() }), INVALID);
      await owner.close();
      expectOutcome(await send(port, {}), TOO_MANY);
    });

    it('counts each client apart (clientKey)', async () => {
      const port = await start({ maxFailures: 2, clientHeader: 'x-client' });
      for (let i = 0; i < 2; i++) expectOutcome(await send(port, { 'X-OTP': codes.wrong(), 'x-client': 'a' }), INVALID);
      expectOutcome(await send(port, { 'X-OTP': codes.at(), 'x-client': 'a' }), TOO_MANY);
      expectOutcome(await send(port, { 'X-OTP': codes.at(), 'x-client': 'b' }), ALLOWED);
    });
  });

  describe('replays', () => {
    it('lets a code be reused within its step by default', async () => {
      const port = await start();
      for (let i = 0; i < 3; i++) expectOutcome(await send(port, { 'X-OTP': codes.at() }), ALLOWED);
    });

    it('accepts each code once with rejectReplay, and counts a replay as a failure', async () => {
      const port = await start({ rejectReplay: true, maxFailures: 2 });
      expectOutcome(await send(port, { 'X-OTP': codes.at() }), ALLOWED);
      expectOutcome(await send(port, { 'X-OTP': codes.at() }), INVALID);
      expectOutcome(await send(port, { 'X-OTP': codes.at(-1) }), ALLOWED);
      expectOutcome(await send(port, { 'X-OTP': codes.at(-1) }), INVALID);
      expectOutcome(await send(port, { 'X-OTP': codes.at(1) }), TOO_MANY);
      expect(events.filter((event) => event.reason === 'replayed')).toHaveLength(2);
    });
  });

  describe('audit events', () => {
    it('reports every decision and never carries the code or the secret', async () => {
      const port = await start({ maxFailures: 1 });
      const valid = codes.at();
      await send(port, { 'X-OTP': valid });
      await send(port, {});
      await send(port, { 'X-OTP': `${valid}0` });
      await send(port, { 'X-OTP': valid });
      await owner.close();
      clock += PERIOD_MS;
      await send(port, { 'X-OTP': valid });

      expect(events.map(({ type, ok, reason, keyId }) => ({ type, ok, reason, keyId }))).toEqual([
        { type: 'verify', ok: true, reason: undefined, keyId: key.id },
        { type: 'verify', ok: false, reason: 'missing', keyId: key.id },
        { type: 'verify', ok: false, reason: 'malformed', keyId: key.id },
        { type: 'throttle', ok: false, reason: 'throttled', keyId: undefined },
        { type: 'verify', ok: false, reason: 'no-key', keyId: undefined },
      ]);
      expect(events[0]?.delta).toBe(0);
      for (const event of events) expect(Date.parse(event.at)).not.toBeNaN();
      expectNoSecrets(events, [valid, key.toBase32(), key.toBase32().toLowerCase()]);
    });
  });
});

describe('fastifyOtp scope', () => {
  let app: ReturnType<typeof Fastify>;

  beforeEach(() => {
    app = Fastify();
  });
  afterEach(() => app.close());

  const ok = async () => ({ ok: true });
  async function statuses(...paths: string[]): Promise<number[]> {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    return Promise.all(paths.map(async (path) => (await send(port, {}, path)).status));
  }

  it('guards every route of the app, in every context, when registered at the root', async () => {
    await app.register(fastifyOtp, { owner: shared.owner });
    app.get('/root', ok);
    await app.register(async (child) => {
      child.get('/child', ok);
      await child.register(async (grandchild) => void grandchild.get('/grandchild', ok));
    });
    expect(await statuses('/root', '/child', '/grandchild', '/nowhere')).toEqual([401, 401, 401, 401]);
  });

  it('guards only its own context when registered inside one', async () => {
    app.get('/public', ok);
    await app.register(async (child) => {
      await child.register(fastifyOtp, { owner: shared.owner });
      child.get('/guarded', ok);
    });
    await app.register(async (sibling) => void sibling.get('/sibling', ok));
    expect(await statuses('/public', '/guarded', '/sibling')).toEqual([200, 401, 200]);
  });

  it('lets a route opt out with config: { otp: false }', async () => {
    await app.register(fastifyOtp, { owner: shared.owner });
    app.get('/health', { config: { otp: false } }, ok);
    app.get('/guarded', { config: { otp: true } }, ok);
    expect(await statuses('/health', '/guarded')).toEqual([200, 401]);
  });
});

describe('otpGuard without a client address', () => {
  it('puts every such request in one throttling bucket', () => {
    const guard = otpGuard({ owner: shared.owner, maxFailures: 1, now: () => STEP_START });
    const request = (code: string) => new Request('http://127.0.0.1/secure', { headers: { 'X-OTP': code } });
    const valid = shared.key.generate(STEP_START);
    expect(guard(request('bad'))?.status).toBe(401);
    expect(guard(request(valid))?.status).toBe(429);
    expect(guard(request(valid), '10.0.0.2')).toBeNull();
  });
});

describe('option validation', () => {
  // Each row makes its options when its test runs, after the shared owner has started.
  const bad: Array<[string, (owner: KeyOwner) => Record<string, unknown>]> = [
    ['no owner', () => ({})],
    ['an owner without check()', () => ({ owner: { timing: () => undefined } })],
    ['an empty header name', (owner) => ({ owner, header: '' })],
    ['a header name with a space', (owner) => ({ owner, header: 'X OTP' })],
    ['a header name that is not a string', (owner) => ({ owner, header: 5 })],
    ['a negative window', (owner) => ({ owner, window: -1 })],
    ['a window above 10', (owner) => ({ owner, window: 11 })],
    ['a fractional window', (owner) => ({ owner, window: 1.5 })],
    ['maxFailures 0', (owner) => ({ owner, maxFailures: 0 })],
    ['a fractional maxFailures', (owner) => ({ owner, maxFailures: 2.5 })],
    ['maxClients 0', (owner) => ({ owner, maxClients: 0 })],
    ['rejectReplay as a string', (owner) => ({ owner, rejectReplay: 'yes' })],
    ['clientKey as a string', (owner) => ({ owner, clientKey: 'ip' })],
    ['onEvent as a number', (owner) => ({ owner, onEvent: 1 })],
    ['now as a number', (owner) => ({ owner, now: 1 })],
  ];
  const factories: Array<[string, (options: never) => unknown]> = [
    ['verifyOtp', verifyOtp],
    ['otpGuard', otpGuard],
    ['otpCheck', otpCheck],
  ];
  const rejected = expect.objectContaining({ name: 'OtpError', code: 'ERR_OTP_OPTIONS' });

  describe.each(factories)('%s', (_name, factory) => {
    it.each(bad)('refuses %s up front', (_situation, options) => {
      expect(() => factory(options(shared.owner) as never)).toThrow(rejected);
    });
    it('refuses no options at all', () => {
      expect(() => factory(undefined as never)).toThrow(rejected);
    });
  });

  it.each(bad)('fastifyOtp refuses %s at registration', async (_situation, options) => {
    const app = Fastify();
    await expect(app.register(fastifyOtp, options(shared.owner) as never).ready()).rejects.toThrow(rejected);
    await app.close();
  });
});

describe('the throttle table', () => {
  // A per-listener budget as large as anything here: these tests are about the per-client table.
  const decider = (options: { maxClients?: number; maxFailures?: number } = {}) =>
    createDecider({ owner: { check: shared.owner.check.bind(shared.owner), timing: () => shared.owner.timing() }, now: () => STEP_START + 1000, maxFailures: 1, maxFailuresTotal: 1e9, ...options });
  const LISTENER = {};
  const limits = (maxFailures: number, maxClients: number) => ({ maxFailures, maxClients, maxFailuresTotal: 1e9 });
  const retryAfter = (throttle: FailureThrottle, client: string, now: number) => throttle.check(client, LISTENER, now)?.retryAfter ?? 0;

  it('tracks at most maxClients (default 10,000) under 100,000 distinct client keys', () => {
    const guard = decider();
    const statuses = new Map<number | undefined, number>();
    for (let i = 0; i < 100_000; i++) {
      const status = guard.decide('bad', `client-${i}`)?.status;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (i % 10_000 === 9_999) expect(guard.trackedClients).toBe(10_000);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 401: 100_000 });
    // The most recent clients are still throttled; the oldest were forgotten.
    expect(guard.decide('bad', 'client-99999')?.status).toBe(429);
    expect(guard.decide('bad', 'client-0')?.status).toBe(401);
  });

  it('honours maxClients', () => {
    const guard = decider({ maxClients: 100 });
    for (let i = 0; i < 1000; i++) guard.decide('x', `client-${i}`);
    expect(guard.trackedClients).toBe(100);
  });

  it('forgets the least recently active client first', () => {
    const throttle = new FailureThrottle({}, limits(2, 2));
    const now = STEP_START;
    throttle.fail('a', LISTENER, now, TIMING);
    throttle.fail('b', LISTENER, now, TIMING);
    throttle.fail('a', LISTENER, now, TIMING);
    throttle.fail('c', LISTENER, now, TIMING);
    expect(throttle.size).toBe(2);
    expect(retryAfter(throttle, 'a', now)).toBe(30);
    throttle.fail('b', LISTENER, now, TIMING);
    throttle.fail('b', LISTENER, now, TIMING);
    expect(retryAfter(throttle, 'b', now)).toBe(30);
    expect(retryAfter(throttle, 'c', now)).toBe(0);
  });

  it('keeps the clients of different listeners apart', () => {
    const throttle = new FailureThrottle({}, limits(1, 10));
    const other = {};
    throttle.fail('127.0.0.1', LISTENER, STEP_START, TIMING);
    expect(throttle.check('127.0.0.1', LISTENER, STEP_START)).toEqual({ retryAfter: 30, scope: 'client' });
    expect(throttle.check('127.0.0.1', other, STEP_START)).toBeUndefined();
  });

  it('drops every count at the step boundary, aligned to the key\'s epoch', () => {
    const throttle = new FailureThrottle({}, limits(1, 10));
    const timing = { period: 60, epoch: 15 };
    const stepStart = 15_000 + 60_000 * 1000;
    throttle.fail('a', LISTENER, stepStart + 59_000, timing);
    throttle.fail('b', LISTENER, stepStart + 59_500, timing);
    expect(retryAfter(throttle, 'a', stepStart + 59_999)).toBe(1);
    expect(throttle.size).toBe(2);
    expect(retryAfter(throttle, 'a', stepStart + 60_000)).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('ends the step when the clock jumps backwards', () => {
    const throttle = new FailureThrottle({}, limits(1, 10));
    throttle.fail('a', LISTENER, STEP_START + 5000, TIMING);
    expect(retryAfter(throttle, 'a', STEP_START - 1)).toBe(0);
  });
});

describe('the per-listener budget', () => {
  const LISTENER = {};
  const limits = { maxFailures: 1_000, maxClients: 10_000, maxFailuresTotal: 20 };

  it('refuses every client on a listener once its failures reach maxFailuresTotal, until the step ends', () => {
    const throttle = new FailureThrottle({}, limits);
    for (let i = 0; i < 20; i++) {
      expect(throttle.check(`127.0.${i}.1`, LISTENER, STEP_START + i)).toBeUndefined();
      throttle.fail(`127.0.${i}.1`, LISTENER, STEP_START + i, TIMING);
    }
    expect(throttle.check('127.0.99.1', LISTENER, STEP_START + 100)).toEqual({ retryAfter: 30, scope: 'listener' });
    expect(throttle.check('never seen', LISTENER, STEP_START + 29_000)).toEqual({ retryAfter: 1, scope: 'listener' });
    expect(throttle.check('never seen', LISTENER, STEP_START + PERIOD_MS)).toBeUndefined();
    // Another listener of the same verifier has a budget of its own.
    expect(throttle.check('127.0.99.1', {}, STEP_START + 100)).toBeUndefined();
  });

  it('is shared by every guard of one verifier, and by no other verifier', () => {
    const verifier = {};
    const first = new FailureThrottle(verifier, limits);
    const second = new FailureThrottle(verifier, limits);
    for (let i = 0; i < 10; i++) first.fail(`a${i}`, LISTENER, STEP_START, TIMING);
    for (let i = 0; i < 10; i++) second.fail(`b${i}`, LISTENER, STEP_START, TIMING);
    expect(first.check('c', LISTENER, STEP_START)?.scope).toBe('listener');
    expect(second.check('c', LISTENER, STEP_START)?.scope).toBe('listener');
    expect(new FailureThrottle({}, limits).check('c', LISTENER, STEP_START)).toBeUndefined();
  });

  it('starts counting again when the clock jumps backwards', () => {
    const throttle = new FailureThrottle({}, { ...limits, maxFailuresTotal: 1 });
    throttle.fail('a', LISTENER, STEP_START + 5000, TIMING);
    expect(throttle.check('b', LISTENER, STEP_START + 5000)?.scope).toBe('listener');
    expect(throttle.check('b', LISTENER, STEP_START - 1)).toBeUndefined();
  });
});

describe('the replay table', () => {
  it('keeps entries only while their code can still verify', () => {
    const replays = new ReplayGuard();
    const step = STEP_START / PERIOD_MS;
    // With window 1 the code of step s verifies until step s + 2 begins.
    const until = (s: number) => (s + 2) * PERIOD_MS;
    expect(replays.accept('k1', step, until(step), STEP_START)).toBe(true);
    expect(replays.accept('k1', step - 1, until(step - 1), STEP_START)).toBe(true);
    expect(replays.accept('k1', step, until(step), STEP_START + 1)).toBe(false);
    expect(replays.accept('k2', step, until(step), STEP_START + 1)).toBe(true);
    expect(replays.size).toBe(3);
    // Two steps later, step - 1 and step are out of the window; only the new entry remains.
    expect(replays.accept('k1', step + 2, until(step + 2), STEP_START + 2 * PERIOD_MS)).toBe(true);
    expect(replays.size).toBe(1);
  });
});
