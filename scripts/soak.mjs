// The soak: the handshake as deployed, under rotation, for N seconds.
//
//   npm run soak -- --seconds N [--owners 4] [--clients 8]
//   npm run soak -- --seconds 20 --grace 0 --no-retry      (the control: must FAIL, see below)
//   npm run soak -- --hosts 3 --etcd [--seconds 120]        (across hosts: scripts/soak/hosts.mjs)
//
// In a fresh temp directory, the CLI writes a first key; then --owners API processes
// (scripts/soak/api.mjs: a KeyOwner with rotateEvery 2000 behind otpCheck on a node:http server on
// 127.0.0.1) share that key file, with 2-second codes (a key may not be rotated more often than
// its codes change, so the soak's fast rotations need a short period), --clients thin-client processes (scripts/soak/client.mjs: a
// KeyReader and otpFetch, one request at a time, round-robin over the API ports) call them, one
// raw reader (scripts/soak/peek.mjs) reads and parses the file in a tight loop, and this process
// runs `node dist/cli.js rotate` on the same file every 3 s. So keys change about every 1.5 s,
// written by whichever owner wins the lock or by the CLI.
//
// It counts requests; rejected requests (a final answer other than 200 after otpFetch's one retry,
// or a failed request); rotations (the distinct key ids the owners report in their `rotate`
// events plus those the CLI prints: keys actually written, not a figure derived from the time);
// partial reads (any raw read that is not one whole valid key, a missing file included, which
// atomic rename rules out). It prints a progress line every 5 s and, last,
//   soak: <n> requests, <k> rejected, <r> rotations, <p> partial reads
// and exits 1 if k > 0, p > 0, n = 0, r = 0, or a child process crashed (an owner's `error`
// event and a failed CLI rotation count as crashes). Children are killed and the temp directory
// removed on success, failure, SIGINT and SIGTERM. Nothing printed holds a secret or a code.
//
// Choices the counts depend on. Grace: the owners keep the library's default (two periods, 4 s
// here), against a reader lag of tens of ms (the readers watch the directory) and a retry that
// re-reads the file after a 401. Throttle: all clients come from 127.0.0.1, so the guards key
// their per-client count by a per-client header instead of the address (see api.mjs); the
// defaults stand (20 failures per client, 20 per listener, per 2 s step), and any 429 would be a
// rejection.
// The control, --grace 0 --no-retry: owners forget a replaced key at once and clients send
// reader.headers() with plain fetch, so a client that has not yet seen a rotation is refused;
// the run must then report rejections and exit 1, which shows the counter is live.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { wholeOption, workers } from './soak/children.mjs';

// --hosts N --etcd: the multi-host soak (scripts/soak/hosts.mjs), which parses its own options,
// runs and exits; what follows here is the single-host soak.
if (process.argv.slice(2).includes('--hosts')) {
  await import('./soak/hosts.mjs');
  await new Promise(() => {});
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKERS = path.join(ROOT, 'scripts/soak');
const CLI = path.join(ROOT, 'dist/cli.js');
const ROTATE_EVERY_MS = 2000;
// Seconds: no longer than the rotation interval.
const PERIOD_S = 2;
const CLI_EVERY_MS = 3000;
const PROGRESS_EVERY_MS = 5000;
// A child that takes longer than this to start or to stop is taken for hung.
const CHILD_TIMEOUT_MS = 20_000;

const OPTIONS = {
  seconds: { type: 'string', default: '20' },
  owners: { type: 'string', default: '4' },
  clients: { type: 'string', default: '8' },
  grace: { type: 'string' },
  'no-retry': { type: 'boolean', default: false },
};
let values;
try {
  ({ values } = parseArgs({ options: OPTIONS }));
} catch (error) {
  console.error(`soak: ${error.message} (options: --seconds N --owners N --clients N --grace MS --no-retry)`);
  process.exit(2);
}
const count = (name, min) => wholeOption(values, name, min);
const seconds = count('seconds', 1);
const ownerCount = count('owners', 1);
const clientCount = count('clients', 1);
const grace = values.grace === undefined ? '' : String(count('grace', 0));

const dir = mkdtempSync(path.join(tmpdir(), 'totp-soak-'));
const keyFile = path.join(dir, 'otp.key');
const pool = workers(fork, { dir: WORKERS, cwd: ROOT, timeoutMs: CHILD_TIMEOUT_MS });
const { children, failures: crashes, crash, fail, start, next, stopAll } = pool;
const rotations = { ids: new Set(), byCli: 0 };
const clientCounts = new Map();
const refusedByOwner = new Map();
let peekCounts = { reads: 0, partial: 0, keys: 0, why: {} };
let cleanedUp = false;

/** Runs `dist/cli.js rotate` on the key file; resolves to the new key's id (what the CLI prints). */
function cliRotate(extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'rotate', '--key', keyFile, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    // 'close', not 'exit': the output is complete only once the pipes have closed.
    child.on('close', (code) => {
      children.delete(child);
      const keyId = /new key (\S+)\s*$/.exec(out)?.[1];
      // The CLI's messages never hold a secret or a code (SPEC §3, §5): its stderr can be shown as it is.
      if (code === 0 && keyId !== undefined) resolve(keyId);
      else reject(new Error(`the CLI rotation exited ${code}: ${err.trim().split('\n')[0] ?? ''}`));
    });
  });
}

function totals() {
  const sum = { requests: 0, rejected: 0, retried: 0, keys: 0, statuses: {} };
  for (const counts of clientCounts.values()) {
    for (const name of ['requests', 'rejected', 'retried', 'keys']) sum[name] += counts[name];
    for (const [status, n] of Object.entries(counts.statuses)) sum.statuses[status] = (sum.statuses[status] ?? 0) + n;
  }
  return sum;
}

function progress(startedAt) {
  const t = totals();
  const elapsed = ((Date.now() - startedAt) / 1000).toFixed(0);
  console.log(
    `soak: ${elapsed} s: ${t.requests} requests, ${t.rejected} rejected (${t.retried} retried), ` +
      `${rotations.ids.size} rotations (${rotations.byCli} by the CLI), ${peekCounts.reads} key reads (${peekCounts.partial} partial)`,
  );
}

/** Kills whatever still runs and removes the temp directory; safe to call more than once. */
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  pool.killAll();
  rmSync(dir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`soak: ${signal}, stopping`);
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}
process.once('exit', cleanup);

async function run() {
  // The first key comes from the CLI, with the owners' period (an otpauth URI): it is not a
  // rotation, and every owner adopts it. Later CLI rotations keep its parameters.
  await cliRotate(['--period', String(PERIOD_S)]);
  const owners = Array.from({ length: ownerCount }, (_, i) =>
    start('api.mjs', [keyFile, String(ROTATE_EVERY_MS), grace, String(PERIOD_S)], `API process ${i}`, (message) => {
      if (message.type === 'rotate') rotations.ids.add(message.keyId);
      if (message.type === 'refused' || message.type === 'stopped') refusedByOwner.set(i, message.refused);
      if (message.type === 'owner-error') fail(`API process ${i} reported a key file error (${message.reason})`);
    }),
  );
  const ports = (await Promise.all(owners.map((child) => next(child, 'ready')))).map((message) => message.port);
  const peek = start('peek.mjs', [keyFile], 'the raw reader', (message) => message.counts && (peekCounts = message.counts));
  await next(peek, 'ready');
  const retry = values['no-retry'] ? 'no' : 'yes';
  const clients = Array.from({ length: clientCount }, (_, i) =>
    start('client.mjs', [keyFile, String(i), ports.join(','), retry], `client ${i}`, (message) => message.counts && clientCounts.set(i, message.counts)),
  );
  await Promise.all(clients.map((child) => next(child, 'ready')));

  const startedAt = Date.now();
  console.log(`soak: ${ownerCount} API processes, ${clientCount} clients, ${seconds} s, rotating every ${ROTATE_EVERY_MS} ms (owners) and ${CLI_EVERY_MS} ms (CLI)`);
  let cliRun = Promise.resolve();
  let cliBusy = false;
  const cliTimer = setInterval(() => {
    if (cliBusy) return; // a slow CLI start on a busy machine: skip a beat rather than pile up
    cliBusy = true;
    cliRun = cliRotate()
      .then((keyId) => (rotations.ids.add(keyId), rotations.byCli++))
      .catch((error) => fail(error.message))
      .finally(() => (cliBusy = false));
  }, CLI_EVERY_MS);
  const progressTimer = setInterval(() => progress(startedAt), PROGRESS_EVERY_MS);
  await Promise.race([new Promise((resolve) => setTimeout(resolve, seconds * 1000)), crash]);

  clearInterval(cliTimer);
  clearInterval(progressTimer);
  await cliRun;
  // Clients first, so that no request meets a server that is shutting down.
  await stopAll(clients);
  await stopAll(owners);
  await stopAll([peek]);
  return (Date.now() - startedAt) / 1000;
}

let elapsed = 0;
try {
  elapsed = await run();
} catch (error) {
  fail(error.message);
}
const t = totals();
const refused = {};
for (const byReason of refusedByOwner.values()) for (const [reason, n] of Object.entries(byReason)) refused[reason] = (refused[reason] ?? 0) + n;
console.log(`soak: ran ${elapsed.toFixed(1)} s; answers ${JSON.stringify(t.statuses)}; ${t.retried} retried after a 401`);
console.log(`soak: guards refused ${JSON.stringify(refused)} before retries; readers loaded ${t.keys} keys; the raw reader saw ${peekCounts.keys} keys`);
if (peekCounts.partial > 0) console.log(`soak: partial reads ${JSON.stringify(peekCounts.why)}`);
const problems = [...crashes];
if (t.requests === 0) problems.push('no request was made');
if (rotations.ids.size === 0) problems.push('no key was rotated');
if (t.rejected > 0) problems.push(`${t.rejected} valid requests were rejected`);
if (peekCounts.partial > 0) problems.push(`${peekCounts.partial} reads found no whole key`);
for (const problem of problems) console.error(`soak: FAILED: ${problem}`);
console.log(`soak: ${t.requests} requests, ${t.rejected} rejected, ${rotations.ids.size} rotations, ${peekCounts.partial} partial reads`);
cleanup();
process.exit(problems.length === 0 ? 0 : 1);
