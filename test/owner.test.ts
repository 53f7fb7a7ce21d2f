// KeyOwner (SPEC §3): start, adopt, check, rotate, grace, schedule, faults, close.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { Events, expectNoSecrets, replaceFile, secretsOf, tempDir, tryMount, unmount, waitFor } from './helpers/handshake-fs.js';

const fsp = createRequire(__filename)('node:fs/promises') as typeof import('node:fs/promises');
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

let dir: string;
let file: string;
let cleanup: () => void;
let events: Events;
const owners: KeyOwner[] = [];

async function start(options: Partial<Parameters<typeof KeyOwner.start>[0]> = {}): Promise<KeyOwner> {
  const owner = await KeyOwner.start({ path: file, onEvent: events.listener, ...options });
  owners.push(owner);
  return owner;
}

const fileKey = () => TotpKey.fromBase32(readFileSync(file, 'latin1').trim());

beforeEach(() => {
  ({ dir, file, cleanup } = tempDir('otp-owner'));
  events = new Events();
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(owners.splice(0).map((owner) => owner.close()));
  cleanup();
});

describe('start', () => {
  it('writes a new 20-byte key as one base32 line, mode 0600, and reports it', async () => {
    const owner = await start();
    const text = readFileSync(file, 'latin1');
    expect(text).toMatch(/^[A-Z2-7]{32}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(owner.keyId).toBe(fileKey().id);
    expect(owner.timing()).toEqual({ period: 30, epoch: 0 });
    expect(events.all).toEqual([{ type: 'rotate', keyId: owner.keyId, at: expect.any(String), message: `wrote a new key to ${file} (no valid key file to adopt)` }]);
    expect(readdirSync(dir)).toEqual(['otp.key']);
  });

  it('honours fileMode, format uri and the TOTP options', async () => {
    const owner = await start({ fileMode: 0o640, format: 'uri', totp: { algorithm: 'SHA256', digits: 8, period: 60 } });
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readFileSync(file, 'latin1')).toMatch(/^otpauth:\/\/totp\/totp-handshake\?secret=[A-Z2-7]{32}&algorithm=SHA256&digits=8&period=60\n$/);
    const reader = await KeyReader.open({ path: file, watch: false });
    expect(owner.check(reader.code())).toMatchObject({ ok: true, keyId: owner.keyId });
    expect(reader.code()).toHaveLength(8);
    reader.close();
  });

  it('adopts a valid existing key without rewriting the file', async () => {
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const before = statSync(file);
    const owner = await start();
    expect(owner.verify('287082', { timeMs: 59_000 })).toBe(true);
    expect(events.all.map((event) => event.type)).toEqual(['load']);
    expect(statSync(file)).toMatchObject({ ino: before.ino, mtimeMs: before.mtimeMs });
  });

  it('with adopt: false, replaces an existing key', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const owner = await start({ adopt: false });
    expect(owner.verify('287082', { timeMs: 59_000 })).toBe(false);
    expect(fileKey().id).toBe(owner.keyId);
  });

  it('replaces a malformed key file (a secret too short to use), saying why', async () => {
    writeFileSync(file, 'GEZDGNBVGY3TQOJQ\n', { mode: 0o600 });
    const owner = await start();
    expect(events.all.map((event) => [event.type, event.reason])).toEqual([['error', 'malformed'], ['rotate', undefined]]);
    expect(fileKey().id).toBe(owner.keyId);
  });

  it('fails with ERR_OTP_KEY_IO when the directory does not exist', async () => {
    await expect(start({ path: path.join(dir, 'none', 'otp.key') })).rejects.toMatchObject({
      code: 'ERR_OTP_KEY_IO',
      message: `the lock file ${dir}/none/otp.key.lock cannot be created (${dir}/none does not exist)`,
    });
  });

  it.each([
    [undefined, 'KeyOwner options must be an object'],
    [{ path: '' }, 'path must be a non-empty file path'],
    [{ path: 'k', rotateEvery: -1 }, 'rotateEvery must be a whole number of milliseconds'],
    [{ path: 'k', grace: 1.5 }, 'grace must be a whole number of milliseconds'],
    [{ path: 'k', fileMode: 0o1000 }, 'fileMode must be permission bits'],
    [{ path: 'k', format: 'pem' }, "format must be 'base32' or 'uri'"],
    [{ path: 'k', format: 'uri', totp: { epoch: 5 } }, 'totp.epoch cannot be shared through a key file'],
    [{ path: 'k', totp: { digits: 9 } }, 'digits must be 6, 7 or 8'],
    [{ path: 'k', adopt: 'yes' }, 'adopt must be a boolean'],
    [{ path: 'k', onEvent: 'log' }, 'onEvent must be a function'],
  ])('refuses options %j with ERR_OTP_OPTIONS', async (options, message) => {
    await expect(KeyOwner.start(options as never)).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining(message) });
  });
});

describe('check', () => {
  it('tells missing, malformed, invalid and valid codes apart, and never throws for a code', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const owner = await start();
    const at = { timeMs: 59_000 };
    const keyId = owner.keyId;
    for (const code of [undefined, null, '']) expect(owner.check(code, at)).toEqual({ ok: false, reason: 'missing', keyId });
    for (const code of ['28708', '2870822', '28708a', ' 87082', 287082, ['287082'], {}]) {
      expect(owner.check(code, at)).toEqual({ ok: false, reason: 'malformed', keyId });
    }
    expect(owner.check('287083', at)).toEqual({ ok: false, reason: 'invalid', keyId });
    // Step 1 runs from 30 s to 60 s; with window 1 its code is accepted until step 3 begins, at 90 s.
    expect(owner.check('287082', at)).toEqual({ ok: true, keyId, delta: 0, step: 1, expiresAt: 90_000 });
    expect(owner.check('287082', { timeMs: 89_000 })).toEqual({ ok: true, keyId, delta: -1, step: 1, expiresAt: 90_000 });
    expect(owner.check('287082', { timeMs: 59_000, window: 2 })).toEqual({ ok: true, keyId, delta: 0, step: 1, expiresAt: 120_000 });
    expect(owner.check('287082', { timeMs: 89_000, window: 0 })).toMatchObject({ ok: false, reason: 'invalid' });
    expect(owner.verify('287082', at)).toBe(true);
    expect(owner.verify(287082, at)).toBe(false);
    expect(() => owner.check('287082', { window: 11 })).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS' }));
  });
});

describe('rotation', () => {
  it('rotate() writes a new key; the old one stays valid for grace, then is refused', async () => {
    const owner = await start({ grace: 1000 });
    const old = fileKey();
    await owner.rotate('a test');
    const now = Date.now();
    expect(owner.keyId).toBe(fileKey().id);
    expect(owner.keyId).not.toBe(old.id);
    expect(events.all.at(-1)).toMatchObject({ type: 'rotate', keyId: owner.keyId, message: `wrote a new key to ${file} (a test)` });
    expect(owner.check(old.generate(now), { timeMs: now })).toMatchObject({ ok: true, keyId: old.id });
    expect(owner.check(fileKey().generate(now), { timeMs: now })).toMatchObject({ ok: true, keyId: owner.keyId });
    // Past the grace period, by the verification time and then by the clock.
    const later = now + 1100;
    expect(owner.check(old.generate(later), { timeMs: later })).toMatchObject({ ok: false, reason: 'invalid' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(owner.verify(old.generate())).toBe(false);
    expect(owner.verify(fileKey().generate())).toBe(true);
  });

  it('with grace 0, the replaced key is refused at once', async () => {
    const owner = await start({ grace: 0 });
    const old = fileKey();
    await owner.rotate();
    expect(owner.verify(old.generate())).toBe(false);
  });

  it('accepts the code of a key another writer just put in the file, before its watcher has seen it', async () => {
    const owner = await start();
    const next = TotpKey.random();
    replaceFile(file, `${next.toBase32()}\n`);
    // Same tick: only the look at the file on a failed code can know the new key.
    expect(owner.check(next.generate())).toMatchObject({ ok: true, keyId: next.id });
    expect(events.since('load')).toEqual([expect.objectContaining({ keyId: next.id })]);
  });

  it('where looks at the file turn out slow (a network filesystem), stops looking on the request path, says so, and looks in the background', async () => {
    const owner = await start();
    const fs = createRequire(__filename)('node:fs') as typeof import('node:fs');
    const lstat = fs.lstatSync;
    // A filesystem that answers in 80 ms.
    const slow = vi.spyOn(fs, 'lstatSync').mockImplementation(((target: string, options?: object) => {
      const until = performance.now() + 80;
      while (performance.now() < until);
      return lstat(target, options as never);
    }) as typeof fs.lstatSync);
    for (let i = 0; i < 3; i++) {
      const next = TotpKey.random();
      replaceFile(file, `${next.toBase32()}\n`);
      expect(owner.check(next.generate())).toMatchObject({ ok: true, keyId: next.id });
    }
    expect(events.since('error')).toEqual([expect.objectContaining({ message: expect.stringMatching(/took over 50 ms 3 times in a row; refused codes no longer look at it on the request path/) })]);
    const calls = slow.mock.calls.length;
    const last = TotpKey.random();
    replaceFile(file, `${last.toBase32()}\n`);
    expect(owner.check(last.generate())).toMatchObject({ ok: false, reason: 'invalid' });
    expect(slow.mock.calls.length).toBe(calls);
    slow.mockRestore();
    await events.next('load', (event) => event.keyId === last.id);
    expect(owner.check(last.generate())).toMatchObject({ ok: true, keyId: last.id });
  });

  it('follows a rotation by another writer through its watcher, keeping the old key for grace', async () => {
    const owner = await start();
    const old = fileKey();
    const next = TotpKey.random();
    replaceFile(file, `${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    expect(owner.keyId).toBe(next.id);
    expect(owner.verify(old.generate())).toBe(true);
  });

  describe('on a schedule (fake timers)', () => {
    it('rotates rotateEvery after the key file was written, and again after the new one', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const owner = await start({ rotateEvery: 60_000 });
      const keys = [owner.keyId];
      for (let round = 0; round < 2; round++) {
        // The fake clock stands still while the real one stamps the file: set it to the stamp.
        vi.setSystemTime(statSync(file).mtimeMs);
        events.mark();
        await vi.advanceTimersByTimeAsync(55_000);
        expect(events.since('rotate')).toEqual([]);
        await vi.advanceTimersByTimeAsync(10_000);
        const rotation = await events.next('rotate');
        expect(rotation.message).toContain('(scheduled rotation)');
        expect([owner.keyId, fileKey().id]).toEqual([rotation.keyId, rotation.keyId]);
        keys.push(rotation.keyId);
      }
      expect(new Set(keys).size).toBe(3);
    });

    it('counts from the mtime of an adopted file, so owners sharing it agree', async () => {
      writeFileSync(file, `${SECRET}\n`);
      const written = Date.now() / 1000 - 50;
      utimesSync(file, written, written);
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      await start({ rotateEvery: 60_000 });
      events.mark();
      await vi.advanceTimersByTimeAsync(8_000);
      expect(events.since('rotate')).toEqual([]);
      await vi.advanceTimersByTimeAsync(4_000);
      await events.next('rotate');
    });
  });
});

describe('faults', () => {
  it('keeps serving when the file is deleted, and does not rewrite it until the next rotation', async () => {
    const owner = await start();
    const key = fileKey();
    rmSync(file);
    expect(owner.verify(key.generate())).toBe(true);
    // Longer than the watcher's safety-net interval: a rewrite would have happened by now.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(readdirSync(dir)).toEqual([]);
    expect(owner.verify(key.generate())).toBe(true);
    expect(events.since('error')).toEqual([]);
    await owner.rotate();
    expect(fileKey().id).toBe(owner.keyId);
  });

  it.each([
    ['corrupt', 'this is not base32!\n'],
    ['empty', ''],
    ['short', 'GEZDGNBVGY3TQOJQ\n'],
  ])('keeps serving and reports a %s file once, without rewriting it', async (_, content) => {
    const owner = await start();
    const key = fileKey();
    events.mark();
    replaceFile(file, content);
    const error = await events.next('error');
    expect(error).toMatchObject({ reason: 'malformed', keyId: key.id, message: expect.stringContaining(`the key file ${file} does not hold a valid key`) });
    expect(owner.check(key.generate())).toMatchObject({ ok: true, keyId: key.id });
    expect(owner.check('000000')).toMatchObject({ ok: false });
    expect(readFileSync(file, 'latin1')).toBe(content);
    expect(events.since('error')).toHaveLength(1);
  });

  it('keeps serving when its directory is deleted, fails rotations until it is back, then follows it again', async () => {
    const owner = await start();
    const key = fileKey();
    rmSync(dir, { recursive: true });
    expect(owner.verify(key.generate())).toBe(true);
    events.mark();
    await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining(`(${dir} does not exist)`) });
    expect(events.since('error')).toEqual([expect.objectContaining({ keyId: key.id, message: expect.stringContaining('does not exist') })]);
    expect(owner.verify(key.generate())).toBe(true);
    mkdirSync(dir);
    const next = TotpKey.random();
    replaceFile(file, `${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    await owner.rotate();
    expect(fileKey().id).toBe(owner.keyId);
  });

  it('on a failed write (EACCES, injected) keeps its key, leaves no partial file, reports and rejects', async () => {
    const owner = await start();
    const key = fileKey();
    const rename = vi.spyOn(fsp, 'rename').mockRejectedValueOnce(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }));
    events.mark();
    try {
      await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: `the key file ${file} cannot be written (EACCES)` });
    } finally {
      rename.mockRestore();
    }
    expect(events.since('error')).toHaveLength(1);
    expect(owner.keyId).toBe(key.id);
    expect(fileKey().id).toBe(key.id);
    expect(readdirSync(dir)).toEqual(['otp.key']);
  });

  it('on a read-only mount (EROFS, a read-only bind mount) keeps its key and rejects rotations', async (context) => {
    const owner = await start();
    const key = fileKey();
    if (!tryMount(['--bind', dir, dir])) return context.skip('mount is not permitted here');
    try {
      if (!tryMount(['-o', 'remount,bind,ro', dir])) return context.skip('a read-only remount is not permitted here');
      await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('EROFS') });
      expect(owner.verify(key.generate())).toBe(true);
    } finally {
      unmount(dir);
    }
    expect(readdirSync(dir)).toEqual(['otp.key']);
    expect(fileKey().id).toBe(key.id);
  });
});

describe('close', () => {
  it('refuses every code with no-key afterwards, and rotate() rejects', async () => {
    const owner = await start();
    const key = fileKey();
    await owner.close();
    expect(owner.check(key.generate())).toEqual({ ok: false, reason: 'no-key' });
    expect(owner.verify(key.generate())).toBe(false);
    expect(owner.timing()).toBeUndefined();
    expect(owner.keyId).toBeUndefined();
    await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_DESTROYED' });
    await owner.close();
    expect(readdirSync(dir)).toEqual(['otp.key']);
  });

  it('with removeOnClose deletes the file it holds the key of, also one it adopted', async () => {
    const owner = await start({ removeOnClose: true });
    await owner.close();
    expect(readdirSync(dir)).toEqual([]);
    const adopting = await start({ removeOnClose: true });
    const written = adopting.keyId;
    replaceFile(file, `${SECRET}\n`);
    await events.next('load', (event) => event.keyId !== written);
    await adopting.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('with removeOnClose leaves a key it has not seen: another writer\'s newer key', async () => {
    const owner = await start({ removeOnClose: true });
    replaceFile(file, `${SECRET}\n`);
    // Same tick: the owner has not read the new file, and close() stops it from doing so.
    await owner.close();
    expect(readFileSync(file, 'latin1')).toBe(`${SECRET}\n`);
  });

  it('does not keep a process alive: a script that never closes its owner exits by itself', async () => {
    const script = `require(${JSON.stringify(path.resolve(__dirname, '../dist/index.js'))}).KeyOwner.start({ path: process.argv[1], rotateEvery: 3_600_000 }).then((o) => console.log(o.keyId))`;
    const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(out.trim()).toBe(fileKey().id);
  });
});

it('no event or error holds a secret or a valid code', async () => {
  const seen: unknown[] = [];
  const owner = await start();
  const keys = [fileKey()];
  await owner.rotate();
  keys.push(fileKey());
  replaceFile(file, `${keys[0]!.toBase32().slice(0, 20)}!\n`);
  await events.next('error');
  replaceFile(file, `otpauth://totp/x?secret=${keys[1]!.toBase32()}&digits=9\n`);
  await events.next('error', (event) => event.message?.includes('digits') === true);
  for (const code of keys.map((key) => key.generate())) seen.push(owner.check(code), owner.check(`${code}0`));
  seen.push(await KeyOwner.start({ path: path.join(dir, 'no', 'k') }).catch((error: unknown) => error));
  await owner.close();
  expectNoSecrets([...events.all, ...seen.filter((thing) => thing instanceof Error)], secretsOf(keys));
});
