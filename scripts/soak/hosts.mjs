// The multi-host soak: the keyring in etcd, under rotation and under failure, for N seconds.
//
//   npm run soak -- --hosts 3 --etcd [--seconds 120] [--owners 2] [--clients 2]
//
// A three-member etcd cluster on loopback (scripts/etcd/cluster.mjs, Debian's etcd unpacked by
// scripts/etcd/fetch.sh) holds the keyring. Each of --hosts simulated hosts has its own key
// directory, a mirror (scripts/soak/mirror.mjs: EtcdKeyMirror writing host-N/otp.key), --owners
// API processes (scripts/soak/etcd-api.mjs: EtcdKeyOwner behind otpCheck on node:http), --clients
// thin clients (scripts/soak/client.mjs: KeyReader on the host's key file and otpFetch, round-robin
// over every host's API processes) and a raw reader (scripts/soak/peek.mjs) parsing the host's
// key file in a tight loop. Host N's processes list etcd member N first. The elected owner rotates
// every 5 s, publishing each key 2 s ahead of its activation, with 2-second codes.
//
// The fault schedule, at these fractions of the run:
//   0.10  the etcd leader is SIGKILLed; 0.20 it is restarted on its data and rejoins
//   0.25  an etcd member (the leader at the time) is SIGSTOPped; 0.33 it is resumed (SIGCONT)
//   0.40  the rotating owner is SIGKILLed (clients are moved off it first: a killed process
//         answers nothing, which is no refusal); 0.45 a new API process takes its place
//   0.55  a minority partition: two members are SIGSTOPped, so every owner and mirror is left
//         with one member and no quorum; 0.67 both are resumed
//   0.75  etcd's history is compacted to the current revision
// Each fault is printed when it happens, with what the owners reported (their `error` events are
// expected during faults and counted by kind, never a failure in themselves, except a malformed
// keyring).
//
// Last line: soak: <n> requests, <k> rejected, <r> rotations, <p> partial reads. Exit 1 if
// anything was rejected (a final answer other than 200 after otpFetch's one retry, or a failed
// request) or read partially, if nothing was requested or fewer than two rotations happened, or
// if a process crashed.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { findEtcd, startCluster } from '../etcd/cluster.mjs';
import { wholeOption, workers } from './children.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKERS = path.join(ROOT, 'scripts/soak');
const ROTATE_EVERY_MS = 5000;
const ACTIVATION_DELAY_MS = 2000;
const PERIOD_S = 2;
const PROGRESS_EVERY_MS = 10_000;
const CHILD_TIMEOUT_MS = 30_000;
const DRAIN_MS = 300;

const OPTIONS = {
  hosts: { type: 'string', default: '3' },
  etcd: { type: 'boolean', default: false },
  seconds: { type: 'string', default: '120' },
  owners: { type: 'string', default: '2' },
  clients: { type: 'string', default: '2' },
};
let values;
try {
  ({ values } = parseArgs({ options: OPTIONS }));
} catch (error) {
  console.error(`soak: ${error.message} (options: --hosts N --etcd --seconds N --owners N --clients N)`);
  process.exit(2);
}
const count = (name, min) => wholeOption(values, name, min);
if (!values.etcd) {
  console.error('soak: --hosts needs --etcd: the hosts share their keyring through etcd');
  process.exit(2);
}
if (findEtcd() === undefined) {
  console.error('soak: no etcd binary: run `bash scripts/etcd/fetch.sh` (or set ETCD_BIN)');
  process.exit(2);
}
const hostCount = count('hosts', 1);
const seconds = count('seconds', 10);
const ownersPerHost = count('owners', 1);
const clientsPerHost = count('clients', 1);

const dir = mkdtempSync(path.join(tmpdir(), 'totp-soak-hosts-'));
const pool = workers(fork, { dir: WORKERS, cwd: ROOT, timeoutMs: CHILD_TIMEOUT_MS });
const { children, failures: crashes, crash, fail, start, next, stopAll } = pool;
const rotations = new Set();
const clientCounts = new Map();
const refusedByOwner = new Map();
const peekCounts = new Map();
const errorKinds = {};
let cluster;
let cleanedUp = false;

/** An `error` event's kind, for the counts: its message without the figures and addresses. */
function kind(message = '') {
  return message.replace(/\(.*?\)/g, '(…)').replace(/\d+/g, 'N').slice(0, 90);
}

function countError(message) {
  const k = kind(message.message);
  errorKinds[k] = (errorKinds[k] ?? 0) + 1;
  if (message.reason === 'malformed') fail(`a keyring was reported malformed: ${message.message}`);
}

function totals() {
  const sum = { requests: 0, rejected: 0, retried: 0, statuses: {} };
  for (const counts of clientCounts.values()) {
    for (const name of ['requests', 'rejected', 'retried']) sum[name] += counts[name];
    for (const [status, n] of Object.entries(counts.statuses)) sum.statuses[status] = (sum.statuses[status] ?? 0) + n;
  }
  return sum;
}

function partialReads() {
  let reads = 0;
  let partial = 0;
  const why = {};
  for (const counts of peekCounts.values()) {
    reads += counts.reads;
    partial += counts.partial;
    for (const [reason, n] of Object.entries(counts.why)) why[reason] = (why[reason] ?? 0) + n;
  }
  return { reads, partial, why };
}

async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  pool.killAll();
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    console.error(`soak: ${signal}, stopping`);
    await cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

async function run() {
  cluster = await startCluster();
  const { endpoints } = cluster;
  const preferring = (h) => [...endpoints.slice(h % endpoints.length), ...endpoints.slice(0, h % endpoints.length)];
  const common = { name: 'soak', checkEvery: 500, requestTimeout: 1000 };
  const ownerOptions = (h, i) => ({
    ...common,
    endpoints: preferring(h),
    member: `host${h}-api${i}`,
    rotateEvery: ROTATE_EVERY_MS,
    activationDelay: ACTIVATION_DELAY_MS,
    leaseTtl: 3000,
    totp: { period: PERIOD_S },
  });
  const owners = [];
  let spawned = 0;
  const startOwner = async (h) => {
    const i = spawned++;
    const child = start('etcd-api.mjs', [JSON.stringify(ownerOptions(h, i))], `host ${h} API process ${i}`, (message) => {
      if (message.type === 'rotate') rotations.add(message.keyId);
      if (message.type === 'refused' || message.type === 'stopped') refusedByOwner.set(i, message.refused);
      if (message.type === 'owner-error') countError(message);
    });
    child.port = (await next(child, 'ready')).port;
    child.host = h;
    owners.push(child);
    return child;
  };
  // The first owner creates the keyring; the others, and the mirrors, find it.
  for (let h = 0; h < hostCount; h++) for (let i = 0; i < ownersPerHost; i++) await startOwner(h);
  const hosts = [];
  for (let h = 0; h < hostCount; h++) {
    const hostDir = path.join(dir, `host-${h}`);
    mkdirSync(hostDir);
    const keyFile = path.join(hostDir, 'otp.key');
    const mirror = start('mirror.mjs', [JSON.stringify({ ...common, endpoints: preferring(h), path: keyFile })], `host ${h} mirror`, (message) => {
      if (message.type === 'mirror-error') countError(message);
    });
    await next(mirror, 'ready');
    const peek = start('peek.mjs', [keyFile], `host ${h} raw reader`, (message) => message.counts && peekCounts.set(h, message.counts));
    await next(peek, 'ready');
    hosts.push({ keyFile, mirror, peek });
  }
  const livePorts = () => owners.filter((child) => children.has(child) && !child.draining).map((child) => child.port);
  const clients = [];
  for (let h = 0; h < hostCount; h++) {
    for (let c = 0; c < clientsPerHost; c++) {
      // A whole number: client.mjs starts its round-robin at it.
      const id = String(h * clientsPerHost + c);
      const client = start('client.mjs', [hosts[h].keyFile, id, livePorts().join(','), 'yes'], `host ${h} client ${c}`, (message) => message.counts && clientCounts.set(id, message.counts));
      clients.push(client);
    }
  }
  await Promise.all(clients.map((child) => next(child, 'ready')));
  const tellClients = () => {
    for (const client of clients) if (children.has(client)) client.send({ type: 'ports', ports: livePorts() });
  };

  const startedAt = Date.now();
  const elapsed = () => ((Date.now() - startedAt) / 1000).toFixed(1);
  const say = (what) => console.log(`soak: ${elapsed()} s: ${what}`);
  console.log(
    `soak: ${hostCount} hosts, each with a mirror, ${ownersPerHost} API processes and ${clientsPerHost} clients; etcd: 3 members; ` +
      `${seconds} s, rotating every ${ROTATE_EVERY_MS} ms, keys published ${ACTIVATION_DELAY_MS} ms ahead`,
  );
  const rotator = async () => {
    const live = owners.filter((child) => children.has(child) && !child.draining);
    const statuses = await Promise.all(live.map((child) => (child.send('status'), next(child, 'status'))));
    return live[statuses.findIndex((status) => status.isRotator)];
  };
  let stoppedMembers = [];
  let killedMember;
  const faults = [
    [0.1, 'the etcd leader is SIGKILLed', async () => {
      killedMember = await cluster.leader();
      await killedMember.kill();
      return killedMember.name;
    }],
    [0.2, 'the killed etcd member restarts on its data', async () => {
      killedMember.start('existing');
      await cluster.healthy();
      return killedMember.name;
    }],
    [0.25, 'an etcd member (the leader) is SIGSTOPped', async () => {
      const member = await cluster.leader();
      member.stop();
      stoppedMembers = [member];
      return member.name;
    }],
    [0.33, 'the stopped member resumes (SIGCONT)', async () => {
      for (const member of stoppedMembers) member.cont();
      stoppedMembers = [];
      await cluster.healthy();
    }],
    [0.4, 'the rotating owner is SIGKILLed', async () => {
      const victim = await rotator();
      if (victim === undefined) return 'no rotator found';
      victim.draining = true;
      tellClients();
      await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
      victim.killedOnPurpose = true;
      victim.kill('SIGKILL');
      return victim.name;
    }],
    [0.45, 'a new API process replaces it', async () => {
      const replacement = await startOwner(0);
      tellClients();
      return replacement.name;
    }],
    [0.55, 'a minority partition: two etcd members SIGSTOPped', async () => {
      const leader = await cluster.leader();
      stoppedMembers = cluster.members.filter((member) => member !== leader).slice(0, 2);
      if (stoppedMembers.length < 2) stoppedMembers = cluster.members.slice(0, 2);
      for (const member of stoppedMembers) member.stop();
      return stoppedMembers.map((member) => member.name).join(', ');
    }],
    [0.67, 'the partition heals (SIGCONT)', async () => {
      for (const member of stoppedMembers) member.cont();
      stoppedMembers = [];
      await cluster.healthy();
    }],
    [0.75, 'etcd history compacted', async () => `to revision ${await cluster.compact()}`],
  ];
  const faultRun = (async () => {
    for (const [at, what, act] of faults) {
      const wait = startedAt + at * seconds * 1000 - Date.now();
      if (wait > 0) await Promise.race([new Promise((resolve) => setTimeout(resolve, wait)), crash]);
      if (crashes.length > 0 || cleanedUp) return;
      const detail = await act();
      say(`${what}${detail ? ` (${detail})` : ''}; rotations so far ${rotations.size}, rejected so far ${totals().rejected}`);
    }
  })().catch((error) => fail(`a fault could not be staged: ${error.message}`));
  const progressTimer = setInterval(() => {
    const t = totals();
    say(`${t.requests} requests, ${t.rejected} rejected (${t.retried} retried), ${rotations.size} rotations, ${partialReads().partial} partial reads`);
  }, PROGRESS_EVERY_MS);
  await Promise.race([new Promise((resolve) => setTimeout(resolve, seconds * 1000)), crash]);
  clearInterval(progressTimer);
  await faultRun;
  for (const member of stoppedMembers) member.cont();
  await stopAll(clients).catch((error) => {
    for (const [id, counts] of clientCounts) console.error(`soak: client ${id}: ${counts.requests} requests, last to ${counts.inFlight}`);
    console.error(`soak: API ports: ${owners.map((child) => `${child.port}${children.has(child) ? '' : ' (gone)'}`).join(', ')}`);
    throw error;
  });
  await stopAll(owners);
  await stopAll(hosts.flatMap(({ mirror, peek }) => [mirror, peek]));
  return (Date.now() - startedAt) / 1000;
}

let ran = 0;
try {
  ran = await run();
} catch (error) {
  fail(error.message);
}
const t = totals();
const { reads, partial, why } = partialReads();
const refused = {};
for (const byReason of refusedByOwner.values()) for (const [reason, n] of Object.entries(byReason ?? {})) refused[reason] = (refused[reason] ?? 0) + n;
console.log(`soak: ran ${ran.toFixed(1)} s; answers ${JSON.stringify(t.statuses)}; ${t.retried} retried after a 401`);
console.log(`soak: guards refused ${JSON.stringify(refused)} before retries; the raw readers made ${reads} reads`);
console.log(`soak: error events by kind (expected during faults): ${JSON.stringify(errorKinds)}`);
if (partial > 0) console.log(`soak: partial reads ${JSON.stringify(why)}`);
const problems = [...crashes];
if (t.requests === 0) problems.push('no request was made');
if (rotations.size < 2) problems.push('fewer than two keys were rotated');
if (t.rejected > 0) problems.push(`${t.rejected} valid requests were rejected`);
if (partial > 0) problems.push(`${partial} reads found no whole key`);
for (const problem of problems) console.error(`soak: FAILED: ${problem}`);
console.log(`soak: ${t.requests} requests, ${t.rejected} rejected, ${rotations.size} rotations, ${partial} partial reads`);
await cleanup();
process.exit(problems.length === 0 ? 0 : 1);
