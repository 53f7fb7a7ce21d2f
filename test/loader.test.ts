// The one loader: TOTP_HANDSHAKE_BACKEND, fallback when the addon is missing, the reason recorded.
// Each case runs in a fresh Node process, as the choice is made once at load.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { backend, engineInfo } from 'totp-handshake';
import { nativeEngine } from '../dist/engine/index.js';
import { type Addon, checkAddon } from '../dist/engine/native.js';
import { FINGERPRINT_SLOT, SCRATCH_SLOTS } from '../dist/engine/types.js';
import { MAX_SECRET_BYTES, MAX_WINDOW, MIN_SECRET_BYTES } from '../dist/options.js';
import { inCi } from './helpers/engines.js';

const root = path.resolve(__dirname, '..');
const probe = `const t = require('totp-handshake');
const k = t.TotpKey.fromBase32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
console.log(JSON.stringify({ backend: t.backend, reason: t.engineInfo.reason, code: k.generate(59000) }));`;

function runProbe(cwd: string, backendEnv: string | undefined) {
  const env = { ...process.env };
  delete env.TOTP_HANDSHAKE_BACKEND;
  if (backendEnv !== undefined) env.TOTP_HANDSHAKE_BACKEND = backendEnv;
  return spawnSync(process.execPath, ['-e', probe], { cwd, env, encoding: 'utf8' });
}

// A copy of the package without build/ or prebuilds/: what a user gets when the compile failed.
const noAddon = mkdtempSync(path.join(tmpdir(), 'totp-no-addon-'));
cpSync(path.join(root, 'dist'), path.join(noAddon, 'node_modules/totp-handshake/dist'), { recursive: true });
cpSync(path.join(root, 'package.json'), path.join(noAddon, 'node_modules/totp-handshake/package.json'));
symlinkSync(path.join(root, 'node_modules/node-gyp-build'), path.join(noAddon, 'node_modules/node-gyp-build'));
afterAll(() => rmSync(noAddon, { recursive: true, force: true }));

describe('engine choice', () => {
  it('refuses an unknown TOTP_HANDSHAKE_BACKEND value at load, with ERR_OTP_BACKEND', () => {
    const result = runProbe(root, 'fast');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('ERR_OTP_BACKEND');
    expect(result.stderr).toContain('TOTP_HANDSHAKE_BACKEND must be "native" or "js"');
  });

  it('makes a missing addon a load-time error under TOTP_HANDSHAKE_BACKEND=native, saying why', () => {
    const result = runProbe(noAddon, 'native');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('ERR_OTP_BACKEND');
    expect(result.stderr).toMatch(/the addon cannot load: .*No native build was found/);
  });

  it('falls back to node:crypto when the addon is missing, with the same codes and the reason', () => {
    const result = runProbe(noAddon, undefined);
    expect(result.status).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ backend: 'js', code: '287082' });
    expect(out.reason).toMatch(/^the native addon is unavailable: No native build was found/);
  });

  it('uses node:crypto under TOTP_HANDSHAKE_BACKEND=js without loading the addon', () => {
    const result = runProbe(root, 'js');
    expect(JSON.parse(result.stdout)).toEqual({ backend: 'js', reason: 'TOTP_HANDSHAKE_BACKEND=js', code: '287082' });
  });

  it.runIf(nativeEngine !== undefined)('uses the addon under TOTP_HANDSHAKE_BACKEND=native when it loads', () => {
    const result = runProbe(root, 'native');
    expect(JSON.parse(result.stdout)).toEqual({ backend: 'native', reason: 'TOTP_HANDSHAKE_BACKEND=native', code: '287082' });
  });

  it('reports the engine this process runs, consistently', () => {
    expect(backend).toBe(engineInfo.backend);
    expect(backend).toBe(nativeEngine === undefined ? 'js' : 'native');
    if (inCi) expect(backend, 'in CI the native addon must load').toBe('native');
    if (backend === 'native') expect(engineInfo.cpu?.sha1).toMatch(/^(sha-ni|armv8|portable)$/);
  });

  it('loads the same module instance through import and require', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import { TotpKey } from 'totp-handshake'; import { createRequire } from 'node:module'; const r = createRequire(import.meta.url); console.log(r('totp-handshake').TotpKey === TotpKey)"],
      { cwd: root, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('true');
  });
});

describe('the addon check at load', () => {
  const require_ = createRequire(__filename);
  const addon = () => require_('node-gyp-build')(root) as Addon;

  it('refuses an addon built from other sources (a stale build/ or prebuild), saying how to fix it', () => {
    for (const interfaceVersion of [undefined, 1, 2, 4]) {
      expect(() => checkAddon({ ...addon(), interfaceVersion } as Addon)).toThrow(/built from other sources .*npm rebuild totp-handshake/);
    }
  });

  it('refuses an addon whose limits are not this package\'s: the window and secret lengths are stated once on each side, and checked', () => {
    const real = addon();
    const mismatches: [Partial<Addon>, RegExp][] = [
      [{ maxWindow: MAX_WINDOW + 1 }, /maxWindow is 11, this package's is 10/],
      [{ maxWindow: undefined }, /maxWindow is undefined/],
      [{ minSecretBytes: MIN_SECRET_BYTES - 1 }, /minSecretBytes/],
      [{ maxSecretBytes: MAX_SECRET_BYTES * 2 }, /maxSecretBytes/],
    ];
    for (const [change, message] of mismatches) expect(() => checkAddon({ ...real, ...change } as Addon)).toThrow(message);
  });

  it('refuses an addon whose exchange buffers are not the length or type the engine expects', () => {
    const real = addon();
    const buffers: [Partial<Addon>, RegExp][] = [
      [{ scratch: new Int32Array(SCRATCH_SLOTS - 1) }, /scratch array is not an Int32Array of 22/],
      [{ scratch: new Int32Array(SCRATCH_SLOTS + 1) }, /scratch array/],
      [{ scratch: new Float64Array(SCRATCH_SLOTS) as unknown as Int32Array }, /scratch array/],
      [{ args: new Float64Array(4) }, /args array is not a Float64Array of 8/],
      [{ args: new Int32Array(8) as unknown as Float64Array }, /args array/],
    ];
    for (const [change, message] of buffers) expect(() => checkAddon({ ...real, ...change } as Addon)).toThrow(message);
  });

  it('refuses an addon that gets an RFC 6238 answer wrong, for any of the three algorithms and any entry point', () => {
    for (const broken of [0, 1, 2]) {
      const real = addon();
      // The key's algorithm, from createKey's args, by handle.
      const algorithms = new Map<number, number>();
      const createKey: Addon['createKey'] = (secret) => {
        const algorithm = real.args[3] as number;
        const key = real.createKey(secret);
        algorithms.set(key, algorithm);
        return key;
      };
      const codeAt: Addon['codeAt'] = () => {
        const code = real.codeAt();
        return algorithms.get(real.args[3] as number) === broken ? (code + 1) % 1e8 : code;
      };
      expect(() => checkAddon({ ...real, createKey, codeAt })).toThrow('the native addon failed its RFC 6238 self-test');
      const codeOnce: Addon['codeOnce'] = (secret) => {
        const algorithm = real.args[3];
        const code = real.codeOnce(secret);
        return algorithm === broken ? (code + 1) % 1e8 : code;
      };
      expect(() => checkAddon({ ...real, codeOnce })).toThrow('the native addon failed its RFC 6238 self-test');
    }
    const real = addon();
    // A key whose secret comes back a byte short, or a fingerprint that is not the js engine's.
    const secretOf: Addon['secretOf'] = () => real.secretOf().subarray(1);
    expect(() => checkAddon({ ...real, secretOf })).toThrow('self-test');
    const createKey: Addon['createKey'] = (secret) => {
      const key = real.createKey(secret);
      real.scratch[FINGERPRINT_SLOT] = (real.scratch[FINGERPRINT_SLOT] as number) ^ 1;
      return key;
    };
    expect(() => checkAddon({ ...real, createKey })).toThrow('self-test');
  });

  it('accepts the addon built from these sources', () => {
    expect(() => checkAddon(addon())).not.toThrow();
  });
});
