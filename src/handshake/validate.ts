// Option checks shared by KeyOwner and KeyReader: misuse throws ERR_OTP_OPTIONS at start, never later.
import path from 'node:path';

import { OtpError } from '../errors.js';
import type { AuditListener } from './events.js';
import { DEFAULT_FILE_MODE, type KeyFileFormat } from './keyfile.js';

export function fail(message: string): never {
  throw new OtpError('ERR_OTP_OPTIONS', message);
}

export function optionsObject<T extends object>(options: T | undefined, what: string): T {
  if (options === null || typeof options !== 'object') fail(`${what} options must be an object with a path`);
  return options;
}

/** The key file's absolute path, so that a later chdir changes nothing. */
export function keyPath(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) fail('path must be a non-empty file path');
  return path.resolve(value);
}

export function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${name} must be a boolean`);
  return value;
}

/** A duration in milliseconds: a whole number, 0 or more. */
export function milliseconds(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0) fail(`${name} must be a whole number of milliseconds, 0 or more`);
  return value as number;
}

export function fileMode(value: unknown): number {
  if (value === undefined) return DEFAULT_FILE_MODE;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0o777) {
    fail('fileMode must be permission bits from 0 to 0o777, e.g. 0o600');
  }
  return value as number;
}

export function keyFileFormat(value: unknown): KeyFileFormat {
  if (value === undefined) return 'base32';
  if (value !== 'base32' && value !== 'uri') fail("format must be 'base32' or 'uri'");
  return value;
}

export function listener(value: unknown): AuditListener | undefined {
  if (value !== undefined && typeof value !== 'function') fail('onEvent must be a function');
  return value as AuditListener | undefined;
}
