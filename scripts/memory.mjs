// Memory stays flat under load: RSS across 10,000,000 verifies on one key, across 100,000 keys
// created and destroyed, and across 100,000 keys dropped without destroy() so that only the GC and
// the addon's finalizers can free them.
//
//   node scripts/memory.mjs [--verifies N] [--keys N] [--budget MiB]
//   TOTP_HANDSHAKE_BACKEND=js node scripts/memory.mjs        (the node:crypto engine)
//   node scripts/memory.mjs --control-leak                   (must report GROWING: see below)
//
// The script runs itself under node --expose-gc --max-semi-space-size=1. The second flag pins V8's
// young generation: left alone, V8 grows it in steps up to 2 x 16 MiB when allocation is fast,
// which shows as RSS plateaus (+24 MiB over 10,000,000 verifies here, all of it V8's committed
// heap) that hide what a leak would look like; pinned, RSS itself is the measure.
// In the key phases a full GC runs after every 1,000 keys and lets the finalizers it queues run
// (Node runs N-API finalizers on the event loop after the collection), as a long-lived process's
// own collections would: a live native key costs about 4.6 KB of RSS (printed at the end), some
// 2 KB of it outside the V8 heap where V8 does not count it (N-API references, the key state), so
// without collections 100,000 garbage keys would sit in RSS until V8 next felt the need. At each checkpoint the script forces
// a full GC and records RSS, the V8 heap and external memory. The verdict compares the last checkpoint with the first one after warm-up (JIT code and
// allocator pools settle in the first tenth): growth under the budget (default 4 MiB) passes. A
// leak of one byte per verify would be 9 MB here, of one NativeKey (state, three functions,
// candidates) per key hundreds of MB, so the budget sits far below what any leak would show;
// --control-leak keeps the dropped keys reachable to show the verdict catching one.
import { spawnSync } from 'node:child_process';
import { setImmediate as tick } from 'node:timers/promises';
import { parseArgs } from 'node:util';

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
    budget: { type: 'string', default: '4' },
    // The control: phase 3 keeps every "dropped" key reachable, a deliberate leak the verdict must catch.
    'control-leak': { type: 'boolean', default: false },
  },
});
const VERIFIES = Number(values.verifies);
const KEYS = Number(values.keys);
const BUDGET_MIB = Number(values.budget);
const retained = [];

const MiB = 1024 * 1024;
const mib = (bytes) => (bytes / MiB).toFixed(1);

async function settle() {
  // Two full collections with a turn of the event loop after each: the first frees the keys'
  // functions and queues their finalizers, which then run and release the native state.
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

// 3. Keys created, used, dropped: freed only by the GC and the addon's finalizers.
let collected = 0;
const registry = new FinalizationRegistry(() => collected++);
results.push(
  await phase('keys dropped without destroy() (GC finalizers)', KEYS, 1000, (from, n) => {
    for (let i = from; i < from + n; i++) {
      const k = TotpKey.random({ algorithm: i % 2 ? 'SHA512' : 'SHA1' });
      k.verify('123456', { timeMs: T0 + i * 1000 });
      registry.register(k, undefined);
      if (values['control-leak']) retained.push(k);
    }
  }),
);
await settle();
console.log(`\nfinalized: ${collected} of ${KEYS} dropped keys collected by the GC`);

// What one live key costs, for the record: RSS, V8 heap and external memory per key held.
const before = await settle();
const live = Array.from({ length: 20_000 }, () => TotpKey.random());
const after = await settle();
const per = (field) => ((after[field] - before[field]) / live.length).toFixed(0);
console.log(`footprint of a live key: ${per('rss')} B RSS, of which ${per('heapUsed')} B V8 heap and ${per('external')} B external`);
for (const k of live) k.destroy();

const failed = results.filter((r) => !r.ok);
console.log(
  failed.length === 0
    ? `memory: stable in all ${results.length} phases`
    : `memory: RSS grew in ${failed.map((r) => r.name).join(', ')}`,
);
process.exitCode = failed.length === 0 && (collected >= KEYS * 0.99 || values['control-leak']) ? 0 : 1;
