// Memory stays flat under load, and a key is small:
//   1. RSS across 10,000,000 verifies on one key;
//   2. across 100,000 keys created, used and destroyed;
//   3. across 100,000 keys created, used and dropped without destroy(), a full collection after
//      every 1,000 (what a long-lived process's own collections do over time);
//   4. 1,000,000 keys created, used and dropped without destroy() in one go, the event loop
//      turning every 10,000 keys but no collection forced until the end: on the native engine,
//      RSS once they are collected must be within the budget of RSS before them (the addon's
//      arena gives its chunks back to the OS, and its keys' state is wiped and freed from a
//      FinalizationRegistry);
//   5. what one live key costs in RSS (100,000 keys held, each having verified a code), against a
//      budget of 512 bytes on the native engine.
//
//   node scripts/memory.mjs [--verifies N] [--keys N] [--many N] [--budget MiB]
//   TOTP_HANDSHAKE_BACKEND=js node scripts/memory.mjs        (the node:crypto engine)
//   node scripts/memory.mjs --control-leak                   (must report GROWING: see below)
//
// The script runs itself under node --expose-gc --max-semi-space-size=1. The second flag pins V8's
// young generation: left alone, V8 grows it in steps up to 2 x 16 MiB when allocation is fast,
// which shows as RSS plateaus (+24 MiB over 10,000,000 verifies here, all of it V8's committed
// heap) that hide what a leak would look like; pinned, RSS itself is the measure. At each
// checkpoint the script forces two full collections, with a turn of the event loop after each
// (FinalizationRegistry callbacks run on the event loop), and records RSS, the V8 heap and
// external memory. Phases 1-3 compare the last checkpoint with the first one after warm-up (JIT
// code and allocator pools settle in the first tenth); phase 4 compares with its start. A leak
// of one byte per verify would be 9 MB in phase 1, of one key's state per key 200 MB in phase 4,
// so the budget (default 4 MiB) sits far below what any leak would show; --control-leak keeps the
// dropped keys of phases 3 and 4 reachable to show the verdict catching one.
import { spawnSync } from 'node:child_process';
import { setImmediate as tick } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { nativeEngine } from '../dist/engine/index.js';
import { backend, engineInfo, TotpKey } from '../dist/index.js';

const FLAGS = ['--expose-gc', '--max-semi-space-size=1'];
if (!FLAGS.every((flag) => process.execArgv.includes(flag))) {
  const child = spawnSync(process.execPath, [...FLAGS, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

const { values } = parseArgs({
  options: {
    verifies: { type: 'string', default: '10000000' },
    keys: { type: 'string', default: '100000' },
    many: { type: 'string', default: '1000000' },
    budget: { type: 'string', default: '4' },
    // The control: phase 3 keeps every "dropped" key reachable, a deliberate leak the verdict must catch.
    'control-leak': { type: 'boolean', default: false },
  },
});
const VERIFIES = Number(values.verifies);
const KEYS = Number(values.keys);
const MANY = Number(values.many);
const BUDGET_MIB = Number(values.budget);
const retained = [];

const MiB = 1024 * 1024;
const mib = (bytes) => (bytes / MiB).toFixed(1);

/** Keys the addon's arena holds now (0 on the js engine), and the memory it has mapped. */
const arena = () => nativeEngine?.arenaStats() ?? { liveKeys: 0, chunks: 0, bytes: 0 };

async function settle() {
  // Two full collections with a turn of the event loop after each: the first finds the dropped
  // keys and queues the FinalizationRegistry callbacks, which then run and free their state.
  for (let i = 0; i < 2; i++) {
    globalThis.gc();
    await tick();
  }
  return process.memoryUsage();
}

// Runs `step` over `total` operations in slices of `slice`, with a full GC (and the finalizers it
// queues) after each slice and a recorded checkpoint every tenth of the total.
async function phase(name, total, slice, step) {
  const rows = [];
  const every = Math.ceil(total / 10);
  rows.push({ done: 0, ...(await settle()) });
  const started = performance.now();
  for (let done = 0; done < total; ) {
    const end = Math.min(done + every, total);
    for (; done < end; done += Math.min(slice, end - done)) {
      step(done, Math.min(slice, end - done));
      if (slice < every) await settle();
    }
    rows.push({ done, ...(await settle()) });
  }
  const seconds = (performance.now() - started) / 1000;
  const baseline = rows[Math.max(1, Math.round(rows.length / 10))];
  const last = rows[rows.length - 1];
  const growth = last.rss - baseline.rss;
  const peak = Math.max(...rows.slice(1).map((r) => r.rss));
  console.log(`\n${name} (${seconds.toFixed(1)} s)`);
  console.log('      done |   RSS MiB | heap total MiB | heap used MiB | external MiB');
  for (const r of rows) {
    console.log(`${String(r.done).padStart(10)} | ${mib(r.rss).padStart(9)} | ${mib(r.heapTotal).padStart(14)} | ${mib(r.heapUsed).padStart(13)} | ${mib(r.external).padStart(12)}`);
  }
  const ok = growth < BUDGET_MIB * MiB;
  const perOp = growth / (last.done - baseline.done);
  console.log(
    `verdict: ${ok ? 'stable' : 'GROWING'}: RSS ${mib(baseline.rss)} -> ${mib(last.rss)} MiB after warm-up ` +
      `(${growth >= 0 ? '+' : ''}${mib(growth)} MiB, ${perOp.toFixed(3)} B per operation; peak ${mib(peak)} MiB; budget ${BUDGET_MIB} MiB)`,
  );
  return { name, ok, growth, perOp };
}

const secret = new Uint8Array(20).map((_, i) => i * 17 + 3);
const T0 = 1_700_000_000_000;
console.log(`memory: ${backend} engine (${engineInfo.reason}), Node ${process.version} ${process.execArgv.join(' ')}, ${VERIFIES} verifies, ${KEYS} keys`);

// 1. Verifies. Every fourth call starts a new step, so the addon computes the window (cold path);
// the others are answered from the step cache, and the third widens the window (partly cold).
// The "wrong" codes are fixed six-digit strings: well-formed, so each reaches the comparison.
const key = TotpKey.fromBytes(secret);
const wrong = Array.from({ length: 64 }, (_, i) => String((i * 15_485_863) % 1_000_000).padStart(6, '0'));
let accepted = 0;
const results = [];
results.push(
  await phase('verifies on one key', VERIFIES, VERIFIES, (from, n) => {
    for (let i = from; i < from + n; i++) {
      const timeMs = T0 + (i >>> 2) * 30_000;
      if ((i & 1) === 0) {
        key.verify(wrong[(i >>> 1) & 63], { timeMs, window: i & 2 ? 2 : 1 });
      } else {
        accepted += key.verify(key.generate(timeMs), { timeMs, window: i & 2 ? 0 : 1 }) ? 1 : 0;
      }
    }
  }),
);
if (accepted !== Math.floor(VERIFIES / 2)) throw new Error(`only ${accepted} of ${Math.floor(VERIFIES / 2)} valid codes verified`);
key.destroy();

// 2. Keys created, used, destroyed.
results.push(
  await phase('keys created and destroyed', KEYS, 1000, (from, n) => {
    for (let i = from; i < from + n; i++) {
      const k = TotpKey.random({ algorithm: i % 2 ? 'SHA256' : 'SHA1' });
      k.verify('123456', { timeMs: T0 + i * 1000 });
      k.destroy();
    }
  }),
);

// 3. Keys created, used, dropped: freed only by the GC and the FinalizationRegistry.
const liveAtStart = arena().liveKeys;
results.push(
  await phase('keys dropped without destroy() (collected every 1,000)', KEYS, 1000, (from, n) => {
    for (let i = from; i < from + n; i++) {
      const k = TotpKey.random({ algorithm: i % 2 ? 'SHA512' : 'SHA1' });
      k.verify('123456', { timeMs: T0 + i * 1000 });
      if (values['control-leak']) retained.push(k);
    }
  }),
);
await settle();
if (backend === 'native') console.log(`arena: ${arena().liveKeys - liveAtStart} of ${KEYS} dropped keys still held after collection`);

// 4. A million keys dropped in one go: RSS afterwards against RSS before.
{
  const before = await settle();
  const liveBefore = arena().liveKeys;
  const started = performance.now();
  let peak = before.rss;
  let peakArena = 0;
  // Secrets derived from i rather than drawn from the CSPRNG: randomBytes costs ~15 us a call here,
  // more than everything else a key costs, and this phase is about memory.
  const bytes = new Uint8Array(20);
  for (let i = 0; i < MANY; i++) {
    bytes[0] = i;
    bytes[1] = i >>> 8;
    bytes[2] = i >>> 16;
    const k = TotpKey.fromBytes(bytes, { algorithm: i % 3 === 2 ? 'SHA256' : 'SHA1' });
    k.verify('123456', { timeMs: T0 + i * 1000 });
    if (values['control-leak']) retained.push(k);
    if (i % 10_000 === 9_999) {
      await tick(); // a turn of the event loop, as between a server's requests
      peak = Math.max(peak, process.memoryUsage.rss());
      peakArena = Math.max(peakArena, arena().bytes);
    }
  }
  const made = (performance.now() - started) / 1000;
  // The registry's callbacks free the keys' state as the collections find their batches; a few
  // more rounds let the collections that follow free what the callbacks let go of.
  let after = await settle();
  for (let round = 0; round < 8 && !values['control-leak']; round++) {
    const next = await settle();
    if (next.rss >= after.rss && arena().liveKeys <= liveBefore) break;
    after = next;
  }
  const growth = after.rss - before.rss;
  // Budgeted on the native engine, whose keys live in the addon's arena, given back to the OS in
  // whole chunks. The js engine's keys each hold a small Buffer: once collected, V8's heap and
  // external memory are back where they were, but the C library's allocator keeps most of the
  // freed blocks in its own free lists, so RSS stays tens of MiB higher; printed, not budgeted.
  const ok = backend !== 'native' || growth < BUDGET_MIB * MiB;
  console.log(`\n${MANY} keys dropped without destroy(), no collection forced while they were made (${made.toFixed(1)} s)`);
  console.log(
    `  RSS ${mib(before.rss)} MiB before, peak ${mib(peak)} MiB, ${mib(after.rss)} MiB once collected; ` +
      (backend === 'native' ? `arena peak ${mib(peakArena)} MiB, now ${arena().liveKeys - liveBefore} of the keys held in ${arena().chunks} chunk(s)` : 'js engine'),
  );
  console.log(
    `  V8 heap ${mib(before.heapTotal)} -> ${mib(after.heapTotal)} MiB committed, ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB used; ` +
      `external ${mib(before.external)} -> ${mib(after.external)} MiB`,
  );
  console.log(
    `verdict: ${backend !== 'native' ? 'not budgeted (js engine)' : ok ? 'stable' : 'GROWING'}: ${growth >= 0 ? '+' : ''}${mib(growth)} MiB against RSS before` +
      (backend === 'native' ? ` (budget ${BUDGET_MIB} MiB)` : ''),
  );
  results.push({ name: `${MANY} keys dropped in one go`, ok, growth });
}

// 5. What one live key costs: RSS, V8 heap and external memory per key held, each key having
// verified a code (so its step cache exists), and the addon's arena bytes per key.
const LIVE = 100_000;
const before = await settle();
const arenaBefore = arena().bytes;
const live = Array.from({ length: LIVE }, (_, i) => {
  const k = TotpKey.random();
  k.verify('123456', { timeMs: T0 + i * 1000 });
  return k;
});
const after = await settle();
const per = (field) => (after[field] - before[field]) / LIVE;
const perKey = per('rss');
const footprintOk = backend !== 'native' || perKey <= 512;
console.log(
  `\nfootprint of a live key: ${perKey.toFixed(0)} B RSS (budget 512 B on the native engine), of which ${per('heapUsed').toFixed(0)} B V8 heap, ` +
    `${per('external').toFixed(0)} B external` +
    (backend === 'native' ? `, ${((arena().bytes - arenaBefore) / LIVE).toFixed(0)} B of arena` : ''),
);
for (const k of live) k.destroy();
results.push({ name: 'footprint of a live key', ok: footprintOk });

const failed = results.filter((r) => !r.ok);
console.log(
  failed.length === 0
    ? `memory: stable in all ${results.length - 1} phases, and a live key within budget`
    : `memory: ${failed.map((r) => r.name).join(', ')} over budget`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
