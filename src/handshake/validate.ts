// Option checks that only the handshake has (paths, file modes, formats): misuse throws
// ERR_OTP_OPTIONS at start, never later. The generic ones are in src/internal/options.ts.
import path from 'node:path';

import type { AuditListener } from '../events.js';
import { fail, milliseconds, optionalFunction } from '../internal/options.js';
import { type ResolvedTotpOptions, TOTP_DEFAULTS } from '../options.js';
import { DEFAULT_FILE_MODE, type KeyFileFormat } from './keyfile.js';

/** The key file's absolute path, so that a later chdir changes nothing. */
export function keyPath(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) fail('path must be a non-empty file path');
  return path.resolve(value);
}

/**
 * Permission bits for the key file. Write access for group or others is refused: an owner
 * trusts only a key file no one else can write, so it would refuse its own file on restart.
 */
export function fileMode(value: unknown): number {
  if (value === undefined) return DEFAULT_FILE_MODE;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0o777) {
    fail('fileMode must be permission bits from 0 to 0o777, e.g. 0o600');
  }
  if (((value as number) & 0o022) !== 0) {
    fail('fileMode must not let group or others write the key file (e.g. 0o600, or 0o640 for a group of readers)');
  }
  if (((value as number) & 0o400) === 0) fail('fileMode must let the owner read the key file (0o400)');
  return value as number;
}

/** Whether a base32 line, which carries no parameters, is read by everyone as these parameters. */
export function isDefaultTotp(totp: ResolvedTotpOptions): boolean {
  return (
    totp.algorithm === TOTP_DEFAULTS.algorithm &&
    totp.digits === TOTP_DEFAULTS.digits &&
    totp.period === TOTP_DEFAULTS.period &&
    totp.epoch === TOTP_DEFAULTS.epoch
  );
}

/**
 * The format an owner writes: the one asked for, else 'base32' for the default parameters and
 * 'uri' for any other. A base32 line with other parameters is refused: readers, the CLI and
 * oathtool would make default (SHA-1, 6-digit, 30 s) codes from it, and every request would fail.
 * No format carries an epoch, so a key with one cannot be shared through a file at all.
 */
export function keyFileFormat(value: unknown, totp: ResolvedTotpOptions): KeyFileFormat {
  if (value !== undefined && value !== 'base32' && value !== 'uri') fail("format must be 'base32' or 'uri'");
  if (totp.epoch !== TOTP_DEFAULTS.epoch) {
    fail('totp.epoch cannot be shared through a key file: neither a base32 line nor an otpauth URI carries it, so readers would make other codes');
  }
  if (value === 'base32' && !isDefaultTotp(totp)) {
    const { algorithm, digits, period } = totp;
    fail(
      `format 'base32' cannot carry ${algorithm}, ${digits} digits, ${period} s: readers, the CLI and oathtool would make SHA1, 6-digit, 30 s codes from it. Use format 'uri' (the default for these parameters)`,
    );
  }
  return value ?? (isDefaultTotp(totp) ? 'base32' : 'uri');
}

export function listener(value: unknown): AuditListener | undefined {
  return optionalFunction(value as AuditListener | undefined, 'onEvent');
}

// The shortest grace that is not taken for seconds meant as milliseconds (0 turns grace off).
const MIN_GRACE_MS = 1000;

/**
 * How often keys rotate, in milliseconds: 0 (never), or at least one TOTP period; a smaller
 * value is taken for seconds meant as milliseconds (`rotateEvery: 3600`) and refused.
 */
export function rotateEveryOption(value: unknown, periodMs: number): number {
  const every = milliseconds(value, 'rotateEvery', 0);
  if (every !== 0 && every < periodMs) {
    fail(
      `rotateEvery is in milliseconds: ${every} would rotate every ${every / 1000} s, more often than the ${periodMs / 1000} s TOTP period (did you mean ${every * 1000}?)`,
    );
  }
  return every;
}

/** How long a replaced key stays valid, in milliseconds: 0, or at least 1000 (default two periods). */
export function graceOption(value: unknown, periodMs: number): number {
  const grace = milliseconds(value, 'grace', 2 * periodMs);
  if (grace !== 0 && grace < MIN_GRACE_MS) {
    fail(`grace is in milliseconds: ${grace} would keep a replaced key for ${grace} ms; use 0 for none, or at least ${MIN_GRACE_MS} (did you mean ${grace * 1000}?)`);
  }
  return grace;
}

