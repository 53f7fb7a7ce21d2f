// The `totp-handshake` command (SPEC §5), run as users run it: exit codes, one-line errors on
// stderr, no secret in any output, rotation picked up by running owners and readers, the demo.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { KeyOwner, KeyReader, TotpKey } from 'totp-handshake';
import { parseKeyFile } from '../dist/handshake/keyfile.js';
import { acquireLock } from '../dist/handshake/lock.js';
import { cli, Events, expectNoSecrets, secretsOf, tempDir } from './helpers/handshake-fs.js';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

let dir: string;
let file: string;
let cleanup: () => void;
beforeEach(() => ({ dir, file, cleanup } = tempDir('otp-cli')));
afterEach(() => cleanup());

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return runWith({}, ...args);
}

function runWith(options: { input?: string; uid?: number; gid?: number }, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir, timeout: 30_000, ...options });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runAsync(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : ((error as { code?: number }).code ?? null), stdout, stderr });
    });
  });
}

const fileKey = () => parseKeyFile(readFileSync(file, 'latin1'), file).key;
/** The codes a key makes around now: a CLI run may cross a step boundary. */
const codesAround = (key: TotpKey) => [-1, 0, 1].map((step) => key.generate(Date.now() + step * 30_000));

describe('rotate', () => {
  it('writes a fresh base32 key with mode 0600 and prints its id, not the key', () => {
    const { status, stdout, stderr } = run('rotate', '--key', 'otp.key');
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    const key = fileKey();
    expect(stdout).toBe(`rotated ${file}: new key ${key.id}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expectNoSecrets([stdout], secretsOf([key]));
    expect(run('rotate', '-k', file).status).toBe(0);
    expect(fileKey().id).not.toBe(key.id);
  });

  it("keeps a URI file's algorithm, digits, period, format and mode; --format converts", () => {
    writeFileSync(file, `otpauth://totp/x?secret=${SECRET}&algorithm=SHA256&digits=8&period=60\n`);
    chmodSync(file, 0o640);
    expect(run('rotate', '--key', file).status).toBe(0);
    expect(readFileSync(file, 'latin1')).toMatch(/^otpauth:\/\/totp\/totp-handshake\?secret=[A-Z2-7]{32}&algorithm=SHA256&digits=8&period=60\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(run('rotate', '--key', file, '--format', 'base32').status).toBe(0);
    expect(readFileSync(file, 'latin1')).toMatch(/^[A-Z2-7]{32}\n$/);
    expect(run('rotate', '--key', file, '--format', 'uri').status).toBe(0);
    expect(readFileSync(file, 'latin1')).toMatch(/&algorithm=SHA1&digits=6&period=30\n$/);
  });

  it('waits for the lock the owners use', async () => {
    writeFileSync(file, `${SECRET}\n`);
    const lock = await acquireLock(file);
    const rotating = runAsync('rotate', '--key', file);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(readFileSync(file, 'latin1')).toBe(`${SECRET}\n`);
    await lock.release();
    expect((await rotating).status).toBe(0);
    expect(fileKey().id).not.toBe(TotpKey.fromBase32(SECRET).id);
  });

  it('is picked up by a running owner and reader, with no valid code refused', async () => {
    const events = new Events();
    const owner = await KeyOwner.start({ path: file, format: 'uri', totp: { algorithm: 'SHA256', digits: 8 }, onEvent: events.listener });
    const reader = await KeyReader.open({ path: file, onEvent: events.listener });
    try {
      expect(owner.check(reader.code())).toMatchObject({ ok: true });
      events.mark();
      const { status, stdout } = await runAsync('rotate', '--key', file);
      expect(status).toBe(0);
      const keyId = /new key ([0-9a-f]{8})/.exec(stdout)?.[1];
      // The reader may not have seen the new file yet: its code still passes (grace), and the
      // new key's code passes at once (the owner re-reads a changed file on a failed code).
      expect(owner.check(reader.code())).toMatchObject({ ok: true });
      expect(owner.check(fileKey().generate())).toMatchObject({ ok: true, keyId });
      await events.next('load', (event) => event.keyId === keyId && event.message === `read a key from ${file}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events.since('load').map((event) => event.keyId)).toEqual([keyId, keyId]);
      expect(events.since('rotate')).toEqual([]);
      expect(reader.keyId).toBe(keyId);
      expect(reader.code()).toHaveLength(8);
      expect(owner.check(reader.code())).toMatchObject({ ok: true, keyId });
    } finally {
      reader.close();
      await owner.close();
    }
  });
});

describe('code and verify', () => {
  it('code prints the current code of a base32 or URI key file', () => {
    writeFileSync(file, `${SECRET}\n`);
    const { status, stdout } = run('code', '--key', file);
    expect(status).toBe(0);
    expect(codesAround(fileKey())).toContain(stdout.trim());
    writeFileSync(file, `otpauth://totp/x?secret=${SECRET}&digits=7\n`);
    expect(run('code', '--key', file).stdout).toMatch(/^[0-9]{7}\n$/);
  });

  it('verify: exit 0 for a valid code, 1 for a wrong or malformed one', () => {
    writeFileSync(file, `${SECRET}\n`);
    const key = fileKey();
    const valid = run('verify', key.generate(), '--key', file);
    expect(valid).toEqual({ status: 0, stdout: expect.stringMatching(/^valid \((the current step|1 step old)\)\n$/), stderr: '' });
    const wrong = String((Number(key.generate()) + 500_000) % 1_000_000).padStart(6, '0');
    expect(run('verify', wrong, '--key', file)).toEqual({ status: 1, stdout: '', stderr: 'totp-handshake: invalid code\n' });
    expect(run('verify', '12ab56', '--key', file)).toEqual({ status: 1, stdout: '', stderr: 'totp-handshake: invalid code: a code is 6 digits\n' });
  });

  it('verify - reads the code from standard input, where ps cannot see it', () => {
    writeFileSync(file, `${SECRET}\n`);
    const key = fileKey();
    const valid = runWith({ input: `${key.generate()}\n` }, 'verify', '-', '--key', file);
    expect(valid).toEqual({ status: 0, stdout: expect.stringMatching(/^valid \((the current step|1 step old)\)\n$/), stderr: '' });
    const wrong = String((Number(key.generate()) + 500_000) % 1_000_000).padStart(6, '0');
    expect(runWith({ input: wrong }, 'verify', '-', '--key', file)).toEqual({ status: 1, stdout: '', stderr: 'totp-handshake: invalid code\n' });
    expect(runWith({ input: '' }, 'verify', '-', '--key', file)).toEqual({ status: 1, stdout: '', stderr: 'totp-handshake: invalid code: a code is 6 digits\n' });
  });

  it('verify --window widens or narrows the steps accepted', () => {
    writeFileSync(file, `${SECRET}\n`);
    const old = fileKey().generate(Date.now() - 60_000);
    expect(run('verify', old, '--key', file, '--window', '3').stdout).toMatch(/^valid \([23] steps old\)\n$/);
    expect(run('verify', old, '--key', file, '-w', '0').status).toBe(1);
  });
});

describe('a reader that closes the pipe early (`code --key K | head -c0`)', () => {
  /** Runs the command with its stdout pipe closed on this side before it writes: its write fails with EPIPE. */
  async function runClosed(...args: string[]): Promise<{ status: number | null; stderr: string }> {
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.destroy();
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [status] = (await once(child, 'close')) as [number | null];
    return { status, stderr };
  }

  it.each([
    ['code', ['code', '--key', 'otp.key'], 0],
    ['verify (valid)', ['verify', '', '--key', 'otp.key'], 0],
    ['verify (invalid)', ['verify', '000000', '--key', 'otp.key', '--window', '0'], 1],
    ['rotate', ['rotate', '--key', 'otp.key'], 0],
  ])('%s exits quietly with its own status, no stack trace', async (_, args, status) => {
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const key = fileKey();
    const argv = args.map((arg) => (arg === '' ? key.generate() : arg));
    // 000000 is the current code once in a million: then verify says valid.
    const expected = argv[1] === '000000' && key.check('000000', { window: 0 }) !== null ? 0 : status;
    const result = await runClosed(...argv);
    expect(result).toEqual({ status: expected, stderr: status === 1 ? 'totp-handshake: invalid code\n' : '' });
  });
});

describe('mistakes: exit 2, one line on stderr, no stack trace', () => {
  it.each([
    [[], "a command is needed (see 'totp-handshake --help')"],
    [['bogus'], "unknown command (see 'totp-handshake --help')"],
    // A code typed in the wrong place is never echoed.
    [['492039', '--key', 'otp.key'], "unknown command (see 'totp-handshake --help')"],
    [['verify', '--key', 'otp.key', '-492039'], "unknown option (see 'totp-handshake verify --help')"],
    [['code'], "--key PATH is required (see 'totp-handshake code --help')"],
    [['code', '--key'], "--key needs a value (see 'totp-handshake code --help')"],
    [['code', '--key', 'otp.key', '--secret=JBSWY3DPEHPK3PXP'], "unknown option --secret (see 'totp-handshake code --help')"],
    [['code', '--key', 'otp.key', '123456'], "unexpected extra argument (see 'totp-handshake code --help')"],
    [['verify', '--key', 'otp.key'], "CODE is required (see 'totp-handshake verify --help')"],
    [['verify', '123456', '--key', 'otp.key', '--window', '11'], "--window must be a whole number from 0 to 10 (see 'totp-handshake verify --help')"],
    [['rotate', '--key', 'otp.key', '--format', 'pem'], "--format must be 'base32' or 'uri' (see 'totp-handshake rotate --help')"],
    [['code', '--key', 'otp.key'], 'there is no key file at <dir>/otp.key'],
    [['verify', '123456', '--key', 'otp.key'], 'there is no key file at <dir>/otp.key'],
    [['rotate', '--key', 'none/otp.key'], 'the lock file <dir>/none/otp.key.lock cannot be created (<dir>/none does not exist)'],
  ])('%j', (args, message) => {
    const { status, stdout, stderr } = run(...args);
    expect({ status, stdout, stderr }).toEqual({ status: 2, stdout: '', stderr: `totp-handshake: ${message.replaceAll('<dir>', dir)}\n` });
  });

  it('a malformed or unreadable key file', () => {
    writeFileSync(file, `${SECRET.slice(0, 20)}\n`);
    const short = run('code', '--key', file);
    expect(short.status).toBe(2);
    expect(short.stderr).toMatch(/^totp-handshake: the key file .* does not hold a valid key: a TOTP secret must be at least 16 bytes.*\n$/);
    expectNoSecrets([short.stderr], [SECRET.slice(0, 20)]);
    mkdirSync(path.join(dir, 'd'));
    expect(run('code', '--key', 'd')).toMatchObject({ status: 2, stderr: `totp-handshake: the key file ${dir}/d does not hold a valid key: it is not a regular file\n` });
  });
});

describe('--help', () => {
  it.each(['--help', '-h', 'help', 'help verify', 'rotate --help', 'code -h', 'verify --help', 'demo --help'])('%s', (line) => {
    const args = line.split(' ');
    const { status, stdout, stderr } = run(...args);
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    const command = args.find((arg) => ['rotate', 'code', 'verify', 'demo'].includes(arg));
    expect(stdout).toMatch(new RegExp(`^Usage: totp-handshake ${command ?? '<command>'}`));
  });
});

describe('demo', () => {
  it('shows accepted requests, a rotation with nothing refused and a 401, then cleans up and exits 0', async () => {
    const { status, stdout, stderr } = await runAsync('demo');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toMatch(/3 requests with the current code: 200, 200, 200 \(accepted\)/);
    expect(stdout).toMatch(/rotated the key: ([0-9a-f]{8}) -> ([0-9a-f]{8}); \1 stays valid for 60 s/);
    expect(stdout).toMatch(/switched to key [0-9a-f]{8}/);
    expect(stdout).toMatch(/\d+ requests came in while the key changed: \d+ accepted, 0 refused/);
    expect(stdout).toContain('a request over TCP with a wrong code: 401 {"error":"Invalid OTP"} (refused)');
    expect(stdout).toContain('calls the API over its socket');
    const shared = /Shared directory: (\S+)/.exec(stdout)?.[1] as string;
    expect(existsSync(shared)).toBe(false);
    // Nothing that looks like a secret (a base32 run) or a code (six digits outside ids and ports).
    expect(stdout).not.toMatch(/[A-Z2-7]{16}/);
    expect(stdout.replace(/key [0-9a-f]{8}|\(id [0-9a-f]{8}\)|[0-9a-f]{8} (->|stays)|-> [0-9a-f]{8}|:\d{4,5}\//g, '')).not.toMatch(/\b\d{6}\b/);
  }, 60_000);

  it('on SIGINT stops both processes and removes its directory', async () => {
    const demo = spawn(process.execPath, [cli, 'demo'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const started = new Promise<void>((resolve) => {
      demo.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('[client]')) resolve();
      });
    });
    await started;
    demo.kill('SIGINT');
    const [code] = await once(demo, 'exit');
    expect(code).toBe(130);
    const shared = /Shared directory: (\S+)/.exec(out)?.[1] as string;
    expect(existsSync(shared)).toBe(false);
    expect(spawnSync('pgrep', ['-f', shared]).stdout.toString()).toBe('');
  }, 60_000);
});
