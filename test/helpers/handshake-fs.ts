// Shared by the handshake tests: temp directories, event collection, waiting on conditions
// without fixed sleeps, and the check that nothing a process reports holds a secret or a code.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';

import type { AuditEvent, TotpKey } from 'totp-handshake';
import { decodeBase32 } from '../../dist/base32.js';

export const root = path.resolve(__dirname, '../..');
export const cli = path.join(root, 'dist/cli.js');

/** A fresh directory under the system temp dir; `cleanup` removes it. */
export function tempDir(prefix: string): { dir: string; file: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  return { dir, file: path.join(dir, 'otp.key'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs` (generous: the machine may be busy). */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Collects audit events; `next` resolves on the first matching event from now on (or already seen since `mark`). */
export class Events {
  readonly all: AuditEvent[] = [];
  #from = 0;
  #waiters: { match: (event: AuditEvent) => boolean; resolve: (event: AuditEvent) => void }[] = [];

  readonly listener = (event: AuditEvent): void => {
    this.all.push(event);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (waiter.match(event)) waiter.resolve(event);
      else this.#waiters.push(waiter);
    }
  };

  /** Events from now on count for `next` and `since`. */
  mark(): void {
    this.#from = this.all.length;
  }

  since(type?: AuditEvent['type']): AuditEvent[] {
    return this.all.slice(this.#from).filter((event) => type === undefined || event.type === type);
  }

  next(type: AuditEvent['type'], match: (event: AuditEvent) => boolean = () => true): Promise<AuditEvent> {
    const test = (event: AuditEvent) => event.type === type && match(event);
    const seen = this.all.slice(this.#from).find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match: test, resolve }));
  }
}

/** Writes `content` at `file` the way a careful writer does: a temp file renamed over it. */
export function replaceFile(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o600 });
  renameSync(temp, file);
}

/**
 * What must never appear in an event, message, error or output: each key's secret (base32, any
 * case, and hex) and every code it makes within ±`steps` steps of now.
 */
export function secretsOf(keys: TotpKey[], steps = 3): string[] {
  const now = Date.now();
  return keys.flatMap((key) => {
    const base32 = key.toBase32();
    const hex = Buffer.from(decodeBase32(base32)).toString('hex');
    const codes = Array.from({ length: 2 * steps + 1 }, (_, i) => key.generate(now + (i - steps) * key.period * 1000));
    return [base32, base32.toLowerCase(), base32.slice(0, 16), hex, ...codes];
  });
}

/** Asserts that none of `things` (events, errors, strings), as text, contains any of `secrets`. */
export function expectNoSecrets(things: unknown[], secrets: string[]): void {
  for (const thing of things) {
    const text = thing instanceof Error ? `${thing.message} ${thing.stack} ${String((thing as { code?: string }).code)}` : typeof thing === 'string' ? thing : JSON.stringify(thing);
    for (const secret of secrets) expect(text, 'a secret or a valid code leaked').not.toContain(secret);
  }
}

/**
 * A Kubernetes secret volume at `dir`: `dir/otp.key -> ..data/otp.key`, `..data -> ..<version>`.
 * `swap` publishes new content the way the kubelet does: a new version directory, a `..data_tmp`
 * link to it renamed over `..data`, then the old version removed. `pointAt` re-points `..data`
 * the same way at any name (one that does not exist yet leaves the key file dangling).
 */
export function kubernetesVolume(dir: string, content: string): { swap: (content: string) => void; pointAt: (name: string) => void } {
  let version = 0;
  let current: string | undefined;
  const pointAt = (name: string): void => {
    symlinkSync(name, path.join(dir, '..data_tmp'));
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  };
  const swap = (text: string): void => {
    const name = `..2026_01_01_00_00_${String(version++).padStart(2, '0')}.${process.pid}`;
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'otp.key'), text, { mode: 0o644 });
    pointAt(name);
    if (current !== undefined) rmSync(path.join(dir, current), { recursive: true, force: true });
    current = name;
  };
  swap(content);
  symlinkSync('..data/otp.key', path.join(dir, 'otp.key'));
  return { swap, pointAt };
}

/** Runs mount(8); false when this machine does not allow it (no root or no CAP_SYS_ADMIN). */
export function tryMount(args: string[]): boolean {
  try {
    execFileSync('mount', args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmount(target: string): void {
  execFileSync('umount', [target], { stdio: 'ignore' });
}
