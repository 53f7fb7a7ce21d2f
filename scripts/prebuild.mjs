// The prebuilt addons the package ships, for Linux with glibc on x64 and arm64, so that installs
// that compile nothing (no compiler in a slim image, install scripts blocked by pnpm 10 or npm's
// --ignore-scripts / --strict-allow-scripts) still load the native engine.
//
//   npm run prebuilds                      both targets (what `npm pack` ships; prepack runs it)
//   npm run prebuilds -- --arch x64        only some: x64, arm64 (comma-separated or repeated)
//   npm run prebuilds -- --dir DIR         build DIR's sources into DIR/prebuilds (the package test)
//   npm run prebuilds -- --out DIR         into DIR/prebuilds instead (the arm64 figures)
//
// Writes prebuilds/linux-<arch>/totp-handshake.glibc.node (prebuildify's naming; node-gyp-build
// picks it by platform, arch and libc with no install script), replacing the whole prebuilds/.
// Each target compiles in a temporary copy of binding.gyp and native/, so the developer's build/
// is left alone; the one that is not the host's uses Debian's cross compiler
// (apt: g++-aarch64-linux-gnu, or g++-x86-64-linux-gnu on an arm64 host).
//
// Run it through npm: npm passes node-gyp (npm_config_node_gyp) and the headers to compile against
// (npm_config_nodedir); without a nodedir, the running Node's own headers are used, never a download.
//
// Portability: every prebuild is checked against FLOOR below and the build fails above it. The
// versioned symbols are what an old distribution lacks, so they are its real requirement.
// -fno-sized-deallocation keeps C++14's sized `operator delete(void*, size_t)` (CXXABI_1.3.9,
// GCC 5) out: plain `operator delete(void*)` frees the same memory, and the addon then needs only
// what libstdc++ has had since GCC 3.4.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const TRIPLES = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const APT = { x64: 'g++-x86-64-linux-gnu', arm64: 'g++-aarch64-linux-gnu' };

/**
 * The newest symbol version a prebuild may need from each library: glibc 2.17 is RHEL/CentOS 7
 * and the first glibc for aarch64; GLIBCXX_3.4.19 / CXXABI_1.3.7 are the libstdc++ of GCC 4.8.5,
 * RHEL 7's. Every glibc distribution still supported upstream has at least these.
 */
export const FLOOR = { GLIBC: '2.17', GLIBCXX: '3.4.19', CXXABI: '1.3.7' };

const compareVersions = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  }
  return 0;
};

/**
 * What a shared object needs from the system, read from its ELF headers with readelf (binutils,
 * any target architecture): the libraries it links (NEEDED) and, per symbol-version family
 * (GLIBC, GLIBCXX, CXXABI, GCC), the newest version it references.
 */
export function requirements(file) {
  const dynamic = execFileSync('readelf', ['--dynamic', '--wide', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const versions = execFileSync('readelf', ['--version-info', '--wide', file], { encoding: 'utf8' });
  const newest = {};
  const needs = versions.slice(versions.indexOf('.gnu.version_r'));
  for (const [, family, version] of needs.matchAll(/Name: ([A-Z]+)_([0-9.]+)/g)) {
    if (newest[family] === undefined || compareVersions(version, newest[family]) > 0) newest[family] = version;
  }
  return { needed, newest };
}

/** The families in which `file` needs more than FLOOR allows, as readable strings. */
export function aboveFloor(newest) {
  return Object.entries(FLOOR)
    .filter(([family, max]) => newest[family] !== undefined && compareVersions(newest[family], max) > 0)
    .map(([family, max]) => `${family}_${newest[family]} (the floor is ${family}_${max})`);
}

function fail(message) {
  process.stderr.write(`prebuilds: ${message}\n`);
  process.exit(1);
}

const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** The compiler prefix for `arch`: none for the host's own, the Debian cross triple otherwise. */
function toolchain(arch) {
  const host = os.arch();
  if (!(host in TRIPLES)) fail(`the host must be linux-x64 or linux-arm64, not linux-${host}`);
  const prefix = arch === host ? '' : `${TRIPLES[arch]}-`;
  for (const tool of [`${prefix}gcc`, `${prefix}g++`, `${prefix}strip`]) {
    if (!onPath(tool)) fail(`${tool} is not installed${prefix ? ` (apt-get install ${APT[arch]})` : ''}`);
  }
  return { CC: `${prefix}gcc`, CXX: `${prefix}g++`, strip: `${prefix}strip` };
}

function nodeGypEnvironment() {
  const env = { ...process.env };
  if (!env.npm_config_node_gyp) fail('run this through npm (npm run prebuilds), which provides node-gyp');
  if (!env.npm_config_nodedir) {
    const prefix = path.dirname(path.dirname(process.execPath));
    if (!existsSync(path.join(prefix, 'include/node/node_api.h'))) {
      fail(`no Node headers: set npm_config_nodedir (none found beside ${process.execPath}, and downloading them is not done here)`);
    }
    env.npm_config_nodedir = prefix;
  }
  env.PREBUILD_NODE_GYP = env.npm_config_node_gyp;
  return env;
}

/** A copy of what node-gyp compiles, with the repository's node_modules (node-addon-api). */
function stageSources(dir) {
  const stage = mkdtempSync(path.join(os.tmpdir(), 'totp-prebuild-'));
  for (const file of ['binding.gyp', 'package.json']) cpSync(path.join(dir, file), path.join(stage, file));
  mkdirSync(path.join(stage, 'native'));
  for (const name of readdirSync(path.join(dir, 'native')).filter((n) => /\.(cc|h)$/.test(n))) {
    cpSync(path.join(dir, 'native', name), path.join(stage, 'native', name));
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'));
  return stage;
}

function build(arch, dir, out, env) {
  const tools = toolchain(arch);
  const stage = stageSources(dir);
  try {
    const started = performance.now();
    const result = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/prebuildify/bin.js'), '--napi', '--strip', '--tag-libc', '--arch', arch, '--strip-bin', tools.strip, '--cwd', stage, '--out', out],
      {
        env: { ...env, CC: tools.CC, CXX: tools.CXX, CXXFLAGS: [env.CXXFLAGS, '-fno-sized-deallocation'].filter(Boolean).join(' ') },
        encoding: 'utf8',
      },
    );
    if (result.status !== 0) fail(`the linux-${arch} build failed:\n${result.stdout}${result.stderr}`);
    return (performance.now() - started) / 1000;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function main() {
  const { values } = parseArgs({ options: { arch: { type: 'string', multiple: true }, dir: { type: 'string' }, out: { type: 'string' } } });
  const archs = values.arch?.flatMap((a) => a.split(',')) ?? Object.keys(TRIPLES);
  for (const arch of archs) if (!(arch in TRIPLES)) fail(`unknown --arch ${JSON.stringify(arch)}: ${Object.keys(TRIPLES).join(', ')}`);
  if (process.platform !== 'linux') fail('prebuilds are built on Linux');
  const dir = path.resolve(values.dir ?? ROOT);
  const out = path.resolve(values.out ?? dir);
  const env = nodeGypEnvironment();

  rmSync(path.join(out, 'prebuilds'), { recursive: true, force: true });
  for (const arch of archs) {
    const seconds = build(arch, dir, out, env);
    const target = path.join(out, 'prebuilds', `linux-${arch}`);
    const files = readdirSync(target);
    if (files.length !== 1 || !files[0].endsWith('.glibc.node')) fail(`expected one *.glibc.node in ${target}, found ${files.join(', ')}`);
    const file = path.join(target, files[0]);
    const { needed, newest } = requirements(file);
    const above = aboveFloor(newest);
    if (above.length > 0) fail(`${path.relative(out, file)} needs ${above.join(', ')}: find the symbol with readelf --dyn-syms -W`);
    const floors = Object.entries(newest).map(([family, version]) => `${family}_${version}`).join(', ');
    console.log(`prebuilds: ${path.relative(out, file)} in ${seconds.toFixed(1)} s; links ${needed.join(', ')}; needs at most ${floors}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
