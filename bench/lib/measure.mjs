// Times one case with tinybench, in the current process (bench/lib/child.mjs runs each case in a
// fresh one).
//
// A TOTP verify takes ~50-250 ns and reading the clock ~40 ns here, so one call per sample would
// mostly time the timer. Each tinybench sample is a batch of K calls, timed around the batch and
// reported per call (`overriddenDuration` = batch time / K; `overriddenIterationCost` = batch time
// so tinybench's time budget counts the whole batch). Every call's result is checked inside the
// batch: a case that returns a wrong answer while timed fails instead of reporting a figure.
import { Bench } from 'tinybench';

import { MASK, PERIOD_MS } from './fixtures.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits, if needed, so that at least `needMs` remain in the current TOTP step. */
async function leaveRoomInStep(needMs) {
  const remaining = PERIOD_MS - (Date.now() % PERIOD_MS);
  if (remaining < needMs) await sleep(remaining + 25);
}

function makeBatch(bench, impl, k) {
  const call = impl.call;
  const accepted = impl.accepted ?? ((result) => result === true);
  const want = impl.expect ? k : 0;
  const state = { index: 0, wrongBatches: 0, calls: 0 };
  const finish = (t0, t1, hits, i) => {
    state.index = i;
    state.calls += k;
    if (hits !== want) state.wrongBatches++;
    const total = t1 - t0;
    return { overriddenDuration: total / k, overriddenIterationCost: total };
  };
  const fn = impl.async
    ? async () => {
        let hits = 0;
        let i = state.index;
        const t0 = bench.now();
        for (let j = 0; j < k; j++) {
          if (accepted(await call(i))) hits++;
          i = (i + 1) & MASK;
        }
        return finish(t0, bench.now(), hits, i);
      }
    : () => {
        let hits = 0;
        let i = state.index;
        const t0 = bench.now();
        for (let j = 0; j < k; j++) {
          if (accepted(call(i))) hits++;
          i = (i + 1) & MASK;
        }
        return finish(t0, bench.now(), hits, i);
      };
  return { fn, state };
}

async function runOnce(def, impl, settings) {
  const bench = new Bench({
    name: def.id,
    time: settings.time,
    warmupTime: settings.warmupTime,
    iterations: settings.minSamples,
    warmupIterations: 8,
    throws: true,
    timestampProvider: 'hrtimeNow',
  });
  const { fn, state } = makeBatch(bench, impl, def.k);
  bench.add(def.id, fn, { async: impl.async === true });
  await bench.run();
  const task = bench.tasks[0];
  if (task.result.state !== 'completed') {
    throw new Error(`${def.id}: tinybench ended in state ${task.result.state}${task.result.error ? `: ${task.result.error.message}` : ''}`);
  }
  if (state.wrongBatches > 0) {
    throw new Error(`${def.id}: ${state.wrongBatches} batches returned a wrong result while being timed (expected every call to ${impl.expect ? 'accept' : 'reject'})`);
  }
  return { task, calls: state.calls };
}

/**
 * Sets the case up (which checks its correctness), then times it. Returns per-call statistics in
 * nanoseconds. A clock-bound case (one that reads Date.now) is timed wholly inside one TOTP step:
 * it waits for room in the step first and is run again if a step boundary passed anyway.
 */
export async function measure(def, settings) {
  const impl = await def.setup();
  let outcome;
  let restarts = 0;
  if (impl.clockBound) {
    const needMs = 3 * (settings.time + settings.warmupTime) + 500;
    for (;;) {
      await leaveRoomInStep(needMs);
      const step = Math.floor(Date.now() / PERIOD_MS);
      impl.prepare?.();
      outcome = await runOnce(def, impl, settings);
      if (Math.floor(Date.now() / PERIOD_MS) === step) break;
      if (++restarts === 3) throw new Error(`${def.id}: crossed a TOTP step boundary three times`);
    }
  } else {
    impl.prepare?.();
    outcome = await runOnce(def, impl, settings);
  }
  const latency = outcome.task.result.latency;
  const ns = (ms) => ms * 1e6;
  return {
    id: def.id,
    k: def.k,
    samples: latency.samplesCount,
    calls: outcome.calls,
    medianNs: ns(latency.p50),
    p99Ns: ns(latency.p99),
    meanNs: ns(latency.mean),
    minNs: ns(latency.min),
    rme: latency.rme,
    restarts,
  };
}
