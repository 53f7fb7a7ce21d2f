// Run by test/throttle-memory.test.ts under node --expose-gc: the heap a guard's throttle keeps
// after 15,000 clients, each with a 15 KB client key of its own, failed at a step boundary (the
// most a throttle can be made to hold: every key is new, and none has expired). Prints one JSON line.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { createDecider } = require('../../dist/http/decide.js');

const CLIENTS = Number(process.argv[2] ?? 15_000);
const KEY_BYTES = Number(process.argv[3] ?? 15_000);
const STEP_START = 1_700_000_010_000;
// A verifier that refuses every code, as for a guesser; the throttle is what is measured.
const owner = { check: () => ({ ok: false, reason: 'invalid' }), timing: () => ({ period: 30, epoch: 0 }) };

function heapUsed() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

const decider = createDecider({ owner, now: () => STEP_START, maxFailuresTotal: Number.MAX_SAFE_INTEGER, clientKey: undefined });
const filler = 'k'.repeat(KEY_BYTES);
const before = heapUsed();
for (let i = 0; i < CLIENTS; i++) {
  // A fresh string each time, as a parsed header value is: the throttle must not keep it.
  const key = `${i}:${filler}`.slice(0, KEY_BYTES);
  decider.decide('000000', key);
}
const after = heapUsed();
console.log(JSON.stringify({ clients: CLIENTS, keyBytes: KEY_BYTES, tracked: decider.trackedClients, retainedBytes: after - before }));
