// The comparison packages live in bench/package.json, out of the library's dependencies, and are
// installed on first use from the committed bench/package-lock.json (npm ci: exact versions).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

import { BENCH_DIR, ROOT } from './pkg.mjs';

const benchPkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// Read from disk: several of these packages' `exports` maps do not expose package.json.
function installedVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function missingPackages() {
  return Object.keys(benchPkg.dependencies).filter((name) => installedVersion(name) === undefined);
}

export { installedVersion };

/** Installs bench/node_modules when a declared package is missing. Throws with npm's reason. */
export function ensureBenchDependencies(log) {
  const missing = missingPackages();
  if (missing.length === 0) return;
  log(`installing the bench's comparison packages (${missing.join(', ')} missing): npm --prefix bench ci`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['--prefix', BENCH_DIR, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`npm --prefix bench ci failed (exit ${result.status ?? result.signal})`);
  const still = missingPackages();
  if (still.length > 0) throw new Error(`after npm ci, still missing: ${still.join(', ')}`);
}

/** The library must be built; the native addon is reported (and required by the gate) elsewhere. */
export function checkBuilt() {
  if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` (and `npm run build:native` for the addon) first');
  }
}
