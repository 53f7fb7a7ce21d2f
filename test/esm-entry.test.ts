// The ESM entry points are the CommonJS build seen through import: the same names, the same
// objects, and an engine that cannot load rejects the import() catchably (TOTP_HANDSHAKE_BACKEND=native
// without the addon), instead of Node 20 reporting it as uncaught and exiting.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { root } from './helpers/handshake-fs.js';

const require = createRequire(__filename);
const exportsMap = require('../package.json').exports as Record<string, { import: { default: string }; require: { default: string } } | string>;
const subpaths = Object.entries(exportsMap).filter((entry): entry is [string, { import: { default: string }; require: { default: string } }] => typeof entry[1] !== 'string');

describe.each(subpaths)('%s', (_, targets) => {
  it('exports the same names, bound to the same objects, by import as by require', async () => {
    const cjs = require(path.join(root, targets.require.default)) as Record<string, unknown>;
    const esm = (await import(path.join(root, targets.import.default))) as Record<string, unknown>;
    // Node's view of a CommonJS module adds its interop marker; neither is an export of ours.
    const names = (module: Record<string, unknown>) => Object.keys(module).filter((name) => !['default', 'module.exports', '__esModule'].includes(name)).sort();
    expect(names(esm)).toEqual(names(cjs));
    for (const name of names(cjs)) expect(esm[name], name).toBe(cjs[name]);
  });
});

it('with TOTP_HANDSHAKE_BACKEND=native and no addon, import() rejects with ERR_OTP_BACKEND, catchably', () => {
  // The package as a consumer gets it, without build/ or prebuilds/: the addon cannot load.
  const consumer = mkdtempSync(path.join(tmpdir(), 'otp-esm-'));
  try {
    const pkg = path.join(consumer, 'node_modules', 'totp-handshake');
    mkdirSync(pkg, { recursive: true });
    cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(consumer, 'node_modules', 'node-gyp-build'));
    const script = `
      try {
        await import('totp-handshake');
        console.log('loaded');
      } catch (error) {
        console.log('rejected', error.code);
      }
      console.log('still running');`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: consumer,
      env: { ...process.env, TOTP_HANDSHAKE_BACKEND: 'native' },
      encoding: 'utf8',
    });
    expect(output).toBe('rejected ERR_OTP_BACKEND\nstill running\n');
  } finally {
    rmSync(consumer, { recursive: true, force: true });
  }
});

describe('without the addon, and without TOTP_HANDSHAKE_BACKEND', () => {
  function consumerWithoutAddon(): { dir: string; cleanup: () => void } {
    const dir = mkdtempSync(path.join(tmpdir(), 'otp-fallback-'));
    const pkg = path.join(dir, 'node_modules', 'totp-handshake');
    mkdirSync(pkg, { recursive: true });
    cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'));
    return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const script = `
    const { TotpKey, verifyTotp, engineInfo } = require('totp-handshake');
    process.on('warning', (w) => console.log(JSON.stringify({ name: w.name, code: w.code, message: w.message })));
    console.log(JSON.stringify({ loaded: engineInfo.backend }));
    const key = TotpKey.random();
    TotpKey.random().destroy();
    verifyTotp(key.toBase32(), '000000');
    setImmediate(() => console.log(JSON.stringify({ done: true })));`;
  const run = (dir: string, env: Record<string, string | undefined>) => {
    const childEnv = { ...process.env, ...env };
    if (env.TOTP_HANDSHAKE_BACKEND === undefined) delete childEnv.TOTP_HANDSHAKE_BACKEND;
    return execFileSync(process.execPath, ['-e', script], { cwd: dir, env: childEnv, encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };

  it('warns once, at first use, with a stable code, saying why and what to run', () => {
    const { dir, cleanup } = consumerWithoutAddon();
    try {
      const lines = run(dir, { TOTP_HANDSHAKE_BACKEND: undefined });
      expect(lines[0]).toEqual({ loaded: 'js' });
      const warnings = lines.filter((line) => line.code !== undefined);
      expect(warnings).toEqual([
        {
          name: 'TotpHandshakeWarning',
          code: 'TOTP_HANDSHAKE_NODE_CRYPTO',
          message: expect.stringMatching(/^totp-handshake runs on node:crypto, .* because its native addon did not load \(No native build was found.*npm rebuild totp-handshake.*TOTP_HANDSHAKE_BACKEND=js/),
        },
      ]);
      expect(lines.at(-1)).toEqual({ done: true });
    } finally {
      cleanup();
    }
  });

  it('says nothing with TOTP_HANDSHAKE_BACKEND=js, or when the addon runs', () => {
    const { dir, cleanup } = consumerWithoutAddon();
    try {
      expect(run(dir, { TOTP_HANDSHAKE_BACKEND: 'js' })).toEqual([{ loaded: 'js' }, { done: true }]);
    } finally {
      cleanup();
    }
    expect(run(root, { TOTP_HANDSHAKE_BACKEND: undefined })).toEqual([{ loaded: 'native' }, { done: true }]);
  });
});
