// Test what we publish: pack the package, install the tarball into a fresh project the way a
// user does, and load it by ESM and CommonJS, with types, through every subpath export.
//
// Two tarballs: the one `npm pack` publishes (prebuilds for linux-x64 and linux-arm64, glibc), and
// the same without prebuilds, which is what a platform with no prebuild gets (Alpine, macOS):
// there the install script compiles the addon, and with scripts blocked the library runs on
// node:crypto. Building the published one needs the aarch64 cross compiler: CI installs it; on a
// machine without it those tests are skipped, saying so.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { aboveFloor, requirements } from '../scripts/prebuild.mjs';
import { inCi } from './helpers/engines.js';
import { crossCompilerInstalled, emptyProject, npmConsumer, packTarball, root } from './install-pack.js';

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
const ALL_SUBPATHS_LOAD = SUBPATHS.slice(1).map(() => true);

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
// The compat layers typed the way their users' code uses the originals (m6-m8: their imports).
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

afterAll(() => rmSync(work, { recursive: true, force: true }));

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

function expectEngine(dir: string, backend: 'native' | 'js') {
  const expected = { backend, ok: true, code: '287082', subpaths: ALL_SUBPATHS_LOAD, compat: COMPAT_EXPECTED };
  expect(probe(dir, 'cjs')).toEqual(expected);
  expect(probe(dir, 'esm')).toEqual(expected);
}

/** The installed package's directory (pnpm links it from its store) and whether anything compiled. */
const installed = (dir: string) => path.join(dir, 'node_modules/totp-handshake');
const compiledOnInstall = (dir: string) => existsSync(path.join(installed(dir), 'build'));

// A consumer's TypeScript setups. TypeScript 7 has no node10 resolution; 5.9, the last with it
// and what many projects still run, checks node10 and nodenext (its checks take 8-20 s each, so
// not every mode twice). Each uses @types/node (the repository's copy) and checks our .d.ts
// files in full.
const MODES = {
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext', files: ['esm.mts', 'cjs.cts'] },
  node16: { module: 'node16', moduleResolution: 'node16', files: ['esm.mts', 'cjs.cts'] },
  bundler: { module: 'preserve', moduleResolution: 'bundler', files: ['esm.mts', 'cjs.cts'] },
  // Resolution before `exports`: subpaths resolve only through typesVersions.
  node10: { module: 'commonjs', moduleResolution: 'node10', files: ['node10.ts'] },
} as const;
const TYPE_CHECKS = [
  ...(['nodenext', 'node16', 'bundler'] as const).map((mode) => ({ compiler: 'typescript', mode })),
  ...(['nodenext', 'node10'] as const).map((mode) => ({ compiler: 'typescript-5', mode })),
];

function writeTypeCheckSources(dir: string) {
  const imports = SUBPATHS.map((s, i) => `import * as m${i} from '${s}';`).join('\n');
  const uses = SUBPATHS.map((_, i) => `m${i}`).join(', ');
  const esm = `${imports}\nvoid [${uses}];\nconst key: m0.TotpKey = m0.TotpKey.random();\nconst delta: number | null = key.check('123456');\nconst engine: 'native' | 'js' = m0.backend;\nvoid [delta, engine];\n${COMPAT_TYPES}\n`;
  writeFileSync(path.join(dir, 'esm.mts'), esm);
  writeFileSync(path.join(dir, 'node10.ts'), esm);
  writeFileSync(path.join(dir, 'cjs.cts'), `${SUBPATHS.map((s, i) => `import m${i} = require('${s}');`).join('\n')}\nvoid [${uses}];\nconst ok: boolean = m0.TotpKey.random().verify('123456');\nvoid ok;\n${COMPAT_TYPES}\n`);
}

function typeCheck(dir: string, compiler: string, mode: keyof typeof MODES) {
  const { files, ...resolution } = MODES[mode];
  const config = path.join(dir, `tsconfig.${compiler}.${mode}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      compilerOptions: { ...resolution, target: 'ES2023', strict: true, noEmit: true, typeRoots: [path.join(root, 'node_modules/@types')], types: ['node'], skipLibCheck: false },
      files,
    }),
  );
  return spawnSync(process.execPath, [path.join(root, 'node_modules', compiler, 'bin/tsc'), '-p', config], { encoding: 'utf8' });
}

describe('the package as published (prebuilds for linux-x64 and linux-arm64)', () => {
  const reason = 'g++-aarch64-linux-gnu is not installed, so the published tarball cannot be built';
  if (inCi) {
    it('can be built here (CI installs the aarch64 cross compiler)', () => expect(crossCompilerInstalled, reason).toBe(true));
  }

  describe.skipIf(!crossCompilerInstalled)(crossCompilerInstalled ? 'installed' : `skipped: ${reason}`, () => {
    let tarball: string;
    beforeAll(() => {
      tarball = packTarball(work, 'published', { prebuilds: true });
    }, 300_000);

    it('ships the sources to compile, the built library, both prebuilds, the licence and no test or bench files', () => {
      const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
      for (const file of ['binding.gyp', 'native/addon.cc', 'dist/index.js', 'dist/esm/index.mjs', 'LICENSE']) expect(files).toContain(`package/${file}`);
      expect(files.filter((f) => f.startsWith('package/prebuilds/')).sort()).toEqual([
        'package/prebuilds/linux-arm64/totp-handshake.glibc.node',
        'package/prebuilds/linux-x64/totp-handshake.glibc.node',
      ]);
      const unwanted = ['package/test/', 'package/bench/', 'package/src/', 'package/native/test/', 'package/build/'];
      expect(files.filter((f) => unwanted.some((prefix) => f.startsWith(prefix)))).toEqual([]);
    });

    it('ships prebuilds that need no newer glibc than 2.17 and only the C and C++ runtimes every Node links', () => {
      const out = path.join(work, 'published-prebuilds');
      mkdirSync(out);
      execFileSync('tar', ['-xzf', tarball, '-C', out, 'package/prebuilds']);
      const floors = Object.fromEntries(
        ['linux-x64', 'linux-arm64'].map((target) => {
          const dir = path.join(out, 'package/prebuilds', target);
          const { needed, newest } = requirements(path.join(dir, readdirSync(dir)[0]!));
          expect(aboveFloor(newest), target).toEqual([]);
          expect(needed.sort(), target).toEqual(['libc.so.6', 'libstdc++.so.6']);
          return [target, newest.GLIBC];
        }),
      );
      expect(floors).toEqual({ 'linux-x64': '2.14', 'linux-arm64': '2.17' });
    });

    describe('with npm defaults, in an image with no compiler', () => {
      let dir: string;
      beforeAll(() => {
        // A compile would fail (CC/CXX are `false`), and the loader would fall back to node:crypto.
        dir = npmConsumer(work, 'npm-defaults', tarball, [], { ...process.env, CC: 'false', CXX: 'false' });
      }, 300_000);

      it('runs on the prebuild, compiling nothing, by require and by import, through every subpath', () => {
        expect(compiledOnInstall(dir)).toBe(false);
        expectEngine(dir, 'native');
      });

      it.each(TYPE_CHECKS)('type-checks consumers of every subpath with $compiler, moduleResolution $mode', ({ compiler, mode }) => {
        if (!existsSync(path.join(dir, 'esm.mts'))) writeTypeCheckSources(dir);
        const tsc = typeCheck(dir, compiler, mode);
        expect(tsc.stdout + tsc.stderr).toBe('');
        expect(tsc.status).toBe(0);
      }, 120_000);

      it('installs the totp-handshake command, which rotates, prints and verifies codes', () => {
        const bin = path.join(dir, 'node_modules/.bin/totp-handshake');
        const keyFile = path.join(dir, 'otp.key');
        expect(execFileSync(bin, ['--help'], { encoding: 'utf8' })).toContain('Usage: totp-handshake <command>');
        execFileSync(bin, ['rotate', '--key', keyFile]);
        const code = execFileSync(bin, ['code', '--key', keyFile], { encoding: 'utf8' }).trim();
        expect(code).toMatch(/^[0-9]{6}$/);
        expect(spawnSync(bin, ['verify', code, '--key', keyFile]).status).toBe(0);
      });

      it('maps every subpath export to its CommonJS types in typesVersions, for node10 resolution', () => {
        const pkg = JSON.parse(readFileSync(path.join(installed(dir), 'package.json'), 'utf8'));
        const subpaths = Object.entries(pkg.exports as Record<string, { require?: { types: string } }>).filter(([subpath, target]) => subpath !== '.' && typeof target !== 'string');
        expect(pkg.typesVersions).toEqual({ '*': Object.fromEntries(subpaths.map(([subpath, target]) => [subpath.slice(2), [target.require!.types]])) });
      });

      it('puts "types" first in every exports condition', () => {
        const pkg = JSON.parse(readFileSync(path.join(installed(dir), 'package.json'), 'utf8'));
        for (const [subpath, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
          if (typeof target === 'string') continue;
          for (const condition of Object.values(target as Record<string, Record<string, string>>)) {
            expect(Object.keys(condition)[0], subpath).toBe('types');
          }
        }
      });
    });

    it('runs on the prebuild with npm install --ignore-scripts', () => {
      const dir = npmConsumer(work, 'npm-ignore-scripts', tarball, ['--ignore-scripts']);
      expect(compiledOnInstall(dir)).toBe(false);
      expectEngine(dir, 'native');
    }, 300_000);

    it("runs on the prebuild with pnpm 10's defaults, which run no dependency's install script", () => {
      const dir = emptyProject(work, 'pnpm-defaults');
      const pnpm = path.join(root, 'node_modules/pnpm/bin/pnpm.cjs');
      const added = spawnSync(process.execPath, [pnpm, 'add', tarball], { cwd: dir, encoding: 'utf8' });
      expect(added.status, added.stdout + added.stderr).toBe(0);
      expect(execFileSync(process.execPath, [pnpm, '--version'], { encoding: 'utf8' })).toMatch(/^10\./);
      // pnpm says it skipped our script (the unboxed text of its warning box).
      expect(added.stdout.replace(/[│\s]+/g, ' ')).toMatch(/Ignored build scripts: totp-handshake@/);
      expect(compiledOnInstall(dir)).toBe(false);
      expectEngine(dir, 'native');
    }, 300_000);
  });
});

describe('the package without a prebuild for the platform', () => {
  let tarball: string;
  beforeAll(() => {
    tarball = packTarball(work, 'source-only', { prebuilds: false });
  }, 120_000);

  it('compiles the addon in its install script and runs on it, by require and by import, through every subpath', () => {
    const dir = npmConsumer(work, 'with-scripts', tarball, []);
    expect(compiledOnInstall(dir)).toBe(true);
    expectEngine(dir, 'native');
  }, 300_000);

  it('still works, on node:crypto, when install scripts are blocked', () => {
    const dir = npmConsumer(work, 'without-scripts', tarball, ['--ignore-scripts']);
    expectEngine(dir, 'js');
  }, 300_000);
});
