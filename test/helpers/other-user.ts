// Running part of a test as another user (tests that need root skip without it). The checkout may
// sit where that user cannot read (CI's 0700 temp dir), so the child loads a copy of the built
// library from a readable place, on the node:crypto engine (the addon stays beside the checkout).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { root } from './handshake-fs.js';

export const isRoot = process.geteuid?.() === 0;
/** Two unprivileged users: nobody, and the uid below it. */
export const NOBODY = 65534;
export const OTHER = 65533;

let copy: string | undefined;

/** The readable copy of dist/ (made on first use, removed by removeLibraryCopy). */
export function libraryCopy(): string {
  if (copy === undefined) {
    copy = mkdtempSync(path.join(tmpdir(), 'otp-lib-'));
    cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
    cpSync(path.join(root, 'package.json'), path.join(copy, 'package.json'));
    chmodSync(copy, 0o755);
  }
  return copy;
}

export function removeLibraryCopy(): void {
  if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
  copy = undefined;
}

/**
 * Runs `script` (CommonJS, with `lib` bound to the copy's dist/index.js and `cli` to its CLI) as
 * `uid`, in `cwd`; resolves to its stdout, stderr and exit status.
 */
export function runAs(uid: number, script: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const lib = libraryCopy();
  const prelude = `const lib = require(${JSON.stringify(path.join(lib, 'dist/index.js'))}); const cli = ${JSON.stringify(path.join(lib, 'dist/cli.js'))};`;
  try {
    const stdout = execFileSync(process.execPath, ['-e', `${prelude}\n${script}`, ...args], {
      uid,
      gid: uid,
      cwd,
      encoding: 'utf8',
      env: { ...process.env, TOTP_HANDSHAKE_BACKEND: 'js' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    return { status: 0, stdout, stderr: '' };
  } catch (error) {
    const failed = error as { status: number | null; stdout?: string; stderr?: string };
    return { status: failed.status, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Runs the copy's CLI as `uid`. */
export function cliAs(uid: number, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  return runAs(uid, `process.argv.splice(1, 0, cli); require(cli);`, args, cwd);
}
