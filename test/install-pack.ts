// The tarball a user installs, made from the files package.json publishes (a staging copy, so that
// a stray build/ or prebuilds/ in the working tree cannot leak into it), for the package and
// arm64 tests. With prebuilds, they are built into the copy by `npm run prebuilds`, the command
// prepack runs, from the sources being packed.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const root = path.resolve(__dirname, '..');

export const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Whether this machine can build every prebuild the package ships (the arm64 one is cross-compiled). */
export const crossCompilerInstalled = spawnSync('sh', ['-c', 'command -v aarch64-linux-gnu-g++'], { stdio: 'ignore' }).status === 0;

/** Packs the package from a staging copy `work`/`stageName` and returns the tarball's path. */
export function packTarball(work: string, stageName: string, options: { prebuilds: boolean }): string {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const stage = path.join(work, stageName);
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
  if (options.prebuilds) {
    const built = spawnSync('npm', ['run', 'prebuilds', '--', '--dir', stage], { cwd: root, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`npm run prebuilds failed:\n${built.stdout}${built.stderr}`);
  }
  const destination = path.join(work, `${stageName}-tarball`);
  mkdirSync(destination);
  const name = npm(['pack', '--ignore-scripts', '--pack-destination', destination], stage).trim().split('\n').pop()!;
  return path.join(destination, name);
}

/** A fresh project that installs `tarball` with npm and `installArgs`. */
export function npmConsumer(work: string, name: string, tarball: string, installArgs: string[], env?: NodeJS.ProcessEnv): string {
  const dir = emptyProject(work, name);
  npm(['install', ...installArgs, tarball], dir, env);
  return dir;
}

export function emptyProject(work: string, name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}
