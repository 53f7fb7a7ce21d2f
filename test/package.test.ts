// Test what we publish: pack the package, install the tarball into a fresh project the way a
// user does, and load it by ESM and CommonJS, with types, through every subpath export.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'totp-pack-'));
const SUBPATHS = [
  'totp-handshake',
  'totp-handshake/express',
  'totp-handshake/fastify',
  'totp-handshake/fetch',
  'totp-handshake/http',
  'totp-handshake/client',
  'totp-handshake/compat/otplib',
  'totp-handshake/compat/otpauth',
  'totp-handshake/compat/speakeasy',
];
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let tarball: string;

// The published files only, from a staging copy, so a stray prebuilds/ or build/ in the working
// tree cannot make the test pass: the consumer must compile the addon itself.
beforeAll(() => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const stage = path.join(work, 'stage');
  mkdirSync(stage);
  for (const entry of pkg.files as string[]) {
    if (entry === 'prebuilds' || !existsSync(path.join(root, path.dirname(entry)))) continue;
    if (!entry.includes('*')) {
      cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true });
      continue;
    }
    // A glob in one directory (native/*.cc): npm pack applies it again on the copy.
    const dir = path.dirname(entry);
    const pattern = new RegExp(`^${path.basename(entry).replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
    mkdirSync(path.join(stage, dir), { recursive: true });
    for (const name of readdirSync(path.join(root, dir)).filter((n) => pattern.test(n))) cpSync(path.join(root, dir, name), path.join(stage, dir, name));
  }
  cpSync(path.join(root, 'package.json'), path.join(stage, 'package.json'));
  const name = npm(['pack', '--ignore-scripts', '--pack-destination', work], stage).trim().split('\n').pop()!;
  tarball = path.join(work, name);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function consumer(name: string, installArgs: string[]): string {
  const dir = path.join(work, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  npm(['install', ...installArgs, tarball], dir);
  return dir;
}

// Each layer computes the RFC 6238 Appendix B code at T = 59 s (SHA-1, '12345678901234567890'),
// called the way its users call the original, after the one-line import change.
const COMPAT_CODES = `const rfc = '12345678901234567890';
const rfcBase32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const v12 = otplib.totp.clone(); v12.options = { epoch: 59000, digits: 8 };
const compat = [
  v12.generate(rfc),
  otplib.generateSync({ secret: rfcBase32, epoch: 59, digits: 8 }),
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromLatin1(rfc), digits: 8 }).generate({ timestamp: 59000 }),
  speakeasy.totp({ secret: rfc, time: 59, digits: 8 }),
];`;
const COMPAT_PROBE = `const otplib = require('totp-handshake/compat/otplib');
const OTPAuth = require('totp-handshake/compat/otpauth');
const speakeasy = require('totp-handshake/compat/speakeasy');
${COMPAT_CODES}`;
const COMPAT_EXPECTED = ['94287082', '94287082', '94287082', '94287082'];

const cjsProbe = `const { TotpKey, backend } = require('totp-handshake');
const key = TotpKey.fromBase32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
const subpaths = ${JSON.stringify(SUBPATHS.slice(1))}.map((s) => Object.keys(require(s)).length > 0);
${COMPAT_PROBE}
console.log(JSON.stringify({ backend, ok: key.verify(key.generate(59000), { timeMs: 59000 }), code: key.generate(59000), subpaths, compat }));`;
const esmProbe = `import { TotpKey, backend } from 'totp-handshake';
const key = TotpKey.fromBase32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
const subpaths = await Promise.all(${JSON.stringify(SUBPATHS.slice(1))}.map(async (s) => Object.keys(await import(s)).length > 0));
const otplib = await import('totp-handshake/compat/otplib');
const OTPAuth = await import('totp-handshake/compat/otpauth');
const { default: speakeasy } = await import('totp-handshake/compat/speakeasy');
${COMPAT_CODES}
console.log(JSON.stringify({ backend, ok: key.verify(key.generate(59000), { timeMs: 59000 }), code: key.generate(59000), subpaths, compat }));`;

function probe(dir: string, type: 'cjs' | 'esm') {
  const env = { ...process.env };
  delete env.TOTP_HANDSHAKE_BACKEND;
  const args = type === 'cjs' ? ['-e', cjsProbe] : ['--input-type=module', '-e', esmProbe];
  return JSON.parse(execFileSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8' }));
}

describe('the packed package', () => {
  it('ships the sources to compile, the built library, the licence and no test or bench files', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/binding.gyp');
    expect(files).toContain('package/native/addon.cc');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/esm/index.mjs');
    expect(files).toContain('package/LICENSE');
    const unwanted = ['package/test/', 'package/bench/', 'package/src/', 'package/native/test/'];
    expect(files.filter((f) => unwanted.some((prefix) => f.startsWith(prefix)))).toEqual([]);
  });

  describe('installed with its install script', () => {
    let dir: string;
    beforeAll(() => {
      dir = consumer('with-scripts', []);
    }, 300_000);

    it('compiles the addon and runs on it, by require and by import, through every subpath', () => {
      const expected = { backend: 'native', ok: true, code: '287082', subpaths: SUBPATHS.slice(1).map(() => true), compat: COMPAT_EXPECTED };
      expect(probe(dir, 'cjs')).toEqual(expected);
      expect(probe(dir, 'esm')).toEqual(expected);
    });

    it('type-checks ESM and CommonJS consumers of every subpath (types first in every condition)', () => {
      // The compat layers typed the way their users' code uses the originals (m6-m8 above).
      const COMPAT_TYPES = [
        `const v12ok: boolean = m6.authenticator.check('123456', 'JBSWY3DPEHPK3PXP');`,
        `const v12delta: number | null = m6.totp.checkDelta('123456', 'secret');`,
        `const v13: m6.VerifyResult = m6.verifySync({ secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', token: '123456', epochTolerance: 30 });`,
        `const v13valid: boolean = v13.valid;`,
        `const totp = new m7.TOTP({ secret: m7.Secret.fromBase32('JBSWY3DPEHPK3PXP'), algorithm: 'SHA256' });`,
        `const otpauthDelta: number | null = totp.validate({ token: '123456', window: 1 });`,
        `const bytes: Uint8Array = totp.secret.bytes;`,
        `const speakeasyOk: boolean = m8.totp.verify({ secret: 'JBSWY3DPEHPK3PXP', encoding: 'base32', token: '123456', window: 1 });`,
        `const speakeasyDelta: { delta: number } | undefined = m8.default.totp.verifyDelta({ secret: 'x', token: '123456', time: 59 });`,
        `void [v12ok, v12delta, v13valid, otpauthDelta, bytes, speakeasyOk, speakeasyDelta];`,
      ].join('\n');
      const imports = SUBPATHS.map((s, i) => `import * as m${i} from '${s}';`).join('\n');
      const uses = SUBPATHS.map((_, i) => `m${i}`).join(', ');
      writeFileSync(
        path.join(dir, 'esm.mts'),
        `${imports}\nvoid [${uses}];\nconst key: m0.TotpKey = m0.TotpKey.random();\nconst delta: number | null = key.check('123456');\nconst engine: 'native' | 'js' = m0.backend;\nvoid [delta, engine];\n${COMPAT_TYPES}`,
      );
      writeFileSync(path.join(dir, 'cjs.cts'), `${SUBPATHS.map((s, i) => `import m${i} = require('${s}');`).join('\n')}\nvoid [${uses}];\nconst ok: boolean = m0.TotpKey.random().verify('123456');\nvoid ok;\n${COMPAT_TYPES}`);
      writeFileSync(
        path.join(dir, 'tsconfig.json'),
        // A Node user's setup: @types/node (the repository's copy) and full checking of our .d.ts files.
        JSON.stringify({
          compilerOptions: {
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'ES2023',
            strict: true,
            noEmit: true,
            typeRoots: [path.join(root, 'node_modules/@types')],
            types: ['node'],
            skipLibCheck: false,
          },
          files: ['esm.mts', 'cjs.cts'],
        }),
      );
      const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
    });

    it('installs the totp-handshake command, which rotates, prints and verifies codes', () => {
      const bin = path.join(dir, 'node_modules/.bin/totp-handshake');
      const keyFile = path.join(dir, 'otp.key');
      expect(execFileSync(bin, ['--help'], { encoding: 'utf8' })).toContain('Usage: totp-handshake <command>');
      execFileSync(bin, ['rotate', '--key', keyFile]);
      const code = execFileSync(bin, ['code', '--key', keyFile], { encoding: 'utf8' }).trim();
      expect(code).toMatch(/^[0-9]{6}$/);
      expect(spawnSync(bin, ['verify', code, '--key', keyFile]).status).toBe(0);
    });

    it('puts "types" first in every exports condition', () => {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'node_modules/totp-handshake/package.json'), 'utf8'));
      for (const [subpath, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
        if (typeof target === 'string') continue;
        for (const condition of Object.values(target as Record<string, Record<string, string>>)) {
          expect(Object.keys(condition)[0], subpath).toBe('types');
        }
      }
    });
  });

  it('still works, on node:crypto, when install scripts are blocked', () => {
    const dir = consumer('without-scripts', ['--ignore-scripts']);
    const expected = { backend: 'js', ok: true, code: '287082', subpaths: SUBPATHS.slice(1).map(() => true), compat: COMPAT_EXPECTED };
    expect(probe(dir, 'cjs')).toEqual(expected);
    expect(probe(dir, 'esm')).toEqual(expected);
  }, 300_000);
});
