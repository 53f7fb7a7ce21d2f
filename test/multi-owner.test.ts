// Several owner processes on one key file (SPEC §3): one writer per rotation through the lock
// file, no valid code of the file's key ever refused, and all converge on one key. Also the lock
// itself: exclusion, stale-lock recovery.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type AuditEvent, TotpKey } from 'totp-handshake';
import { parseKeyFile } from '../dist/handshake/keyfile.js';
import { acquireLock, withLock } from '../dist/handshake/lock.js';
import { tempDir, waitFor } from './helpers/handshake-fs.js';

interface Report {
  type: 'report';
  keyId: string;
  counts: { checks: number; refused: number; superseded: number; unreadable: number };
  refusals: unknown[];
  events: AuditEvent[];
}

let dir: string;
let file: string;
let cleanup: () => void;
let children: ChildProcess[] = [];

beforeEach(() => {
  ({ dir, file, cleanup } = tempDir('otp-owners'));
  currentPeriod = 30;
});
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children = [];
  cleanup();
});

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => reject(new Error(`an owner process exited (${code}) before sending ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function startOwners(count: number, rotateEvery = 0, period = 30): Promise<ChildProcess[]> {
  const started = Array.from({ length: count }, () =>
    fork(path.join(__dirname, 'helpers/handshake-owner-process.mjs'), [file, String(rotateEvery), String(period)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  children.push(...started);
  await Promise.all(started.map((child) => nextMessage(child, 'ready')));
  return started;
}

const reports = (owners: ChildProcess[]) => Promise.all(owners.map((child) => (child.send('report'), nextMessage<Report>(child, 'report'))));
const fileKeyId = () => parseKeyFile(readFileSync(file, 'latin1'), file, { period: currentPeriod }).key.id;
let currentPeriod = 30;

/** Waits until every owner holds the file's key, then stops them and returns their last reports. */
async function converge(owners: ChildProcess[]): Promise<Report[]> {
  let last: Report[] = [];
  await waitFor(async () => {
    last = await reports(owners);
    return last.every((report) => report.keyId === fileKeyId());
  }, 'all owners to hold the key in the file', 30_000);
  await Promise.all(owners.map((child) => (child.send('stop'), nextMessage(child, 'stopped'))));
  return last;
}

function summarize(label: string, final: Report[]): void {
  const total = (name: keyof Report['counts']) => final.reduce((sum, report) => sum + report.counts[name], 0);
  console.info(`${label}: ${total('checks')} checks of the file's current code, ${total('refused')} refused, ${total('superseded')} for a key replaced mid-check`);
}

describe.each([2, 4])('%i owner processes on one key file', (count) => {
  it('rotating concurrently on demand: one write per rotate(), zero refused valid codes, one key in the end', async () => {
    const owners = await startOwners(count);
    const rounds = 10;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(owners.map((child) => (child.send('rotate'), nextMessage(child, 'rotated'))));
    }
    const final = await converge(owners);
    summarize(`${count} owners, ${rounds} rounds of concurrent rotate()`, final);
    const rotations = final.flatMap((report) => report.events.filter((event) => event.type === 'rotate'));
    // Exactly one of them wrote the first key at start; every rotate() wrote exactly one.
    expect(rotations).toHaveLength(1 + rounds * count);
    expect(new Set(rotations.map((event) => event.keyId)).size).toBe(rotations.length);
    expect(final.flatMap((report) => report.refusals)).toEqual([]);
    expect(final.every((report) => report.counts.checks > 0 && report.counts.unreadable === 0)).toBe(true);
    expect(final.flatMap((report) => report.events.filter((event) => event.type === 'error'))).toEqual([]);
    expect(readdirSync(dir)).toEqual(['otp.key']);
  }, 120_000);
});

it('4 owners with rotateEvery: one of them writes each scheduled rotation, none refuses a valid code', async () => {
  // rotateEvery may not be shorter than the TOTP period: one-second codes for a rotation a second.
  const every = 1_000;
  currentPeriod = 1;
  const owners = await startOwners(4, every, 1);
  const rotationsSoFar = async () => (await reports(owners)).flatMap((report) => report.events.filter((event) => event.type === 'rotate'));
  await waitFor(async () => (await rotationsSoFar()).length >= 4, 'three scheduled rotations', 60_000);
  const final = await converge(owners);
  summarize('4 owners, scheduled rotation', final);
  const times = final
    .flatMap((report) => report.events.filter((event) => event.type === 'rotate'))
    .map((event) => (event as AuditEvent & { mtimeMs: number }).mtimeMs)
    .sort((a, b) => a - b);
  // Owners that did not take turns would write within milliseconds of each other. The slack is
  // the kernel's coarse file timestamps, a few ms behind the clock the owners read.
  const gaps = times.slice(1).map((time, i) => time - (times[i] as number));
  expect(gaps.filter((gap) => gap < every - 50)).toEqual([]);
  expect(final.flatMap((report) => report.refusals)).toEqual([]);
}, 120_000);

describe('the rotation lock', () => {
  it('lets one holder in at a time', async () => {
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withLock(file, async () => {
          most = Math.max(most, ++inside);
          await new Promise((resolve) => setTimeout(resolve, 2));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes over a lock whose holder is dead on this host, at once', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: dead.pid, host: hostname(), time: Date.now(), token: 'x' }));
    const lock = await acquireLock(file, { staleMs: 60_000 });
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes over a lock older than staleMs (a holder elsewhere), waits for a fresh one', async () => {
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: 1, host: 'another-host', time: Date.now() - 5_000, token: 'x' }));
    await (await acquireLock(file, { staleMs: 1_000 })).release();
    const held = await acquireLock(file);
    let second = false;
    const waiting = acquireLock(file).then((lock) => ((second = true), lock));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(second).toBe(false);
    await held.release();
    await (await waiting).release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not remove a lock that was taken over from it', async () => {
    const lock = await acquireLock(file);
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), token: 'someone else' }));
    await lock.release();
    expect(readdirSync(dir)).toEqual(['otp.key.lock']);
  });
});
