// The hazards found by trying the package as an attacker and as a new user would (SECURITY.md):
// each test here failed before its fix. Data loss, keys no client can use, keys and locks left by
// another user, replays through a grace key, rotation postponed, options that do nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import path from 'node:path';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { otpCheck } from 'totp-handshake/http';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { parseKeyFile } from '../dist/handshake/keyfile.js';
import { acquireLock } from '../dist/handshake/lock.js';
import { available } from './helpers/processes.js';
import { cli, Events, replaceFile, tempDir } from './helpers/handshake-fs.js';
import { adapters, send, type TestServer } from './helpers/http-fixtures.js';
import { cliAs, isRoot, NOBODY, OTHER, removeLibraryCopy, runAs } from './helpers/other-user.js';
import { inCi } from './helpers/engines.js';

let dir: string;
let file: string;
let cleanup: () => void;
let events: Events;
const closers: Array<() => unknown> = [];

beforeEach(() => {
  ({ dir, file, cleanup } = tempDir('otp-hazards'));
  events = new Events();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  cleanup();
});
afterAll(() => removeLibraryCopy());

async function start(options: Partial<Parameters<typeof KeyOwner.start>[0]> = {}): Promise<KeyOwner> {
  const owner = await KeyOwner.start({ path: file, onEvent: events.listener, ...options });
  closers.push(() => owner.close());
  return owner;
}

const fileKey = () => parseKeyFile(readFileSync(file, 'latin1'), file).key;

describe('a path that holds something other than a key file', () => {
  it.each([
    ['a .env file', 'DATABASE_URL=postgres://app@db/app\nSESSION_SECRET=hunter2\n'],
    ['a package.json', '{\n  "name": "my-app",\n  "version": "1.0.0"\n}\n'],
    ['a note', 'remember to rotate the keys\n'],
  ])('KeyOwner.start refuses to overwrite %s, saying so, with adopt true or false', async (_, content) => {
    writeFileSync(file, content, { mode: 0o600 });
    for (const adopt of [true, false]) {
      await expect(start({ adopt })).rejects.toMatchObject({
        code: 'ERR_OTP_KEY_FOREIGN',
        message: `${file} is not a key file (it does not hold a key); it is never overwritten: move it away or choose another path for the key`,
      });
      expect(readFileSync(file, 'latin1')).toBe(content);
      expect(readdirSync(dir)).toEqual(['otp.key']);
    }
  });

  it('a running owner refuses to rotate over a file that replaced its key, and keeps serving', async () => {
    const owner = await start();
    const key = fileKey();
    replaceFile(file, 'API_TOKEN=abc\n');
    await expect(owner.rotate()).rejects.toMatchObject({ code: 'ERR_OTP_KEY_FOREIGN' });
    expect(readFileSync(file, 'latin1')).toBe('API_TOKEN=abc\n');
    expect(owner.verify(key.generate())).toBe(true);
  });

  it('the CLI refuses too', () => {
    writeFileSync(file, '{"name":"my-app"}\n');
    const result = spawnSync(process.execPath, [cli, 'rotate', '--key', file], { encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({
      status: 2,
      stderr: `totp-handshake: ${file} is not a key file (it does not hold a key); it is never overwritten: move it away or choose another path for the key\n`,
    });
    expect(readFileSync(file, 'latin1')).toBe('{"name":"my-app"}\n');
  });
});

describe('parameters a base32 line cannot carry', () => {
  it('an owner with SHA256 and 8 digits writes an otpauth URI, so that readers, the CLI and oathtool make its codes', async () => {
    const owner = await start({ totp: { digits: 8, algorithm: 'SHA256' } });
    expect(readFileSync(file, 'latin1')).toMatch(/^otpauth:\/\/totp\/totp-handshake\?secret=[A-Z2-7]{32}&algorithm=SHA256&digits=8&period=30\n$/);
    const reader = await KeyReader.open({ path: file, watch: false });
    closers.push(() => reader.close());
    expect(owner.check(reader.code())).toMatchObject({ ok: true });
    const code = execFileSync(process.execPath, [cli, 'code', '--key', file], { encoding: 'utf8' }).trim();
    expect(code).toHaveLength(8);
    expect(owner.verify(code)).toBe(true);
    if (available('oathtool') || inCi) {
      const key = fileKey();
      const oath = execFileSync('oathtool', ['--totp=SHA256', '--digits=8', '--base32', '-'], { input: key.toBase32(), encoding: 'utf8' }).trim();
      expect(owner.verify(oath)).toBe(true);
    }
  });

  it.each([
    [{ format: 'base32', totp: { digits: 8 } }, "format 'base32' cannot carry SHA1, 8 digits, 30 s"],
    [{ format: 'base32', totp: { algorithm: 'SHA512' } }, "format 'base32' cannot carry SHA512, 6 digits, 30 s"],
    [{ totp: { epoch: 100 } }, 'totp.epoch cannot be shared through a key file'],
  ])('refuses %j with ERR_OTP_OPTIONS', async (options, message) => {
    await expect(start(options as never)).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining(message) });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not adopt a base32 file that readers would read with other parameters: it writes its own URI', async () => {
    writeFileSync(file, `${TotpKey.random().toBase32()}\n`, { mode: 0o600 });
    const owner = await start({ totp: { digits: 8 } });
    expect(events.all.map((event) => [event.type, event.message?.replace(file, 'FILE')])).toEqual([
      ['error', 'the key file FILE is not adopted: it is a base32 line, which cannot tell readers these parameters; a new key replaces it'],
      ['rotate', 'wrote a new key to FILE (no valid key file to adopt)'],
    ]);
    expect(fileKey().id).toBe(owner.keyId);
    expect(fileKey().digits).toBe(8);
  });
});

describe.skipIf(!isRoot)('keys and locks of another user', () => {
  beforeEach(() => {
    // The owners in these tests run as OTHER, in a directory of their own.
    chownSync(dir, OTHER, OTHER);
  });

  const startOwnerAs = (extra = '') =>
    runAs(
      OTHER,
      `lib.KeyOwner.start({ path: process.argv[1], onEvent: (e) => console.log(JSON.stringify({ type: e.type, message: e.message })) }).then(
        async (owner) => { ${extra} console.log(JSON.stringify({ started: owner.keyId })); await owner.close(); },
        (error) => console.log(JSON.stringify({ failed: error.code, message: error.message })));`,
      [file],
      dir,
    );
  const lines = (output: string) => output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);

  it('`sudo totp-handshake rotate` keeps the key file\'s owner (and gives its lock to that owner too)', () => {
    runAs(OTHER, 'lib.KeyOwner.start({ path: process.argv[1] }).then((o) => o.close())', [file], dir);
    const before = statSync(file);
    expect(before.uid).toBe(OTHER);
    const result = execFileSync(process.execPath, [cli, 'rotate', '--key', file], { encoding: 'utf8' });
    expect(result).toMatch(/^rotated .*: new key [0-9a-f]{8}\n$/);
    const after = statSync(file);
    expect({ uid: after.uid, gid: after.gid, mode: after.mode & 0o777 }).toEqual({ uid: OTHER, gid: OTHER, mode: 0o600 });
    expect(after.ino).not.toBe(before.ino);
    // The owners adopt it again.
    expect(lines(startOwnerAs().stdout).at(-1)).toEqual({ started: fileKey().id });
  });

  it('the CLI run as a third user refuses, saying whose the key file is', () => {
    runAs(OTHER, 'lib.KeyOwner.start({ path: process.argv[1] }).then((o) => o.close())', [file], dir);
    chmodSync(dir, 0o777); // so that the third user could write, were it allowed
    const result = cliAs(NOBODY, ['rotate', '--key', file], dir);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`the key file ${file} belongs to uid ${OTHER}, and owners trust only a key file of their own user: run this command as that user`);
    expect(statSync(file).uid).toBe(OTHER);
  });

  it('a restarted owner replaces a root-owned key it cannot read (mode 0600) in its own directory', () => {
    writeFileSync(file, `${TotpKey.random().toBase32()}\n`, { mode: 0o600 });
    const result = lines(startOwnerAs().stdout);
    expect(result.at(-1)).toEqual({ started: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(result.find((line) => line.type === 'rotate')).toBeDefined();
    expect(statSync(file).uid).toBe(OTHER);
  });

  it('a restarted owner replaces a root-owned key it can read but does not trust', () => {
    writeFileSync(file, `${TotpKey.random().toBase32()}\n`, { mode: 0o644 });
    const result = lines(startOwnerAs().stdout);
    expect(result[0]).toMatchObject({ type: 'error', message: expect.stringContaining(`it is owned by uid 0, not by this process's uid ${OTHER}`) });
    expect(result.at(-1)).toEqual({ started: fileKey().id });
    expect(statSync(file).uid).toBe(OTHER);
  });

  it('a lock a killed root CLI left (0600, unreadable to the owners) turns stale, and owners rotate again', async () => {
    runAs(OTHER, 'lib.KeyOwner.start({ path: process.argv[1] }).then((o) => o.close())', [file], dir);
    const lock = `${file}.lock`;
    writeFileSync(lock, JSON.stringify({ pid: 999_999, host: 'elsewhere', time: Date.now(), token: 'root' }), { mode: 0o600 });
    const old = (Date.now() - 60_000) / 1000;
    execFileSync('touch', ['-d', `@${old}`, lock]);
    const result = lines(startOwnerAs('await owner.rotate();').stdout);
    expect(result.filter((line) => line.type === 'rotate')).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(['otp.key']);
  });
});

describe('rejectReplay through a grace key of another period', () => {
  it('refuses a replayed code of the replaced key for as long as that key is accepted', async () => {
    // The owner's key has 60 s steps; another writer puts a 30 s key in the file.
    const owner = await start({ totp: { period: 60 }, grace: 120_000 });
    const old = fileKey();
    const next = TotpKey.fromUri(`otpauth://totp/x?secret=${TotpKey.random().toBase32()}&period=30`);
    replaceFile(file, `${next.toUri('x')}\n`);
    await events.next('load', (event) => event.keyId === next.id);
    const server: TestServer = await (adapters.find(({ name }) => name === 'node:http') as (typeof adapters)[number]).start({ owner, rejectReplay: true });
    closers.push(() => server.close());
    const code = old.generate();
    expect((await send(server.port, { 'X-OTP': code })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await send(server.port, { 'X-OTP': code })).status).toBe(401);
  });
});

describe('options that would otherwise do nothing', () => {
  it.each([
    ['KeyOwner', () => KeyOwner.start({ path: file, rotate: 3_600_000 } as never), 'KeyOwner has no option "rotate" (did you mean rotateEvery?)'],
    ['KeyOwner', () => KeyOwner.start({ path: file, windw: 2 } as never), 'KeyOwner has no option "windw"; the options are path, rotateEvery, grace, adopt, removeOnClose, fileMode, format, totp, onEvent'],
    ['KeyOwner', () => KeyOwner.start({ path: file, totp: { digit: 8 } } as never), 'TOTP options has no option "digit" (did you mean digits?)'],
    ['KeyReader', () => KeyReader.open({ path: file, deleteAfterReed: true } as never), 'did you mean deleteAfterRead?'],
  ])('%s refuses a misspelt option, naming the closest', async (_, call, message) => {
    await expect(call()).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining(message) });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the guards refuse one too', () => {
    expect(() => otpCheck({ owner: { check: () => ({ ok: true }), timing: () => undefined }, windw: 2 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining('did you mean window?') }),
    );
    expect(() => otpCheck({ owner: { check: () => ({ ok: true }), timing: () => undefined }, maxFailure: 2 } as never)).toThrow(/did you mean maxFailures\?/);
  });

  it('TotpKey refuses one in its verify options', () => {
    const key = TotpKey.random();
    expect(() => key.verify('123456', { windw: 2 } as never)).toThrow(expect.objectContaining({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining('did you mean window?') }));
    expect(() => TotpKey.random({ digts: 8 } as never)).toThrow(/did you mean digits\?/);
  });

  it.each([
    [{ rotateEvery: 3600 }, 'rotateEvery is in milliseconds: 3600 would rotate every 3.6 s, more often than the 30 s TOTP period (did you mean 3600000?)'],
    [{ rotateEvery: 1 }, 'rotateEvery is in milliseconds'],
    [{ grace: 60 }, 'grace is in milliseconds: 60 would keep a replaced key for 60 ms'],
    [{ fileMode: 0o660 }, 'fileMode must not let group or others write the key file'],
    [{ fileMode: 0o200 }, 'fileMode must let the owner read the key file'],
  ])('KeyOwner refuses %j, a value too small or too open to be meant', async (options, message) => {
    await expect(start(options)).rejects.toMatchObject({ code: 'ERR_OTP_OPTIONS', message: expect.stringContaining(message) });
  });
});

describe('key identity', () => {
  /** Two random 20-byte secrets whose 32-bit key ids collide (a birthday search, ~2^16 tries). */
  function collidingSecrets(): [Buffer, Buffer] {
    const seen = new Map<string, Buffer>();
    for (;;) {
      const secret = randomBytes(20);
      const id = createHash('sha256').update('totp-handshake key id\0').update(secret).digest('hex').slice(0, 8);
      const other = seen.get(id);
      if (other !== undefined) return [other, secret];
      seen.set(id, secret);
    }
  }

  it('a new key whose 32-bit id collides with the current one is still a new key, for owners and readers', async () => {
    const [first, second] = collidingSecrets();
    const [a, b] = [TotpKey.fromBytes(first), TotpKey.fromBytes(second)];
    expect(a.id).toBe(b.id);
    expect(a.equals(b)).toBe(false);
    writeFileSync(file, `${a.toBase32()}\n`, { mode: 0o600 });
    const owner = await start();
    const reader = await KeyReader.open({ path: file });
    closers.push(() => reader.close());
    replaceFile(file, `${b.toBase32()}\n`);
    await events.next('load', (event) => event.keyId === b.id && event.at !== undefined);
    expect(owner.verify(b.generate())).toBe(true);
    await reader.reload();
    expect(reader.code()).toBe(b.generate());
  }, 30_000);
});

describe('the rotation lock', () => {
  it('a holder releasing its lock never removes one that another holder took in the meantime', async () => {
    const fsp = createRequire(__filename)('node:fs/promises') as typeof import('node:fs/promises');
    const held = await acquireLock(file);
    // Between the release's look at the lock and its removal, the lock changes hands (this holder
    // was judged stale, its lock broken and taken by another process).
    const another = JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), token: 'another holder' });
    const rm = fsp.rm;
    let swapped = false;
    const spy = vi.spyOn(fsp, 'rm').mockImplementation(async (target, options) => {
      if (!swapped) {
        swapped = true;
        writeFileSync(path.join(dir, 'next'), another);
        renameSync(path.join(dir, 'next'), `${file}.lock`);
      }
      return rm(target, options);
    });
    try {
      await held.release();
    } finally {
      spy.mockRestore();
    }
    expect(swapped).toBe(true);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(another);
  });
});
