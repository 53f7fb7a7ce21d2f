// Faults the handshake lives through (SPEC §3), each made real: a key file with too wide a mode,
// a key file deleted between the watcher noticing it and the read, the wall clock jumping
// forwards and backwards under TotpKey's step cache and KeyOwner's grace and rotation schedule,
// an owner process killed with SIGKILL in the middle of a rotation, and a full disk under a
// KeyOwner.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, chownSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { acquireLock } from '../dist/handshake/lock.js';
import { engineCases, keyOn } from './helpers/engines.js';
import { Events, expectNoSecrets, replaceFile, root, secretsOf, tempDir, tryMount, unmount, waitFor } from './helpers/handshake-fs.js';

const fsp = createRequire(__filename)('node:fs/promises') as typeof import('node:fs/promises');
const realOpen = fsp.open;
const realRename = fsp.rename;
const realRm = fsp.rm;

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // "12345678901234567890", the RFC 6238 SHA-1 key
const SECRET_BYTES = Buffer.from('12345678901234567890');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const PERIOD_MS = 30_000;

let dir: string;
let file: string;
let cleanup: () => void;
let events: Events;
const closers: (() => unknown)[] = [];

async function startOwner(options: Partial<Parameters<typeof KeyOwner.start>[0]> = {}): Promise<KeyOwner> {
  const owner = await KeyOwner.start({ path: file, onEvent: events.listener, ...options });
  closers.push(() => owner.close());
  return owner;
}

async function openReader(options: Partial<Parameters<typeof KeyReader.open>[0]> = {}): Promise<KeyReader> {
  const reader = await KeyReader.open({ path: file, onEvent: events.listener, ...options });
  closers.push(() => reader.close());
  return reader;
}

/** The key the file holds now (a fresh instance: its step cache is its own). */
function fileKey(target = file): TotpKey {
  const text = readFileSync(target, 'latin1').trim();
  const key = text.startsWith('otpauth:') ? TotpKey.fromUri(text) : TotpKey.fromBase32(text);
  closers.push(() => key.destroy());
  return key;
}

const modeOf = (target: string) => statSync(target).mode & 0o777;

beforeEach(() => {
  ({ dir, file, cleanup } = tempDir('otp-faults'));
  events = new Events();
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const close of closers.splice(0)) await close();
  cleanup();
});

// ---- mode ---------------------------------------------------------------------------------------

// SPEC §3 fixes the mode of the files the package writes (fileMode, default 0o600, applied before
// the secret is written); it says nothing about a file it finds. The design: readers read
// whatever they may read (a group-readable file may be meant for them), owners adopt a valid key
// whatever its mode, so that the service keeps running, but report each version of the file that
// is wider than their fileMode, and the next file an owner writes has the owner's mode.
describe('a key file with too wide a mode', () => {
  it.each([
    ['0644', 0o644],
    ['0666', 0o666],
  ])('KeyReader reads a %s file like any other: no error, the key in use', async (_, mode) => {
    writeFileSync(file, `${SECRET}\n`);
    chmodSync(file, mode);
    const reader = await openReader();
    expect(reader.code(59_000)).toBe('287082');
    expect(events.all.map((event) => event.type)).toEqual(['load']);
    expect(modeOf(file)).toBe(mode);
  });

  it.each([
    // Readable by more users than fileMode says, but writable by none: used. A file others can
    // write is not trusted at all (see 'a key file another user could have put there').
    ['0644', 'the default 0600', 0o644, undefined, 0o600, 'mode 0644, wider than fileMode 0600'],
    ['0604', 'the default 0600', 0o604, undefined, 0o600, 'mode 0604, wider than fileMode 0600'],
    ['0644', 'fileMode 0640', 0o644, 0o640, 0o640, 'mode 0644, wider than fileMode 0640'],
  ])('KeyOwner adopts a %s file as it is, reporting it, and its next rotation writes %s', async (_mode, _written, mode, fileMode, written, message) => {
    writeFileSync(file, `${SECRET}\n`);
    chmodSync(file, mode);
    const before = statSync(file);
    const owner = await startOwner(fileMode === undefined ? {} : { fileMode });
    expect(owner.verify('287082', { timeMs: 59_000 })).toBe(true);
    expect(events.all.map((event) => event.type)).toEqual(['load', 'error']);
    expect(events.all[1]).toMatchObject({ keyId: owner.keyId });
    expect(events.all[1]?.message).toContain(message);
    expect(statSync(file)).toMatchObject({ ino: before.ino, mode: before.mode });

    events.mark();
    await owner.rotate();
    expect(modeOf(file)).toBe(written);
    expect(fileKey().id).toBe(owner.keyId);
    expect(readdirSync(dir)).toEqual(['otp.key']);
    expect(events.since().map((event) => event.type)).toEqual(['rotate']);
  });

  it('KeyOwner with fileMode 0640 adopts a 0640 or 0600 file without a report', async () => {
    for (const mode of [0o640, 0o600]) {
      writeFileSync(file, `${SECRET}\n`);
      chmodSync(file, mode);
      const owner = await startOwner({ fileMode: 0o640 });
      expect(owner.verify('287082', { timeMs: 59_000 })).toBe(true);
      await owner.close();
    }
    expect(events.all.filter((event) => event.type === 'error')).toEqual([]);
  });

  it('a mode widened under a running owner is reported when the owner sees the new version, and repaired by its next rotation', async () => {
    const owner = await startOwner();
    const key = fileKey();
    events.mark();
    chmodSync(file, 0o644);
    // A wrong code makes the owner look at the file at once (a chmod makes a new version of it).
    expect(owner.check(key.generate(Date.now() + 5 * PERIOD_MS))).toMatchObject({ ok: false, reason: 'invalid' });
    const report = await events.next('error');
    expect(report).toMatchObject({ keyId: key.id });
    expect(report.message).toContain('mode 0644, wider than fileMode 0600');
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id });
    expect(modeOf(file)).toBe(0o644);
    await owner.rotate();
    expect(modeOf(file)).toBe(0o600);
  });
});

// ---- a file gone between the watch event and the read -------------------------------------------

/**
 * Makes the next open of the key file find it gone: the file is deleted after the stat that found
 * the new version and before the open that would read it. Resolves once that open has failed.
 */
function deleteBeforeNextOpen(): { done: Promise<void> } {
  let settle: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  let armed = true;
  vi.spyOn(fsp, 'open').mockImplementation((async (...args: Parameters<typeof fsp.open>) => {
    if (!armed || String(args[0]) !== file) return realOpen(...args);
    armed = false;
    rmSync(file, { force: true });
    try {
      return await realOpen(...args);
    } finally {
      setImmediate(settle);
    }
  }) as typeof fsp.open);
  return { done };
}

describe('the key file deleted between the watch event and the read', () => {
  it('KeyReader keeps its last good key, says the file is missing, and takes the next good file', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const reader = await openReader();
    const old = reader.keyId;
    events.mark();
    const race = deleteBeforeNextOpen();
    replaceFile(file, `${TotpKey.random().toBase32()}\n`);
    await race.done;

    expect(await events.next('error')).toMatchObject({ reason: 'missing', keyId: old, message: `there is no key file at ${file}` });
    expect(events.since('load')).toEqual([]);
    expect(reader.keyId).toBe(old);
    expect(reader.code(59_000)).toBe('287082');

    const next = TotpKey.random();
    closers.push(() => next.destroy());
    replaceFile(file, `${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    expect(reader.code()).toBe(next.generate());
    expect(events.since('error')).toHaveLength(1);
  });

  it('KeyOwner keeps serving its key without an event (a missing file is not an error for an owner) and takes the next good file', async () => {
    const owner = await startOwner();
    const key = fileKey();
    const vanished = TotpKey.random();
    closers.push(() => vanished.destroy());
    events.mark();
    const race = deleteBeforeNextOpen();
    replaceFile(file, `${vanished.toBase32()}\n`);
    await race.done;

    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id });
    // A key that was in the file for an instant and never read is not one the owner knows.
    expect(owner.check(vanished.generate())).toMatchObject({ ok: false, reason: 'invalid' });
    expect(events.since()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);

    const next = TotpKey.random();
    closers.push(() => next.destroy());
    replaceFile(file, `${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    expect(owner.check(next.generate())).toMatchObject({ ok: true, keyId: next.id });
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id }); // within grace
  });
});

// ---- clock jumps --------------------------------------------------------------------------------

function hotp(counter: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = createHmac('sha1', SECRET_BYTES).update(message).digest();
  const offset = (digest[digest.length - 1] as number) & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const counterAt = (timeMs: number) => Math.floor(timeMs / PERIOD_MS);

/** RFC 6238 with the package's slot order (0, -1, +1, -2, +2, ...): the offset that matches first, or null. */
function modelCheck(code: string, timeMs: number, window: number): number | null {
  const counter = counterAt(timeMs);
  for (let distance = 0; distance <= window; distance++) {
    for (const delta of distance === 0 ? [0] : [-distance, distance]) {
      if (counter + delta >= 0 && hotp(counter + delta) === code) return delta;
    }
  }
  return null;
}

/** The middle of a step, so that small moves of the clock stay in it. */
const T = 1_700_000_010_000 + 12_345;

describe.each(engineCases)('TotpKey.verify with the clock jumping ($name engine, fake Date)', ({ engine, setUp, tearDown }) => {
  beforeAll(() => setUp?.());
  afterAll(() => tearDown?.());
  beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'] }));

  it('after a backward jump, refuses the later step\'s code it just accepted and accepts the earlier step\'s again', () => {
    const key = keyOn(engine, SECRET_BYTES);
    closers.push(() => key.destroy());
    const [earlier, later] = [hotp(counterAt(T)), hotp(counterAt(T + HOUR))];
    vi.setSystemTime(T);
    expect(key.check(earlier)).toBe(0);
    vi.setSystemTime(T + HOUR);
    expect(key.check(later)).toBe(0);
    expect(key.verify(earlier)).toBe(false);
    // Back by an hour: the cache holds the later step's codes, the clock says the earlier step.
    vi.setSystemTime(T);
    expect(key.verify(later)).toBe(false);
    expect(key.check(earlier)).toBe(0);
    // Back by one more step: the code of the step just used is now one step ahead.
    vi.setSystemTime(T - PERIOD_MS);
    expect(key.check(earlier)).toBe(1);
    expect(key.check(earlier, { window: 0 })).toBeNull();
  });

  it('after a forward jump, refuses the codes of the step it cached and accepts the new step\'s', () => {
    const key = keyOn(engine, SECRET_BYTES);
    closers.push(() => key.destroy());
    vi.setSystemTime(T);
    const before = hotp(counterAt(T));
    expect(key.check(before)).toBe(0);
    expect(key.check(hotp(counterAt(T) + 1))).toBe(1);
    vi.setSystemTime(T + HOUR);
    expect(key.verify(before)).toBe(false);
    expect(key.verify(hotp(counterAt(T) + 1))).toBe(false);
    expect(key.check(hotp(counterAt(T + HOUR)))).toBe(0);
    // One step forward: the code just accepted is now one step old.
    vi.setSystemTime(T + HOUR + PERIOD_MS);
    expect(key.check(hotp(counterAt(T + HOUR)))).toBe(-1);
  });

  it('answers, along any sequence of jumps back and forth, exactly what a cold RFC 6238 computation at that time answers', () => {
    const jump = fc.oneof(fc.integer({ min: -4 * PERIOD_MS, max: 4 * PERIOD_MS }), fc.integer({ min: -2 * 86_400_000, max: 2 * 86_400_000 }), fc.constant(0));
    const attempt = fc.record({ jump, offset: fc.integer({ min: -3, max: 3 }), window: fc.integer({ min: 0, max: 3 }), wrong: fc.boolean() });
    fc.assert(
      fc.property(fc.array(attempt, { minLength: 1, maxLength: 20 }), (attempts) => {
        const key = keyOn(engine, SECRET_BYTES);
        let now = T;
        for (const { jump: by, offset, window, wrong } of attempts) {
          now += by;
          vi.setSystemTime(now);
          const code = wrong ? String((Number(hotp(counterAt(now) + offset)) + 1) % 1_000_000).padStart(6, '0') : hotp(counterAt(now) + offset);
          expect(key.check(code, { window })).toBe(modelCheck(code, now, window));
          expect(key.verify(code)).toBe(modelCheck(code, now, 1) !== null);
        }
        key.destroy();
      }),
      { numRuns: 200 },
    );
  });
});

describe('KeyOwner with the clock jumping (fake timers)', () => {
  // Node's timers count elapsed time; vi.setSystemTime moves the clock (Date) and leaves every
  // pending timer its remaining delay, as a real jump of the wall clock does.
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] }));

  describe('grace: a replaced key is accepted while the clock is before rotation time + grace', () => {
    it('a 1-hour forward jump ends it at once, before the expiry timer; the timer then drops the key for good', async () => {
      const owner = await startOwner({ grace: MINUTE });
      const old = fileKey();
      await owner.rotate();
      const rotatedAt = Date.now();
      const current = fileKey();
      expect(owner.check(old.generate())).toMatchObject({ ok: true, keyId: old.id });

      vi.setSystemTime(rotatedAt + HOUR);
      expect(owner.check(old.generate())).toMatchObject({ ok: false, reason: 'invalid' });
      expect(owner.check(current.generate())).toMatchObject({ ok: true, keyId: current.id });
      // Back within grace by the clock: the replaced key is still held, so it is accepted again...
      vi.setSystemTime(rotatedAt + 1_000);
      expect(owner.check(old.generate())).toMatchObject({ ok: true, keyId: old.id });
      // ...until the expiry timer has fired after a minute of elapsed time past the end of grace.
      vi.setSystemTime(rotatedAt + HOUR);
      await vi.advanceTimersByTimeAsync(MINUTE + 1_000);
      vi.setSystemTime(rotatedAt + 1_000);
      expect(owner.check(old.generate())).toMatchObject({ ok: false, reason: 'invalid' });
      expect(owner.check(current.generate())).toMatchObject({ ok: true, keyId: current.id });
    });

    it('a backward jump does not stretch it: the replaced key is dropped after grace of elapsed time', async () => {
      const owner = await startOwner({ grace: MINUTE });
      const old = fileKey();
      await owner.rotate();
      const rotatedAt = Date.now();

      vi.setSystemTime(rotatedAt - 5 * MINUTE);
      await vi.advanceTimersByTimeAsync(MINUTE - 2_000);
      // By the clock, grace has 6 minutes to go; by elapsed time, 2 seconds.
      expect(owner.check(old.generate())).toMatchObject({ ok: true, keyId: old.id });
      await vi.advanceTimersByTimeAsync(3_000);
      expect(owner.check(old.generate())).toMatchObject({ ok: false, reason: 'invalid' });
      expect(owner.keyId).not.toBe(old.id);
    });
  });

  describe('rotateEvery: due at the key file\'s mtime + rotateEvery by the clock, looked at by a timer that counts elapsed time', () => {
    // In a real jump the kernel's clock, which stamps the files, jumps too. Here only Date does:
    // each key file the owner writes is stamped with the test's clock, as the kernel would.
    // Lock releases are counted, so that the test knows when a look by the rotation timer,
    // which works on real files, is over.
    let releases = 0;
    beforeEach(() => {
      releases = 0;
      vi.spyOn(fsp, 'rename').mockImplementation((async (from: string, to: string) => {
        await realRename(from, to);
        if (String(to) === file) utimesSync(file, Date.now() / 1000, Date.now() / 1000);
      }) as typeof fsp.rename);
      vi.spyOn(fsp, 'rm').mockImplementation((async (...args: Parameters<typeof fsp.rm>) => {
        await realRm(...args);
        // A holder releases its lock by moving it aside, checking it, and removing the moved file.
        if (String(args[0]).startsWith(`${file}.lock.`)) releases++;
      }) as typeof fsp.rm);
    });

    /** Waits, in real time, for the `count`th release of the lock and the work right after it. */
    async function lockReleased(count: number): Promise<void> {
      const deadline = process.hrtime.bigint() + 15_000_000_000n;
      while (releases < count) {
        if (process.hrtime.bigint() > deadline) throw new Error(`timed out waiting for lock release ${count}`);
        await sleep(2);
      }
      await sleep(2);
    }

    it('a 1-hour forward jump does not rotate at once: the key is replaced when the timer fires, then every rotateEvery from the new file', async () => {
      const owner = await startOwner({ rotateEvery: 2 * MINUTE });
      const first = owner.keyId;
      expect(Math.abs(statSync(file).mtimeMs - Date.now())).toBeLessThan(5);
      events.mark();

      vi.setSystemTime(Date.now() + HOUR);
      await vi.advanceTimersByTimeAsync(90_000);
      // Overdue by the clock for almost an hour, but only 1.5 of the 2 minutes have elapsed.
      expect(events.since('rotate')).toEqual([]);
      expect(owner.keyId).toBe(first);

      await vi.advanceTimersByTimeAsync(MINUTE);
      const rotation = await events.next('rotate');
      expect(rotation.message).toContain('(scheduled rotation)');
      expect([owner.keyId, fileKey().id]).toEqual([rotation.keyId, rotation.keyId]);

      // The next one counts from the new file's mtime, on the clock after the jump: no burst.
      events.mark();
      await vi.advanceTimersByTimeAsync(75_000);
      expect(events.since('rotate')).toEqual([]);
      await vi.advanceTimersByTimeAsync(MINUTE);
      const again = await events.next('rotate');
      expect(again.keyId).not.toBe(rotation.keyId);
      expect(events.since('rotate')).toHaveLength(1);
      expect(events.since('error')).toEqual([]);
    });

    it('a backward jump does not postpone the rotation: rotateEvery of elapsed time bounds the key\'s life', async () => {
      const owner = await startOwner({ rotateEvery: 2 * MINUTE });
      const first = owner.keyId;
      const writtenAt = Date.now();
      events.mark();

      expect(releases).toBe(1); // the first write
      vi.setSystemTime(writtenAt - 5 * MINUTE);
      // By the clock the key is 5 minutes from due; by elapsed time it is due after 2 minutes.
      await vi.advanceTimersByTimeAsync(90_000);
      expect(events.since('rotate')).toEqual([]);
      await vi.advanceTimersByTimeAsync(31_000);
      const rotation = await events.next('rotate');
      expect(rotation.message).toContain('(scheduled rotation)');
      expect(owner.keyId).not.toBe(first);
      expect(fileKey().id).toBe(owner.keyId);
      expect(events.since('rotate')).toHaveLength(1);
      expect(events.since('error')).toEqual([]);
    });

    it('a key file dated in the future does not postpone the rotation', async () => {
      const future = Date.now() / 1000 + 24 * 3600;
      writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
      utimesSync(file, future, future);
      const owner = await startOwner({ rotateEvery: 2 * MINUTE });
      expect(owner.keyId).toBe(TotpKey.fromBase32(SECRET).id);
      events.mark();
      await vi.advanceTimersByTimeAsync(119_000);
      expect(events.since('rotate')).toEqual([]);
      await vi.advanceTimersByTimeAsync(2_000);
      const rotation = await events.next('rotate');
      expect(rotation.message).toContain('(scheduled rotation)');
      expect(owner.keyId).not.toBe(TotpKey.fromBase32(SECRET).id);
    });
  });
});

// ---- an owner killed mid-rotation ---------------------------------------------------------------

/**
 * A child process whose KeyOwner stops for good inside a rotation: it holds the lock, and its
 * temp file is complete and synced, when the rename over the key file is called; the rename never
 * returns. It adopts `file` if that holds a key and then calls rotate(), else it hangs writing the
 * first key in start(). Resolves with the temp file's name once it is there.
 */
async function ownerStuckMidRotation(): Promise<{ child: ReturnType<typeof spawn>; temp: string }> {
  const script = `
    const fsp = require('node:fs/promises');
    const path = require('node:path');
    const { KeyOwner } = require(${JSON.stringify(path.join(root, 'dist/index.js'))});
    const file = process.argv[1];
    const rename = fsp.rename;
    fsp.rename = (from, to) => {
      if (to !== file) return rename(from, to);
      process.stdout.write('renaming ' + path.basename(from) + '\\n');
      return new Promise(() => {});
    };
    setInterval(() => {}, 1 << 30);
    KeyOwner.start({ path: file }).then((owner) => owner.rotate());
  `;
  const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  closers.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  const temp = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^renaming (\S+)$/.exec(line);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`the owner process exited (${code}) before its rename`)));
  });
  return { child, temp };
}

async function kill(child: ReturnType<typeof spawn>): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const [, signal] = await exited;
  expect(signal).toBe('SIGKILL');
}

describe('an owner killed with SIGKILL mid-rotation', () => {
  it('leaves the old key file whole, a stale lock and a temp file; the next owner takes the lock over at once, rotates, and later removes the temp file', async () => {
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const { child, temp } = await ownerStuckMidRotation();
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toMatchObject({ pid: child.pid });
    await kill(child);
    expect(readdirSync(dir).sort()).toEqual([temp, 'otp.key', 'otp.key.lock'].sort());
    expect(readFileSync(file, 'latin1')).toBe(`${SECRET}\n`);
    expect(modeOf(path.join(dir, temp))).toBe(0o600);
    // The temp file holds a whole key that no process ever used.
    const orphan = fileKey(path.join(dir, temp));

    const owner = await startOwner();
    expect(owner.verify('287082', { timeMs: 59_000 })).toBe(true);
    const started = Date.now();
    await owner.rotate();
    // The holder's pid is dead: no wait for the lock to turn stale by age (10 s).
    expect(Date.now() - started).toBeLessThan(5_000);
    const key = fileKey();
    expect(key.id).toBe(owner.keyId);
    expect(key.id).not.toBe(orphan.id);
    expect(owner.verify(orphan.generate())).toBe(false);
    expect(modeOf(file)).toBe(0o600);
    // A write in progress takes milliseconds; a temp file is taken for a dead writer's once it is a minute old.
    expect(readdirSync(dir).sort()).toEqual([temp, 'otp.key'].sort());
    const reader = await openReader({ watch: false });
    expect(owner.check(reader.code())).toMatchObject({ ok: true, keyId: owner.keyId });

    // ctime cannot be set back: the clock moves on instead.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    await owner.rotate();
    expect(readdirSync(dir)).toEqual(['otp.key']);
    expect(events.all.filter((event) => event.type === 'error')).toEqual([]);
  });

  it('killed while writing the first key: the next owner to start takes the lock over and writes one', async () => {
    const { child, temp } = await ownerStuckMidRotation();
    await kill(child);
    expect(readdirSync(dir).sort()).toEqual([temp, 'otp.key.lock'].sort());

    const started = Date.now();
    const owner = await startOwner();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(events.all.map((event) => [event.type, event.message])).toEqual([['rotate', `wrote a new key to ${file} (no valid key file to adopt)`]]);
    expect(fileKey().id).toBe(owner.keyId);
    expect(modeOf(file)).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual([temp, 'otp.key'].sort());
  });
});

// ---- a full disk --------------------------------------------------------------------------------

describe('a full disk under a KeyOwner (ENOSPC, a 16 KiB tmpfs: four pages)', () => {
  let small: string;
  let mounted = false;

  beforeEach(() => {
    small = path.join(dir, 'small');
    mkdirSync(small);
    mounted = tryMount(['-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'tmpfs', small]);
    file = path.join(small, 'otp.key');
  });
  afterEach(async () => {
    // Closed before the unmount: nothing may hold the mount busy.
    for (const close of closers.splice(0)) await close();
    if (mounted) unmount(small);
  });

  it('rotate() rejects, reports, keeps the old key serving and the file whole, leaves no temp or lock file, and succeeds once there is room', async (context) => {
    if (!mounted) return context.skip('mount is not permitted here');
    const owner = await startOwner();
    const key = fileKey();
    // One page left: the lock file fits, the new key does not.
    writeFileSync(path.join(small, 'filler'), Buffer.alloc(8192));
    events.mark();
    await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: `the key file ${file} cannot be written (ENOSPC)` });
    expect(events.since()).toEqual([expect.objectContaining({ type: 'error', keyId: key.id, message: `the key file ${file} cannot be written (ENOSPC)` })]);
    expect(owner.keyId).toBe(key.id);
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id });
    expect(fileKey().id).toBe(key.id);
    expect(readdirSync(small).sort()).toEqual(['filler', 'otp.key']);

    // No page left: not even the lock file can be written.
    writeFileSync(path.join(small, 'filler2'), Buffer.alloc(4096));
    await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: `the lock file ${file}.lock cannot be created (ENOSPC)` });
    expect(events.since('error')).toHaveLength(2);
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id });
    expect(readdirSync(small).sort()).toEqual(['filler', 'filler2', 'otp.key']);

    rmSync(path.join(small, 'filler'));
    rmSync(path.join(small, 'filler2'));
    await owner.rotate();
    expect(fileKey().id).toBe(owner.keyId);
    expect(owner.keyId).not.toBe(key.id);
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id }); // within grace
    expect(modeOf(file)).toBe(0o600);
    expectNoSecrets(events.all, secretsOf([key, fileKey()]));
  });

  it('a scheduled rotation that fails is reported and retried, the old key serving meanwhile, until there is room', async (context) => {
    if (!mounted) return context.skip('mount is not permitted here');
    // One-second codes, so that a rotation may be due one second from the file's mtime.
    const uri = `otpauth://totp/x?secret=${SECRET}&period=1\n`;
    writeFileSync(file, uri, { mode: 0o600 });
    writeFileSync(path.join(small, 'filler'), Buffer.alloc(12_288)); // full
    // The owner adopts the file (adopting writes nothing); its rotation is due 1 s from the file's mtime.
    const owner = await startOwner({ rotateEvery: 1000, totp: { period: 1 } });
    expect(events.all.map((event) => event.type)).toEqual(['load']);
    await waitFor(() => events.since('error').length >= 2, 'two failed scheduled rotations');
    expect(events.since('error').slice(0, 2)).toEqual([
      expect.objectContaining({ keyId: owner.keyId, message: expect.stringContaining('(ENOSPC)') }),
      expect.objectContaining({ keyId: owner.keyId, message: expect.stringContaining('(ENOSPC)') }),
    ]);
    expect(events.since('rotate')).toEqual([]);
    expect(owner.verify(TotpKey.fromUri(uri.trim()).generate())).toBe(true);
    expect(readFileSync(file, 'latin1')).toBe(uri);

    rmSync(path.join(small, 'filler'));
    const rotation = await events.next('rotate');
    expect(rotation.message).toContain('(scheduled rotation)');
    expect(fileKey().id).toBe(owner.keyId);
    // The event comes from under the lock, which is released right after.
    await waitFor(() => readdirSync(small).length === 1, 'the lock to be released');
    expect(readdirSync(small)).toEqual(['otp.key']);
  });
});

// ---- a key file or lock another user planted ---------------------------------------------------

// Anyone who can write in the key directory (a shared, sticky /tmp-like one) could put a key there
// for an owner to adopt, or a lock that never frees itself. An owner trusts only a regular file at
// the path itself, owned by its own user and writable by no other; the lock code never blocks on
// what it finds at the lock path and never waits for ever.
const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;
const SECOND = 1_000;

/** Resolves to what `promise` settles with, or 'timed out' after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a key file another user could have put there (KeyOwner trusts only its own)', () => {
  const plant: [string, () => void, string][] = [
    ['owned by another uid', () => chownSync(file, NOBODY, NOBODY), `it is owned by uid ${NOBODY}, not by this process's uid ${process.geteuid?.()}`],
    ['writable by the group', () => chmodSync(file, 0o620), 'it is writable by group (mode 0620)'],
    ['writable by others', () => chmodSync(file, 0o606), 'it is writable by others (mode 0606)'],
    [
      'a symbolic link',
      () => {
        const target = path.join(dir, 'elsewhere.key');
        writeFileSync(target, `${SECRET}\n`, { mode: 0o600 });
        rmSync(file);
        symlinkSync(target, file);
      },
      'it is a symbolic link',
    ],
  ];

  // chown and setuid children need root; elsewhere these are reported as skipped, not passed.
  it.skipIf(!isRoot).each(plant)('at start, a file %s is not adopted: reported, and a new key written over it', async (_, setUp, why) => {
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    setUp();
    const owner = await startOwner();
    expect(owner.verify('287082', { timeMs: 59_000 })).toBe(false);
    expect(events.all.map((event) => event.type)).toEqual(['error', 'rotate']);
    expect(events.all[0]).toMatchObject({ reason: 'malformed', message: `the key file ${file} is not trusted: ${why}; an owner uses only a regular file of its own user that no other user can write` });
    const stats = lstatSync(file);
    expect(stats.isFile()).toBe(true);
    expect({ uid: stats.uid, mode: stats.mode & 0o777 }).toEqual({ uid: process.geteuid?.(), mode: 0o600 });
    expect(fileKey().id).toBe(owner.keyId);
    // A symbolic link is replaced, never written through.
    if (why.includes('symbolic')) expect(readFileSync(path.join(dir, 'elsewhere.key'), 'latin1')).toBe(`${SECRET}\n`);
    expectNoSecrets(events.all, secretsOf([fileKey(), TotpKey.fromBase32(SECRET)]));
  });

  it.skipIf(!isRoot).each(plant)('while running, a new file %s is not followed: reported, the current key kept', async (_, setUp, why) => {
    const owner = await startOwner();
    const key = fileKey();
    events.mark();
    replaceFile(file, `${SECRET}\n`);
    setUp();
    // A code made with the planted key is refused, and makes the owner look at the file.
    expect(owner.check('287082', { timeMs: 59_000 })).toMatchObject({ ok: false, reason: 'invalid', keyId: key.id });
    await events.next('error');
    expect(events.since()).toEqual([expect.objectContaining({ type: 'error', keyId: key.id, message: expect.stringContaining(why) })]);
    // The watcher sees the same version: no second report, no switch.
    await sleep(300);
    expect(events.since().length).toBe(1);
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id });
    expect(owner.keyId).toBe(key.id);
    // The owner's next rotation puts its own file back.
    await owner.rotate();
    expect(lstatSync(file)).toMatchObject({ uid: process.geteuid?.() });
    expect(fileKey().id).toBe(owner.keyId);
  });

  it.skipIf(!isRoot)('in a sticky directory, an owner of another user fails to start rather than serve a planted key', async () => {
    chmodSync(dir, 0o1777);
    // The planter (uid 65534) leaves a readable, valid key; the owner runs as uid 65533 and cannot
    // rename over a file of another user in a sticky directory.
    writeFileSync(file, `${SECRET}\n`, { mode: 0o644 });
    chownSync(file, NOBODY, NOBODY);
    // The checkout may sit where uid 65533 cannot read (a 0700 temp dir): it loads a copy of the
    // library, on the node:crypto engine (the addon is beside the checkout), from a readable place.
    const copy = mkdtempSync(path.join(tmpdir(), 'otp-faults-lib-'));
    closers.push(() => rmSync(copy, { recursive: true, force: true }));
    cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
    chmodSync(copy, 0o755);
    const script = `
      const { KeyOwner } = require(${JSON.stringify(path.join(copy, 'dist/index.js'))});
      KeyOwner.start({ path: process.argv[1], onEvent: (e) => console.log(JSON.stringify({ event: e.type, message: e.message })) }).then(
        async (owner) => { console.log(JSON.stringify({ started: owner.verify('287082', { timeMs: 59000 }) })); await owner.close(); },
        (error) => console.log(JSON.stringify({ failed: error.code, message: error.message })),
      );`;
    const env = { ...process.env, TOTP_HANDSHAKE_BACKEND: 'js' };
    const output = execFileSync(process.execPath, ['-e', script, file], { uid: NOBODY - 1, gid: NOBODY - 1, encoding: 'utf8', cwd: dir, env });
    const lines = output.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([
      { event: 'error', message: expect.stringContaining(`it is owned by uid ${NOBODY}, not by this process's uid ${NOBODY - 1}`) },
      { event: 'error', message: `the key file ${file} cannot be written (EPERM)` },
      { failed: 'ERR_OTP_KEY_IO', message: `the key file ${file} cannot be written (EPERM)` },
    ]);
    expect(readFileSync(file, 'latin1')).toBe(`${SECRET}\n`);
    expect(readdirSync(dir)).toEqual(['otp.key']);
  });
});

describe('a rotation lock that would never free itself', () => {
  it('a lock dated in the future (a clock stepped back, or planted) is stale once more than staleMs away', async () => {
    const owner = await startOwner();
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now() + HOUR, token: 'future' }));
    expect(await within(owner.rotate(), 5 * SECOND)).toBeUndefined();
    expect(fileKey().id).toBe(owner.keyId);
    expect(readdirSync(dir)).toEqual(['otp.key']);
  });

  it.each([
    ['a FIFO', () => execFileSync('mkfifo', [`${file}.lock`])],
    ['a huge file', () => writeFileSync(`${file}.lock`, Buffer.alloc(4 * 1024 * 1024, 0x20))],
    ['a symbolic link to a FIFO', () => (execFileSync('mkfifo', [path.join(dir, 'fifo')]), symlinkSync(path.join(dir, 'fifo'), `${file}.lock`))],
  ])('%s at the lock path is never read, and removed as broken', async (_, setUp) => {
    const owner = await startOwner();
    setUp();
    expect(await within(owner.rotate(), 5 * SECOND)).toBeUndefined();
    expect(fileKey().id).toBe(owner.keyId);
    expect(readdirSync(dir).filter((name) => name.startsWith('otp.key'))).toEqual(['otp.key']);
  });

  it('close() does not wait behind a rotation waiting for a live lock: the rotation is given up', async () => {
    const owner = await startOwner();
    const key = fileKey();
    // A live holder (this very process), freshly dated: stale only after 10 s.
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), token: 'held' }));
    events.mark();
    const rotation = owner.rotate();
    rotation.catch(() => undefined);
    await sleep(200);
    expect(await within(owner.close(), 2 * SECOND)).toBeUndefined();
    await expect(rotation).rejects.toMatchObject({ code: 'ERR_OTP_DESTROYED' });
    await sleep(100);
    expect(fileKey().id).toBe(key.id);
    expect(readdirSync(dir).sort()).toEqual(['otp.key', 'otp.key.lock']);
    expect(events.since()).toEqual([]);
  });

  it('rotate() called before close() but run after it rejects with ERR_OTP_DESTROYED and writes nothing', async () => {
    const owner = await startOwner();
    const key = fileKey();
    events.mark();
    const rotation = owner.rotate();
    rotation.catch(() => undefined);
    await owner.close();
    await expect(rotation).rejects.toMatchObject({ code: 'ERR_OTP_DESTROYED' });
    expect(fileKey().id).toBe(key.id);
    expect(readdirSync(dir)).toEqual(['otp.key']);
    expect(events.since()).toEqual([]);
  });

  it('acquireLock gives up with ERR_OTP_KEY_IO after timeoutMs (default 3 × staleMs) when the lock keeps being retaken', async () => {
    const lockFile = `${file}.lock`;
    const retake = () => writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), token: 'busy' }));
    retake();
    const timer = setInterval(retake, 20);
    try {
      const started = performance.now();
      await expect(acquireLock(file, { staleMs: 200 })).rejects.toMatchObject({
        code: 'ERR_OTP_KEY_IO',
        message: `the lock file ${lockFile} is held by another process and was not released within 600 ms`,
      });
      expect(performance.now() - started).toBeGreaterThanOrEqual(590);
      expect(performance.now() - started).toBeLessThan(5 * SECOND);
    } finally {
      clearInterval(timer);
    }
  });

  it('the lock file is created with mode 0600, whatever the umask', async () => {
    const lock = await acquireLock(file);
    expect(modeOf(`${file}.lock`)).toBe(0o600);
    await lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
