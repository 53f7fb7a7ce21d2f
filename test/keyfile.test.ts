// The key file (SPEC §3): what it holds, what a reader refuses, and how it is replaced: with its
// mode set before the secret is written, never half-written, never leaving a temp file behind.
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { type AuditEvent, KeyOwner, TotpKey } from 'totp-handshake';
import { formatKeyFile, parseKeyFile, readKeyFile, readOwnKeyFile, readOwnKeyFileSync, writeKeyFile } from '../dist/handshake/keyfile.js';
import { expectNoSecrets, secretsOf, tempDir, tryMount, unmount } from './helpers/handshake-fs.js';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // "12345678901234567890", the RFC 6238 SHA-1 key
const T = 59_000;

let dir: string;
let file: string;
let cleanup: () => void;
beforeEach(() => ({ dir, file, cleanup } = tempDir('otp-keyfile')));
afterEach(() => {
  vi.useRealTimers();
  cleanup();
});

function malformed(text: string): Error & { code?: string } {
  try {
    parseKeyFile(text, '/run/otp.key').key.destroy();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the content to be refused');
}

describe('parsing', () => {
  it.each([
    ['a base32 line with a newline', `${SECRET}\n`],
    ['CRLF and surrounding blanks', `  ${SECRET} \r\n`],
    ['lower case', SECRET.toLowerCase()],
    ['a byte-order mark', `\ufeff${SECRET}`],
    ['padding', `${SECRET.slice(0, 26)}======`],
  ])('reads %s', (_, text) => {
    const { key, format } = parseKeyFile(text, '/run/otp.key');
    expect(format).toBe('base32');
    expect(key.generate(T)).toBe(text.includes('=') ? TotpKey.fromBase32(SECRET.slice(0, 26)).generate(T) : '287082');
  });

  it('reads an otpauth URI with its own algorithm, digits and period', () => {
    const { key, format } = parseKeyFile(`otpauth://totp/api?secret=${SECRET}&algorithm=SHA1&digits=8&period=30\n`, '/run/otp.key');
    expect(format).toBe('uri');
    expect(key.generate(T)).toBe('94287082');
  });

  it('gives a base32 line the parameters it cannot carry', () => {
    expect(parseKeyFile(SECRET, 'f', { digits: 8 }).key.generate(T)).toBe('94287082');
  });

  it.each([
    ['empty', '', 'it is empty'],
    ['blank', ' \n\n', 'it is empty'],
    ['two lines', `${SECRET}\n${SECRET}`, 'it holds more than one line'],
    ['too short (15 bytes)', 'GEZDGNBVGY3TQOJQGEZDGNBV', 'at least 16 bytes'],
    ['not base32', `${SECRET.slice(0, 31)}!`, 'an invalid base32 character at position 31'],
    ['a HOTP URI', `otpauth://hotp/x?secret=${SECRET}`, 'HOTP URIs are not supported'],
    ['a URI with a short secret', 'otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBV', 'at least 16 bytes'],
    ['a URI with 9 digits', `otpauth://totp/x?secret=${SECRET}&digits=9`, 'digits must be 6, 7 or 8'],
  ])('refuses a file that is %s, naming the file, never the content', (_, text, why) => {
    const error = malformed(text);
    expect(error.code).toBe('ERR_OTP_KEY_MALFORMED');
    expect(error.message).toContain('the key file /run/otp.key does not hold a valid key: ');
    expect(error.message).toContain(why);
    expectNoSecrets([error], [SECRET, SECRET.slice(0, 24), SECRET.toLowerCase()]);
  });
});

describe('formatting', () => {
  it('writes base32 on one line without padding (what oathtool -b reads), or an otpauth URI', () => {
    const key = TotpKey.fromBase32(SECRET.slice(0, 26));
    expect(formatKeyFile(key, 'base32').toString()).toBe(`${SECRET.slice(0, 26)}\n`);
    expect(formatKeyFile(key, 'uri').toString()).toMatch(/^otpauth:\/\/totp\/totp-handshake\?secret=[A-Z2-7]{26}&algorithm=SHA1&digits=6&period=30\n$/);
  });
});

describe('reading', () => {
  it('reports a missing file as ERR_OTP_KEY_MISSING, also under a missing directory', async () => {
    await expect(readKeyFile(file)).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MISSING', message: `there is no key file at ${file}` });
    await expect(readKeyFile(path.join(dir, 'gone', 'otp.key'))).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MISSING' });
  });

  it('refuses a directory, a FIFO (without blocking on it) and a huge file', async () => {
    mkdirSync(file);
    await expect(readKeyFile(file)).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MALFORMED', message: expect.stringContaining('not a regular file') });
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readKeyFile(fifo)).rejects.toMatchObject({ message: expect.stringContaining('not a regular file') });
    const huge = path.join(dir, 'huge');
    writeFileSync(huge, 'A'.repeat(1 << 20));
    await expect(readKeyFile(huge)).rejects.toMatchObject({ code: 'ERR_OTP_KEY_MALFORMED', message: expect.stringContaining('larger than') });
  });

  it('a failing close never replaces the error that ended a read (the owner\'s synchronous read)', () => {
    const fs = createRequire(__filename)('node:fs') as typeof import('node:fs');
    writeFileSync(file, 'not base32!\n', { mode: 0o600 });
    const failingClose = () =>
      vi.spyOn(fs, 'closeSync').mockImplementation(() => {
        throw Object.assign(new Error('EIO: i/o error, close'), { code: 'EIO' });
      });
    let close = failingClose();
    try {
      expect(() => readOwnKeyFileSync(file)).toThrow(expect.objectContaining({ code: 'ERR_OTP_KEY_MALFORMED' }));
      expect(close).toHaveBeenCalled();
      close.mockRestore();
      writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
      close = failingClose();
      expect(readOwnKeyFileSync(file).key.generate(T)).toBe('287082');
    } finally {
      close.mockRestore();
    }
  });

  it('reads as a reader and as an owner alike, with the version it read', async () => {
    writeFileSync(file, `\ufeff${SECRET}\r\n`, { mode: 0o600 });
    const [a, b] = [await readKeyFile(file), await readOwnKeyFile(file)];
    expect([a.key.id, a.format, a.version]).toEqual([b.key.id, b.format, b.version]);
    expect(a.version).toBe(`${statSync(file).dev}:${statSync(file).ino}:${statSync(file).size}:${statSync(file).mtimeMs}:${statSync(file).ctimeMs}`);
    expect(a.key.generate(T)).toBe('287082');
  });
});

describe('atomic replacement', () => {
  const modeOf = (target: string) => statSync(target).mode & 0o777;

  it.each([
    [0o600, 0o022],
    [0o640, 0o077],
    [0o644, 0o000],
    [0o400, 0o277],
  ])('creates the file with mode %s whatever the umask (%s)', async (mode, umask) => {
    const old = process.umask(umask);
    try {
      await writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: mode });
    } finally {
      process.umask(old);
    }
    expect(modeOf(file)).toBe(mode);
  });

  it('replaces an existing file, resetting a wider mode, and leaves no temp file', async () => {
    writeFileSync(file, `${SECRET}\n`, { mode: 0o666 });
    chmodSync(file, 0o666);
    const key = TotpKey.random();
    const stats = await writeKeyFile(file, key, { format: 'base32', mode: 0o600 });
    expect(readFileSync(file, 'latin1')).toBe(`${key.toBase32()}\n`);
    expect(modeOf(file)).toBe(0o600);
    expect(stats?.ino).toBe(statSync(file).ino);
    expect(readdirSync(dir)).toEqual(['otp.key']);
  });

  it('removes temp files and set-aside locks a killed process left, once they are a minute old', async () => {
    const ours = ['.otp.key.0123456789ab.tmp', '.otp.key.0123456789ab.claimed', 'otp.key.lock.0123456789ab.stale'];
    const others = ['.otp.key.backup', 'other.0123456789ab.tmp'];
    for (const name of [...ours, ...others]) writeFileSync(path.join(dir, name), 'x');
    await writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 });
    expect(readdirSync(dir).sort()).toEqual([...ours, ...others, 'otp.key'].sort()); // a write may be in progress

    // The files' times come from the kernel's clock; ctime cannot be set back, so the clock moves on.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    await writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 });
    expect(readdirSync(dir).sort()).toEqual([...others, 'otp.key'].sort());
  });

  it('keeps a reader\'s fresh claim, though the claimed file keeps the key file\'s old mtime', async () => {
    const claimed = path.join(dir, '.otp.key.0123456789ab.claimed');
    writeFileSync(path.join(dir, 'old'), 'x');
    const old = Date.now() / 1000 - 120;
    utimesSync(path.join(dir, 'old'), old, old);
    renameSync(path.join(dir, 'old'), claimed); // what KeyReader does with deleteAfterRead
    expect(Date.now() - statSync(claimed).mtimeMs).toBeGreaterThan(60_000);
    await writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 });
    expect(readdirSync(dir).sort()).toEqual(['.otp.key.0123456789ab.claimed', 'otp.key']);
  });

  it('fails with ERR_OTP_KEY_IO, leaving the target and no temp file, when the rename fails', async () => {
    writeFileSync(file, `${SECRET}\n`);
    vi.spyOn(fsp, 'rename').mockRejectedValueOnce(Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' }));
    await expect(writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('EXDEV') });
    expect(readdirSync(dir)).toEqual(['otp.key']);
    expect(readFileSync(file, 'latin1')).toBe(`${SECRET}\n`);
  });

  describe('never replaces what is not a key file', () => {
    it.each([
      ['a .env file', 'DATABASE_URL=postgres://app@db/app\nSECRET_KEY=hunter2\n'],
      ['a package.json', '{\n  "name": "app",\n  "version": "1.0.0"\n}\n'],
      ['one line of prose', 'not a key\n'],
      ['a single KEY=value line', 'SECRET=abc\n'],
      ['binary data', '\u0000\u0001\u0002garbage'],
    ])('refuses to overwrite %s with ERR_OTP_KEY_FOREIGN, leaving it as it was', async (_, content) => {
      writeFileSync(file, content);
      await expect(writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 })).rejects.toMatchObject({
        code: 'ERR_OTP_KEY_FOREIGN',
        message: `${file} is not a key file (it does not hold a key); it is never overwritten: move it away or choose another path for the key`,
      });
      expect(readFileSync(file, 'latin1')).toBe(content);
      expect(readdirSync(dir)).toEqual(['otp.key']);
    });

    it('refuses a directory and a FIFO, and a file larger than any key file', async () => {
      mkdirSync(file);
      await expect(writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_FOREIGN', message: expect.stringContaining('not a regular file') });
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      await expect(writeKeyFile(fifo, TotpKey.random(), { format: 'base32', mode: 0o600 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_FOREIGN' });
      const big = path.join(dir, 'big');
      writeFileSync(big, `${SECRET}\n`.repeat(1000));
      await expect(writeKeyFile(big, TotpKey.random(), { format: 'base32', mode: 0o600 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_FOREIGN', message: expect.stringContaining('larger than') });
    });

    it.each([
      ['a key of its own', `${SECRET}\n`],
      ['an otpauth URI', `otpauth://totp/x?secret=${SECRET}&digits=8\n`],
      ['a key too short for this package (10 bytes, from another tool)', 'GEZDGNBVGY3TQOJQ\n'],
      ['an empty file', ''],
    ])('replaces %s', async (_, content) => {
      writeFileSync(file, content);
      const key = TotpKey.random();
      await writeKeyFile(file, key, { format: 'base32', mode: 0o600 });
      expect(readFileSync(file, 'latin1')).toBe(`${key.toBase32()}\n`);
    });

    it('replaces a symbolic link itself, leaving what it points at alone', async () => {
      const target = path.join(dir, 'config.json');
      writeFileSync(target, '{"keep": true}');
      symlinkSync(target, file);
      await writeKeyFile(file, TotpKey.random(), { format: 'base32', mode: 0o600 });
      expect(lstatSync(file).isFile()).toBe(true);
      expect(readFileSync(target, 'latin1')).toBe('{"keep": true}');
    });
  });

  it('fails with ERR_OTP_KEY_IO saying so when the directory does not exist', async () => {
    const error = await writeKeyFile(path.join(dir, 'no', 'otp.key'), TotpKey.random(), 'base32', 0o600).catch((e: Error) => e);
    expect(error).toMatchObject({ code: 'ERR_OTP_KEY_IO', message: `the key file ${dir}/no/otp.key cannot be written (${dir}/no does not exist)` });
  });

  it('on a full disk (ENOSPC, a 16 KiB tmpfs) keeps the old file whole and leaves no temp file', async (context) => {
    const small = path.join(dir, 'small');
    mkdirSync(small);
    if (!tryMount(['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', small])) return context.skip('mount is not permitted here');
    try {
      const target = path.join(small, 'otp.key');
      writeFileSync(target, `${SECRET}\n`);
      try {
        writeFileSync(path.join(small, 'filler'), Buffer.alloc(64 * 1024));
      } catch {
        // Full, as intended.
      }
      const key = TotpKey.random({ bytes: 1024 });
      await expect(writeKeyFile(target, key, { format: 'base32', mode: 0o600 })).rejects.toMatchObject({ code: 'ERR_OTP_KEY_IO', message: expect.stringContaining('ENOSPC') });
      expect(readFileSync(target, 'latin1')).toBe(`${SECRET}\n`);
      expect(readdirSync(small).sort()).toEqual(['filler', 'otp.key']);
    } finally {
      unmount(small);
    }
  });

  it('a reader looping in another process through 1,000 rotations never reads a partial or invalid key', async () => {
    const events: AuditEvent[] = [];
    const owner = await KeyOwner.start({ path: file, onEvent: (event) => events.push(event) });
    const reader = fork(path.join(__dirname, 'helpers/handshake-read-loop.mjs'), [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      await once(reader, 'message');
      for (let i = 0; i < 1000; i++) await owner.rotate();
      reader.send('stop');
      const [report] = (await once(reader, 'message')) as [{ reads: number; missing: number; invalid: number; ids: string[] }];
      const written = new Set(events.filter((event) => event.type === 'rotate').map((event) => event.keyId));
      expect(written.size).toBe(1001);
      expect(report.reads).toBeGreaterThan(0);
      expect({ missing: report.missing, invalid: report.invalid }).toEqual({ missing: 0, invalid: 0 });
      // A truncated line can still decode as a (different) long-enough key: every key read must be one written.
      expect(report.ids.filter((id) => !written.has(id))).toEqual([]);
      expect(readdirSync(dir).sort()).toEqual(['otp.key']);
      console.info(`atomicity: ${report.reads} reads, ${report.ids.length} distinct keys seen, 1000 rotations`);
    } finally {
      reader.kill();
      await owner.close();
    }
  }, 300_000);

  it('never writes the secret anywhere but the file: no event or error holds it', async () => {
    const events: AuditEvent[] = [];
    const owner = await KeyOwner.start({ path: file, onEvent: (event) => events.push(event) });
    const key = TotpKey.fromBase32(readFileSync(file, 'latin1').trim());
    const error = await writeKeyFile(path.join(dir, 'no', 'k'), key, 'uri', 0o600).catch((e: Error) => e);
    await owner.close();
    expectNoSecrets([...events, error], secretsOf([key]));
  });
});
