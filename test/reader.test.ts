// KeyReader (SPEC §3) and the directory watcher under it: waiting for the file, following it
// through renames, Kubernetes `..data` swaps and faults, deleteAfterRead, polling.
import { EventEmitter } from 'node:events';
import type { FSWatcher } from 'node:fs';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { KeyFileWatcher } from '../dist/handshake/watch.js';
import { Events, expectNoSecrets, kubernetesVolume, replaceFile, secretsOf, tempDir, tryMount, unmount, waitFor } from './helpers/handshake-fs.js';

const fsp = createRequire(__filename)('node:fs/promises') as typeof import('node:fs/promises');
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

let dir: string;
let file: string;
let cleanup: () => void;
let events: Events;
const closers: (() => unknown)[] = [];

async function open(options: Partial<Parameters<typeof KeyReader.open>[0]> = {}): Promise<KeyReader> {
  const reader = await KeyReader.open({ path: file, onEvent: events.listener, ...options });
  closers.push(() => reader.close());
  return reader;
}

function newKey(): TotpKey {
  const key = TotpKey.random();
  closers.push(() => key.destroy());
  return key;
}

beforeEach(() => {
  ({ dir, file, cleanup } = tempDir('otp-reader'));
  events = new Events();
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  cleanup();
});

describe('open', () => {
  it('reads the key, makes its codes and headers, and reports the load', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const reader = await open();
    expect(reader.code(59_000)).toBe('287082');
    expect(reader.headers()).toEqual({ 'X-OTP': reader.code() });
    expect(reader.keyId).toBe(TotpKey.fromBase32(SECRET).id);
    expect(events.all).toEqual([{ type: 'load', keyId: reader.keyId, message: `read a key from ${file}`, at: expect.any(String) }]);
  });

  it('reads an otpauth URI, and a base32 line with the totp options it cannot carry', async () => {
    writeFileSync(file, `otpauth://totp/x?secret=${SECRET}&digits=8\n`);
    expect((await open()).code(59_000)).toBe('94287082');
    writeFileSync(file, `${SECRET}\n`);
    expect((await open({ totp: { digits: 8 } })).code(59_000)).toBe('94287082');
  });

  it('waits for a key file that appears later, in a directory that appears later', async () => {
    const later = path.join(dir, 'later');
    file = path.join(later, 'otp.key');
    const opening = open();
    await new Promise((resolve) => setTimeout(resolve, 300));
    mkdirSync(later);
    replaceFile(file, `${SECRET}\n`);
    expect((await opening).code(59_000)).toBe('287082');
  });

  it('gives up after `wait` ms with ERR_OTP_KEY_MISSING, and at once with wait: 0', async () => {
    await expect(open({ wait: 200 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MISSING', message: `no key file appeared at ${file} within 200 ms` });
    await expect(open({ wait: 0 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MISSING', message: `there is no key file at ${file}` });
    expect(events.all).toEqual([]);
  });

  it('while waiting, reports a malformed file, takes a fixed one, or rejects with the last problem', async () => {
    writeFileSync(file, 'GEZDGNBV\n');
    await expect(open({ wait: 300 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MALFORMED' });
    expect(events.all.map((event) => [event.type, event.reason])).toEqual([['error', 'malformed']]);
    const opening = open();
    await events.next('error');
    replaceFile(file, `${SECRET}\n`);
    expect((await opening).code(59_000)).toBe('287082');
  });

  it.each([
    [undefined, 'KeyReader options must be an object'],
    [{ path: 5 }, 'path must be a non-empty file path'],
    [{ path: 'k', wait: -1 }, 'wait must be a whole number of milliseconds'],
    [{ path: 'k', watch: 1 }, 'watch must be a boolean'],
    [{ path: 'k', deleteAfterRead: 'yes' }, 'deleteAfterRead must be a boolean'],
    [{ path: 'k', totp: { period: 0 } }, 'period must be a whole number'],
  ])('refuses options %j with ERR_OTP_OPTIONS', async (options, message) => {
    await expect(KeyReader.open(options as never)).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining(message) });
  });
});

describe('following the file', () => {
  it('picks up a key replaced by rename, and an owner rotation', async () => {
    const owner = await KeyOwner.start({ path: file });
    closers.push(() => owner.close());
    const reader = await open();
    const next = newKey();
    replaceFile(file, `${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    await owner.rotate();
    await events.next('load', (event) => event.keyId === owner.keyId);
    expect(owner.check(reader.code())).toMatchObject({ ok: true, keyId: owner.keyId });
  });

  it('follows a Kubernetes secret volume through ..data swaps, waiting out a dangling link', async () => {
    const volume = kubernetesVolume(dir, `${SECRET}\n`);
    const reader = await open();
    const next = newKey();
    volume.swap(`${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    expect(reader.keyId).toBe(next.id);
    // ..data briefly pointing at nothing is not a missing key.
    volume.pointAt('..not-yet');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const third = newKey();
    volume.swap(`${third.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === third.id);
    expect(events.all.filter((event) => event.type === 'error')).toEqual([]);
  });

  it('with watch: false, changes nothing until reload()', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const reader = await open({ watch: false });
    const next = newKey();
    replaceFile(file, `${next.toBase32()}\n`);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(reader.keyId).not.toBe(next.id);
    await reader.reload();
    expect(reader.keyId).toBe(next.id);
  });
});

describe('faults: the last good key keeps serving and the reader says why', () => {
  it.each([
    ['corrupt', 'not a key at all\n', 'malformed'],
    ['empty', '', 'malformed'],
    ['short', 'GEZDGNBVGY3TQOJQ\n', 'malformed'],
  ])('a %s file', async (_, content, reason) => {
    writeFileSync(file, `${SECRET}\n`);
    const reader = await open();
    replaceFile(file, content);
    expect(await events.next('error')).toMatchObject({ reason, keyId: reader.keyId, message: expect.stringContaining(file) });
    expect(reader.code(59_000)).toBe('287082');
    await expect(reader.reload()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MALFORMED' });
    expect(reader.code(59_000)).toBe('287082');
  });

  it('a deleted file, then a deleted directory, then a new directory with a new key', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const reader = await open();
    rmSync(file);
    expect(await events.next('error')).toMatchObject({ reason: 'missing', message: `there is no key file at ${file}` });
    await expect(reader.reload()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MISSING' });
    rmSync(dir, { recursive: true });
    expect(reader.code(59_000)).toBe('287082');
    mkdirSync(dir);
    const next = newKey();
    replaceFile(file, `${next.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    expect(reader.code()).toBe(next.generate());
  });
});

describe('deleteAfterRead', () => {
  it('deletes the file once read, keeps the key in memory, and takes each new file the same way', async () => {
    const owner = await KeyOwner.start({ path: file });
    closers.push(() => owner.close());
    const reader = await open({ deleteAfterRead: true });
    expect(readdirSync(dir)).toEqual([]);
    expect(owner.check(reader.code())).toMatchObject({ ok: true });
    await owner.rotate();
    await events.next('load', (event) => event.keyId === owner.keyId);
    await waitFor(() => readdirSync(dir).length === 0, 'the new file to be deleted');
    expect(owner.check(reader.code())).toMatchObject({ ok: true, keyId: owner.keyId });
    expect(events.all.filter((event) => event.type === 'error')).toEqual([]);
    await expect(reader.reload()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MISSING' });
  });

  it('where the file cannot be deleted (EPERM, injected) says so once and carries on', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const rename = vi.spyOn(fsp, 'rename').mockRejectedValue(Object.assign(new Error('EPERM'), { code: 'EPERM' }));
    try {
      const reader = await open({ deleteAfterRead: true });
      expect(reader.code(59_000)).toBe('287082');
      const next = newKey();
      replaceFile(file, `${next.toBase32()}\n`);
      await events.next('load', (event) => event.keyId === next.id);
      expect(readdirSync(dir)).toEqual(['otp.key']);
      const errors = events.all.filter((event) => event.type === 'error');
      expect(errors).toEqual([{ type: 'error', at: expect.any(String), message: `the key file ${file} cannot be deleted after reading (EPERM): it is left in place and followed` }]);
    } finally {
      rename.mockRestore();
    }
  });

  it('on a read-only mount (EROFS, a read-only bind mount) says so once and carries on', async (context) => {
    const source = path.join(dir, 'source');
    const view = path.join(dir, 'view');
    mkdirSync(source);
    mkdirSync(view);
    writeFileSync(path.join(source, 'otp.key'), `${SECRET}\n`);
    if (!tryMount(['--bind', source, view])) return context.skip('mount is not permitted here');
    try {
      if (!tryMount(['-o', 'remount,bind,ro', view])) return context.skip('a read-only remount is not permitted here');
      file = path.join(view, 'otp.key');
      const reader = await open({ deleteAfterRead: true });
      expect(reader.code(59_000)).toBe('287082');
      const next = newKey();
      replaceFile(path.join(source, 'otp.key'), `${next.toBase32()}\n`);
      await events.next('load', (event) => event.keyId === next.id);
      const errors = events.all.filter((event) => event.type === 'error');
      expect(errors).toEqual([expect.objectContaining({ message: expect.stringContaining('(EROFS): it is left in place and followed') })]);
      reader.close();
    } finally {
      unmount(view);
    }
  });
});

describe('close', () => {
  it('wipes the key: code() and reload() fail with ERR_OTP_DESTROYED', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const reader = await open();
    reader.close();
    expect(reader.keyId).toBeUndefined();
    expect(() => reader.code()).toThrow(expect.objectContaining({ code: 'ERR_OTP_DESTROYED' }));
    await expect(reader.reload()).rejects.toMatchObject({ code: 'ERR_OTP_DESTROYED' });
  });
});

describe('the directory watcher', () => {
  /** A stand-in for fs.watch that fails: by throwing, or by an error event soon after. Counts its calls. */
  function fakeWatch(behaviour: 'throw' | 'error'): { watch: typeof import('node:fs').watch; calls: () => number } {
    let calls = 0;
    const watch = () => {
      calls++;
      if (behaviour === 'throw') throw Object.assign(new Error('ENOSPC: inotify watches exhausted'), { code: 'ENOSPC' });
      const watcher = new EventEmitter() as FSWatcher;
      Object.assign(watcher, { close: () => undefined });
      setTimeout(() => watcher.emit('error', new Error('EPERM')), 10);
      return watcher;
    };
    return { watch: watch as never, calls: () => calls };
  }

  it.each(['throw', 'error'] as const)('polls when fs.watch fails (it %ss), still reports changes, and does not retry in a loop', async (behaviour) => {
    writeFileSync(file, 'one');
    let changes = 0;
    const fake = fakeWatch(behaviour);
    const watcher = new KeyFileWatcher(file, async () => void changes++, { watch: fake.watch, pollInterval: 50 });
    closers.push(() => watcher.close());
    await waitFor(() => changes >= 1, 'the first look');
    await waitFor(() => !watcher.watching, 'polling');
    // A look may report more often than the file changes (onChange re-reads and dedups); what
    // matters is that each change is reported.
    let seen = changes;
    replaceFile(file, 'two');
    await waitFor(() => changes > seen, 'the change to be polled');
    seen = changes;
    replaceFile(file, 'three');
    await waitFor(() => changes > seen, 'the next change to be polled');
    expect(fake.calls()).toBe(1);
  });

  it('keeps polling when the wall clock stands still or lags the timers (a fired timer is not a pending one)', async () => {
    // Node's timers run on the event loop's clock; Date.now() can lag it on a busy process, or be
    // set back. Frozen here, so that every timer fires before its due time by the wall clock.
    vi.useFakeTimers({ toFake: ['Date'] });
    // waitFor's deadline reads Date.now(), frozen here: count tries instead.
    const waitFor = async (condition: () => boolean, what: string) => {
      for (let tries = 0; !condition(); tries++) {
        if (tries > 250) throw new Error(`gave up waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      writeFileSync(file, 'one');
      let changes = 0;
      const watcher = new KeyFileWatcher(file, async () => void changes++, { watch: fakeWatch('throw').watch, pollInterval: 20 });
      closers.push(() => watcher.close());
      await waitFor(() => changes >= 1, 'the first look');
      for (const content of ['two', 'three', 'four']) {
        await new Promise((resolve) => setTimeout(resolve, 100)); // several poll intervals
        const seen = changes;
        replaceFile(file, content);
        await waitFor(() => changes > seen, `the change to "${content}" to be polled`);
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('re-arms fs.watch on a directory deleted and created again', async () => {
    let changes = 0;
    const watcher = new KeyFileWatcher(file, async () => void changes++, { pollInterval: 50 });
    closers.push(() => watcher.close());
    await waitFor(() => watcher.watching, 'the watch');
    rmSync(dir, { recursive: true });
    await waitFor(() => !watcher.watching, 'the watch to be dropped');
    mkdirSync(dir);
    await waitFor(() => watcher.watching, 'the watch on the new directory');
    const seen = changes;
    renameSync(dir, `${dir}.x`);
    mkdirSync(dir);
    writeFileSync(file, 'x');
    await waitFor(() => changes > seen, 'a change in the new directory');
    rmSync(`${dir}.x`, { recursive: true });
  });
});

it('no event or error holds a secret or a valid code', async () => {
  const key = newKey();
  writeFileSync(file, `${key.toBase32()}\n`);
  const reader = await open();
  const thrown: unknown[] = [];
  replaceFile(file, `${key.toBase32().slice(0, 30)}!\n`);
  await events.next('error');
  thrown.push(await reader.reload().catch((error: unknown) => error));
  replaceFile(file, `otpauth://totp/x?secret=${key.toBase32()}&algorithm=MD5\n`);
  await events.next('error', (event) => event.message?.includes('algorithm') === true);
  thrown.push(await KeyReader.open({ path: path.join(dir, 'none'), wait: 50 }).catch((error: unknown) => error));
  expect(thrown.every((error) => error instanceof Error)).toBe(true);
  expectNoSecrets([...events.all, ...thrown], secretsOf([key]));
});
