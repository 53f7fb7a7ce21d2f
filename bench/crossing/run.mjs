#!/usr/bin/env node
// How a call reaches a key's native state, and what a key costs to make, for each design the
// addon could use (crossing.cc says what each is). Builds crossing.cc with npm's node-gyp in a
// scratch directory, then times each case in this process.
//
//   node bench/crossing/run.mjs [--trials N]
//
// Figures are per call, the median of N trials (default 30) of CPU time (process.cpuUsage): on a
// shared machine CPU time is far steadier than wall time, and for work that never sleeps the two
// agree on an idle one. The trivial per-call work is the same in every case, so differences are
// the crossing and the bookkeeping.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '30' } } });
const TRIALS = Number(values.trials);
const here = path.dirname(fileURLToPath(import.meta.url));

// npm's own node-gyp, with the Node headers npm uses (TOOLCHAIN: a newer node-gyp needs Node 22).
const npmRoot = path.join(path.dirname(path.dirname(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim())), 'lib/node_modules/npm');
const nodeGyp = process.env.npm_config_node_gyp ?? path.join(npmRoot, 'node_modules/node-gyp/bin/node-gyp.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'totp-crossing-'));
let addon;
try {
  cpSync(path.join(here, 'crossing.cc'), path.join(scratch, 'crossing.cc'));
  cpSync(path.join(here, 'binding.gyp'), path.join(scratch, 'binding.gyp'));
  const build = spawnSync(process.execPath, [nodeGyp, 'rebuild'], {
    cwd: scratch,
    encoding: 'utf8',
    env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? path.dirname(path.dirname(process.execPath)) },
  });
  if (build.status !== 0) {
    process.stderr.write(build.stdout + build.stderr);
    throw new Error('crossing.cc did not build');
  }
  addon = createRequire(import.meta.url)(path.join(scratch, 'build/Release/crossing.node'));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

function time(name, calls, run) {
  const n = Math.max(1, Math.round(calls / TRIALS));
  run(n);
  run(n);
  const trials = [];
  for (let t = 0; t < TRIALS; t++) {
    const before = process.cpuUsage();
    run(n);
    const used = process.cpuUsage(before);
    trials.push(((used.user + used.system) * 1000) / n);
  }
  trials.sort((a, b) => a - b);
  const median = trials[trials.length >> 1];
  const quartile = trials[trials.length >> 2];
  console.log(`${name.padEnd(80)} ${median.toFixed(1).padStart(9)} ns  (lower quartile ${quartile.toFixed(1)})`);
}

let sink = 0;
const handle = addon.handleCreate();
const other = addon.handleCreate();
const bound = addon.boundCreate();
const boundOther = addon.boundCreate();
const external = addon.externalCreate();
const { args } = addon;

console.log(`crossing: Node ${process.version}, ${TRIALS} trials of CPU time per case\n`);
console.log('A call: a key and three numbers in, a number out');
time('bound function per key, three number arguments (before version 3)', 3e6, (n) => {
  const find = bound.findCode;
  for (let i = 0; i < n; i++) sink += find(i, 5, 1);
});
time('  the same with two keys in use (the call site sees two functions)', 3e6, (n) => {
  for (let i = 0; i < n; i++) sink += (i & 1 ? bound : boundOther).findCode(i, 5, 1);
});
time('External per key with a type tag, key and three number arguments', 3e6, (n) => {
  for (let i = 0; i < n; i++) sink += addon.externalFind(external, i, 5, 1);
});
time('module function, handle and three number arguments', 3e6, (n) => {
  for (let i = 0; i < n; i++) sink += addon.handleFind(handle, i, 5, 1);
});
time('  the same with two keys in use', 3e6, (n) => {
  for (let i = 0; i < n; i++) sink += addon.handleFind(i & 1 ? handle : other, i, 5, 1);
});
time('module function, no argument, four numbers in a Float64Array (version 3)', 3e6, (n) => {
  for (let i = 0; i < n; i++) {
    args[0] = i & 1 ? handle : other;
    args[1] = i;
    args[2] = 5;
    args[3] = 1;
    sink += addon.handleFindShared();
  }
});

console.log('\nMaking a key (and dropping it: the garbage collector runs the finalizers)');
time('three bound functions with finalizers and an external buffer (before version 3)', 3e4, (n) => {
  for (let i = 0; i < n; i++) addon.boundCreate();
});
time('an External with a finalizer and a type tag', 2e5, (n) => {
  for (let i = 0; i < n; i++) addon.externalCreate();
});
time('a handle, made and destroyed (version 3)', 2e6, (n) => {
  for (let i = 0; i < n; i++) addon.handleDestroy(addon.handleCreate());
});
const registry = new FinalizationRegistry(() => {});
time('FinalizationRegistry#register, per key (version 3 registers per batch)', 3e5, (n) => {
  for (let i = 0; i < n; i++) registry.register({ i }, i);
});
if (sink === 0) console.log('(no work was done)');
