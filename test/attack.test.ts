// Brute force against every adapter, tried as an attacker on the same host would (SECURITY.md,
// "Brute force"): a process that can reach the API but cannot read the key, guessing codes from
// a thousand loopback addresses (Linux routes all of 127.0.0.0/8 to loopback, and any local
// process may bind any of them), or under a thousand client keys of its choosing, or through a
// loopback proxy it can forge X-Forwarded-For for. Whatever it varies, the guesses that reach
// the verifier within one TOTP step stay at maxFailuresTotal (20 by default); every other request
// gets 429. The clock is the guards' `now`, fixed inside one step.
import type { OutgoingHttpHeaders } from 'node:http';

import type { CheckResult, OtpVerifier, VerifyOptions } from 'totp-handshake';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type AdapterCase, adapters, type GuardTestOptions, type OwnedKey, type RawResponse, send, startOwner, type TestServer } from './helpers/http-fixtures.js';

/** 10 s into a step. */
const NOW = 1_700_000_010_000 + 10_000;
const ATTEMPTS = 1_200;
const DEFAULT_BUDGET = 20;

/** The owner, counting every code that reaches it: each one is a guess it answers. */
function countingVerifier(owner: OtpVerifier): OtpVerifier & { guesses: number; accepted: number } {
  return {
    guesses: 0,
    accepted: 0,
    check(code: unknown, options?: VerifyOptions): CheckResult {
      const result = owner.check(code, options);
      if (result.reason !== 'missing' && result.reason !== 'no-key') this.guesses++;
      if (result.ok) this.accepted++;
      return result;
    },
    timing: () => owner.timing(),
  };
}

/** A well-formed wrong code: never one of the three the key accepts at NOW. */
function guess(i: number, valid: Set<string>): string {
  for (let n = 100_000 + ((i * 7919) % 800_000); ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

/** Sends `count` requests, a few at a time (each on a connection of its own), and tallies the statuses. */
async function flood(count: number, request: (i: number) => Promise<RawResponse>): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  const parallel = 32;
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, j) => request(start + j));
    for (const { status } of await Promise.all(batch)) statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return statuses;
}

/** The i-th distinct loopback address, 127.1.0.1 on. */
const loopback = (i: number): string => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

let owned: OwnedKey;
let valid: Set<string>;
beforeAll(async () => {
  owned = await startOwner();
  valid = new Set([-1, 0, 1].map((step) => owned.key.generate(NOW + step * 30_000)));
});
afterAll(() => owned.close());

/** A server of `adapter` whose guard checks codes with a counting verifier of its own. */
function attackTarget(adapter: AdapterCase) {
  let server: TestServer | undefined;
  const target = {
    verifier: undefined as unknown as ReturnType<typeof countingVerifier>,
    async start(options: Partial<GuardTestOptions> = {}): Promise<number> {
      // A verifier of its own per test: the per-listener count belongs to the verifier.
      target.verifier = countingVerifier(owned.owner);
      server = await adapter.start({ owner: target.verifier, now: () => NOW, ...options });
      return server.port;
    },
    expectBounded(statuses: Record<number, number>, budget = DEFAULT_BUDGET): void {
      expect(target.verifier.guesses).toBe(budget);
      expect(target.verifier.accepted).toBe(0);
      expect(statuses).toEqual({ 401: budget, 429: ATTEMPTS - budget });
    },
  };
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  return target;
}

describe.each(adapters)('$name under brute force', (adapter) => {
  const target = attackTarget(adapter);

  it(`from ${ATTEMPTS} distinct loopback addresses: ${DEFAULT_BUDGET} guesses reach the verifier, the rest get 429`, async () => {
    const port = await target.start();
    target.expectBounded(await flood(ATTEMPTS, (i) => send(port, { 'X-OTP': guess(i, valid) }, '/secure', 'GET', loopback(i))));
  });

  it(`under ${ATTEMPTS} distinct client keys of its own choosing (a header-based clientKey): the same bound`, async () => {
    const port = await target.start({ clientHeader: 'x-client-id' });
    target.expectBounded(await flood(ATTEMPTS, (i) => send(port, { 'X-OTP': guess(i, valid), 'x-client-id': `client-${i}` })));
  });

  it('with the addresses and the keys varied together, and maxFailuresTotal 5: 5 guesses', async () => {
    const port = await target.start({ clientHeader: 'x-client-id', maxFailuresTotal: 5 });
    const statuses = await flood(ATTEMPTS, (i) => send(port, { 'X-OTP': guess(i, valid), 'x-client-id': `c${i}` }, '/secure', 'GET', loopback(i)));
    target.expectBounded(statuses, 5);
  });

  it('a guesser exhausting the budget on TCP also gets a valid code refused there until the step ends: the documented trade-off', async () => {
    const port = await target.start();
    await flood(DEFAULT_BUDGET, (i) => send(port, { 'X-OTP': guess(i, valid) }, '/secure', 'GET', loopback(i)));
    const legitimate = await send(port, { 'X-OTP': owned.key.generate(NOW) });
    expect(legitimate.status).toBe(429);
    expect(legitimate.headers['retry-after']).toBe('20');
  });
});

// express and fastify take the client address from X-Forwarded-For when told to trust a proxy.
describe.each(adapters.filter(({ name }) => name === 'express' || name === 'fastify'))('$name behind a trusted loopback proxy', (adapter) => {
  const target = attackTarget(adapter);

  it(`with ${ATTEMPTS} forged X-Forwarded-For addresses: the same bound`, async () => {
    const port = await target.start({ trustLoopbackProxy: true });
    const headers = (i: number): OutgoingHttpHeaders => ({ 'X-OTP': guess(i, valid), 'X-Forwarded-For': `203.0.113.${i % 250}, 10.${i >> 8}.${i & 255}.9` });
    target.expectBounded(await flood(ATTEMPTS, (i) => send(port, headers(i))));
  });
});
