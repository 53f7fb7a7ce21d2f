// The linux-arm64 prebuild, run for real: the published tarball installed (no install script) in a
// fresh project and loaded by the official arm64 Node under qemu-user, on a CPU model with the
// ARMv8 SHA instructions. `npm run test:arm64` provides that Node (TOTP_ARM64_NODE) and runs
// this file; elsewhere it is skipped, saying so. Where it is provided, missing qemu or arm64
// libraries fail it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { arm64Command, missingForArm64 } from '../scripts/cross/qemu.mjs';
import rfc4226 from './fixtures/rfc4226.json' with { type: 'json' };
import rfc6238 from './fixtures/rfc6238.json' with { type: 'json' };
import { checks, keyParameters } from './helpers/equivalence-cases.js';
import { npmConsumer, packTarball } from './install-pack.js';

const arm64Node = process.env.TOTP_ARM64_NODE ?? '';

// Runs in the arm64 process, through the public API only: the RFC vectors, then the random cases
// (the same shape as test/equivalence.test.ts: a valid code at a step offset, or a random one,
// each checked twice so that the second answer comes from the per-step cache).
const PROBE = `const { readFileSync } = require('node:fs');
const path = require('node:path');
const { TotpKey, engineInfo } = require('totp-handshake');
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ascii = (text) => new TextEncoder().encode(text);
const root = path.dirname(require.resolve('totp-handshake/package.json'));
const out = { arch: process.arch, node: process.version, engineInfo };
if (engineInfo.backend === 'native') out.addon = path.relative(root, require('node-gyp-build').path(root));
const hotp = TotpKey.fromBytes(ascii(input.rfc4226.secretAscii));
out.rfc4226 = input.rfc4226.codes.map((code, counter) => [hotp.generate(counter * 30000), hotp.check(code, { timeMs: counter * 30000 + 29999, window: 0 })]);
out.rfc6238 = {};
for (const [algorithm, secret] of Object.entries(input.rfc6238.secretsAscii)) {
  const key = TotpKey.fromBytes(ascii(secret), { algorithm, digits: 8 });
  out.rfc6238[algorithm] = input.rfc6238.vectors.map((v) => [key.generate(v.time * 1000), key.check(v[algorithm], { timeMs: v.time * 1000 })]);
}
out.cases = input.cases.map(({ secret, options, checks }) => {
  const key = TotpKey.fromBytes(Buffer.from(secret, 'hex'), options);
  const answers = checks.map((c) => {
    const at = c.timeMs + c.offset * options.period * 1000;
    const code = c.random || at < 0 ? String(c.noise % 10 ** options.digits).padStart(options.digits, '0') : key.generate(at);
    const opts = { timeMs: c.timeMs, window: c.window };
    return [key.generate(c.timeMs), code, key.check(code, opts), key.check(code, opts)];
  });
  key.destroy();
  return answers;
});
console.log(JSON.stringify(out));`;

const cases = fc.tuple(keyParameters, checks).map(([{ secret, ...options }, checkList]) => ({
  secret: Buffer.from(secret).toString('hex'),
  options,
  checks: checkList,
}));

interface ProbeOutput {
  arch: string;
  node: string;
  engineInfo: { backend: string; reason: string; cpu?: Record<string, unknown> };
  addon?: string;
  rfc4226: [string, number | null][];
  rfc6238: Record<string, [string, number | null][]>;
  cases: [string, string, number | null, number | null][][];
}

describe.skipIf(arm64Node === '')(arm64Node === '' ? 'skipped: the arm64 Node is provided by npm run test:arm64' : `the linux-arm64 prebuild on ${arm64Node} under qemu`, () => {
  let work: string;
  const seed = Date.now() % 2 ** 31;
  let native: ProbeOutput;
  let js: ProbeOutput;

  function runArm64(dir: string, backend: 'native' | 'js'): ProbeOutput {
    const env = { ...process.env };
    delete env.TOTP_HANDSHAKE_BACKEND;
    if (backend === 'js') env.TOTP_HANDSHAKE_BACKEND = 'js';
    const { command, args, env: qemuEnv } = arm64Command(arm64Node, [path.join(dir, 'probe.cjs'), path.join(dir, 'input.json')], env);
    const result = spawnSync(command, args, { cwd: dir, env: qemuEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) throw new Error(`the arm64 probe (${backend}) exited ${result.status ?? result.signal}:\n${result.stderr}`);
    return JSON.parse(result.stdout);
  }

  beforeAll(() => {
    expect(missingForArm64(), 'what npm run test:arm64 needs to run arm64 binaries').toEqual([]);
    work = mkdtempSync(path.join(tmpdir(), 'totp-arm64-'));
    const tarball = packTarball(work, 'published', { prebuilds: true });
    // The x64 npm installs; nothing of the package runs at install time.
    const dir = npmConsumer(work, 'consumer', tarball, ['--ignore-scripts']);
    writeFileSync(path.join(dir, 'probe.cjs'), PROBE);
    writeFileSync(path.join(dir, 'input.json'), JSON.stringify({ rfc4226, rfc6238, cases: fc.sample(cases, { seed, numRuns: 300 }) }));
    native = runArm64(dir, 'native');
    js = runArm64(dir, 'js');
  }, 900_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('loads the arm64 prebuild, which passes the loader self-test and runs on the ARMv8 SHA instructions', () => {
    expect(native.arch).toBe('arm64');
    expect(native.node).toBe(`v${process.versions.node}`);
    expect(native.addon).toBe('prebuilds/linux-arm64/totp-handshake.glibc.node');
    expect(native.engineInfo).toEqual({
      backend: 'native',
      reason: 'the native addon loaded',
      cpu: { sha1: 'armv8', sha256: 'armv8', sha512: 'portable', extensionsAvailable: true },
    });
    expect(js.engineInfo).toMatchObject({ backend: 'js', reason: 'TOTP_HANDSHAKE_BACKEND=js' });
  });

  it('computes and accepts every RFC 4226 Appendix D and RFC 6238 Appendix B code', () => {
    for (const run of [native, js]) {
      expect(run.rfc4226).toEqual(rfc4226.codes.map((code) => [code, 0]));
      for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
        expect(run.rfc6238[algorithm]).toEqual(rfc6238.vectors.map((v) => [v[algorithm], 0]));
      }
    }
  });

  it('agrees with node:crypto on 300 random keys, times and codes', () => {
    expect(native.cases.length).toBe(300);
    const firstDifference = native.cases.findIndex((answers, i) => JSON.stringify(answers) !== JSON.stringify(js.cases[i]));
    expect(firstDifference, `fast-check seed ${seed}: case ${firstDifference} differs`).toBe(-1);
    // Not vacuous: valid codes were found at their offsets, and random ones refused.
    const checks = native.cases.flat();
    expect(checks.some(([, , delta]) => delta !== null && delta !== 0)).toBe(true);
    expect(checks.some(([, , delta]) => delta === null)).toBe(true);
  });
});
