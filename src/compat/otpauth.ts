// totp-handshake/compat/otpauth: otpauth 9's HOTP, TOTP, Secret and URI, with the same
// constructors, static and instance forms, properties, defaults (window 1, timestamps in
// milliseconds), search order (current, -1, +1, -2, +2, ...), algorithms (SHA1, SHA224,
// SHA256, SHA384, SHA512, SHA3-*, any name node:crypto knows in the static forms, or a custom
// `hmac` function) and errors. Codes come from ./internal/otp.ts.
import { randomBytes, timingSafeEqual } from 'node:crypto';

import { encodeBase32 } from '../base32.js';
import { parseCode } from '../internal/code.js';
import * as otp from './internal/otp.js';
import { CounterList, MAX_LISTED } from './internal/window.js';

/** A custom HMAC: (algorithm, key, message) => digest of at least 19 bytes. */
export type HmacFunction = (algorithm: string, key: Uint8Array, message: Uint8Array) => Uint8Array;

export const version = '9.5.2';

// ---- Secret --------------------------------------------------------------------------------------

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HEX = '0123456789ABCDEF';

// otpauth quotes the offending characters; a secret's characters are not quoted here.
const invalidCharacter = (position: number) => new TypeError(`Invalid character found at position ${position}`);

/** otpauth's base32: spaces removed, any case, trailing '=' dropped, trailing bits ignored. */
function decodeBase32(input: string): Uint8Array {
  // Named `str` as in otpauth: V8 quotes the expression in a TypeError for a non-string input.
  let str = input;
  str = str.replace(/ /g, '').toUpperCase();
  let end = str.length;
  while (str[end - 1] === '=') end--;
  const out = new Uint8Array(((end * 5) / 8) | 0);
  let bits = 0;
  let value = 0;
  let length = 0;
  for (let i = 0; i < end; i++) {
    const symbol = BASE32.indexOf(str[i] as string);
    if (symbol === -1) {
      out.fill(0);
      throw invalidCharacter(i);
    }
    value = ((value << 5) | symbol) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = value >>> bits;
    }
  }
  return out;
}

/** otpauth's hex: spaces removed, any case; an odd length fails on its last character. */
function decodeHex(input: string): Uint8Array {
  let str = input;
  str = str.replace(/ /g, '').toUpperCase();
  const out = new Uint8Array(str.length / 2);
  for (let i = 0; i < str.length; i += 2) {
    const high = HEX.indexOf(str[i] as string);
    const low = i + 1 < str.length ? HEX.indexOf(str[i + 1] as string) : -1;
    if (high === -1 || low === -1) {
      out.fill(0);
      throw invalidCharacter(high === -1 ? i : i + 1);
    }
    out[i / 2] = (high << 4) | low;
  }
  return out;
}

function decodeLatin1(str: string): Uint8Array {
  const out = new Uint8Array(str.length);
  for (let i = 0; i < str.length; i++) out[i] = str.charCodeAt(i) & 0xff;
  return out;
}

const encodeLatin1 = (bytes: Uint8Array): string => {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i] as number);
  return out;
};

const encodeHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex').toUpperCase();

/** Replaces a lazy getter with a read-only own property holding its value, as otpauth does. */
function settle<T>(target: object, name: string, value: T): T {
  Object.defineProperty(target, name, { enumerable: true, writable: false, configurable: false, value });
  return value;
}

/** An OTP secret key: random bytes, or bytes decoded from one of the encodings below. */
export class Secret {
  declare readonly bytes: Uint8Array;

  /**
   * @param config.buffer the key's bytes (an ArrayBuffer; copied from a typed array)
   * @param config.size random bytes to generate when no buffer is given (default 20)
   */
  constructor({ buffer, size = 20 }: { buffer?: ArrayBufferLike; size?: number } = {}) {
    settle(this, 'bytes', typeof buffer === 'undefined' ? randomBytes(size) : new Uint8Array(buffer));
  }

  static fromLatin1(str: string): Secret {
    return new Secret({ buffer: decodeLatin1(str).buffer });
  }

  static fromUTF8(str: string): Secret {
    return new Secret({ buffer: new TextEncoder().encode(str).buffer });
  }

  static fromBase32(str: string): Secret {
    return new Secret({ buffer: decodeBase32(str).buffer });
  }

  static fromHex(str: string): Secret {
    return new Secret({ buffer: decodeHex(str).buffer });
  }

  /** @deprecated otpauth keeps it for backward compatibility: use `bytes`. */
  get buffer(): ArrayBufferLike {
    return this.bytes.buffer;
  }

  get latin1(): string {
    return settle(this, 'latin1', encodeLatin1(this.bytes));
  }

  get utf8(): string {
    return settle(this, 'utf8', new TextDecoder().decode(this.bytes));
  }

  get base32(): string {
    return settle(this, 'base32', encodeBase32(this.bytes));
  }

  get hex(): string {
    return settle(this, 'hex', encodeHex(this.bytes));
  }
}

// ---- Codes -------------------------------------------------------------------------------------------

/** The HMAC otpauth uses unless given one: node:crypto's, the key and message copied to Buffers. */
const hmacDigest: HmacFunction = (algorithm, key, message) => otp.digest(algorithm, Buffer.from(key), Buffer.from(message));

/** Names the built-in HMAC takes straight to otp.code: digests of 20 bytes or more that node knows. */
const DIRECT_ALGORITHMS = new Set(
  ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'SHA3-224', 'SHA3-256', 'SHA3-384', 'SHA3-512'].flatMap((name) => [name, name.toLowerCase()]),
);

/** otpauth's 8-byte counter: big-endian, two's complement for negatives, low bits of larger values. */
function counterBytes(counter: number): Uint8Array {
  const out = new Uint8Array(8);
  let rest = counter;
  for (let i = 7; i >= 0; i--) {
    if (rest === 0) break;
    out[i] = rest & 255;
    rest -= out[i] as number;
    rest /= 256;
  }
  return out;
}

function formatCode(value: number, digits: number): string {
  return (value % 10 ** digits).toString().padStart(digits, '0');
}

function generateCode(secret: Secret, algorithm: string | undefined, digits: number, counter: number, hmac: HmacFunction): string {
  const name = algorithm === undefined ? 'SHA1' : algorithm;
  if (hmac === hmacDigest && DIRECT_ALGORITHMS.has(name) && otp.servesDigits(digits) && otp.servesCounter(counter) && secret.bytes instanceof Uint8Array) {
    return String(otp.code(name, secret.bytes, counter, digits)).padStart(digits, '0');
  }
  const digest = hmac(name, secret.bytes, counterBytes(counter));
  if (!digest?.byteLength || digest.byteLength < 19) throw new TypeError('Return value must be at least 19 bytes');
  return formatCode(otp.truncate(digest), digits);
}

const counters = new CounterList();

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * otpauth's HOTP.validate: the token against counter, counter - 1, counter + 1, counter - 2, ...
 * up to `window` each side; the delta of the first match, or null. Arguments as otpauth's
 * defaults leave them (digits 6, counter 0, window 1 when undefined).
 */
function validateAt(token: string, secret: Secret, algorithm: string | undefined, digits: number, counter: number, window: number, hmac: HmacFunction): number | null {
  if (token.length !== digits) return null;
  const name = algorithm === undefined ? 'SHA1' : algorithm;
  // The direct path: the built-in HMAC, an ASCII string token (any other token goes through
  // timingSafeEqual as in otpauth, which throws when the byte lengths differ) and a window
  // whose every counter otp.search serves.
  if (hmac === hmacDigest && DIRECT_ALGORITHMS.has(name) && otp.servesDigits(digits) && typeof token === 'string' && isAscii(token) && secret.bytes instanceof Uint8Array && window < MAX_LISTED) {
    counters.reset();
    counters.add(counter, 0);
    for (let i = 1; i <= window; i++) {
      counters.add(counter - i, -i);
      counters.add(counter + i, i);
    }
    if (counters.servable) {
      const target = parseCode(token, digits);
      if (target < 0) {
        otp.code(name, secret.bytes, counter, digits); // what otpauth computes before comparing: it throws for an unknown name
        return null;
      }
      const index = otp.search(name, secret.bytes, counters.values, counters.count, digits, target);
      return index < 0 ? null : (counters.tags[index] as number);
    }
  }
  const matches = (at: number) => {
    const generated = generateCode(secret, algorithm, digits, at, hmac);
    return timingSafeEqual(Buffer.from(token), Buffer.from(generated));
  };
  if (matches(counter)) return counter - counter;
  for (let i = 1; i <= window; ++i) {
    if (matches(counter - i)) return counter - i - counter;
    if (matches(counter + i)) return counter + i - counter;
  }
  return null;
}

function canonicalizeAlgorithm(algorithm: string): string {
  if (/^(?:SHA-?1|SSL3-SHA1)$/i.test(algorithm)) return 'SHA1';
  if (/^SHA(?:2?-)?224$/i.test(algorithm)) return 'SHA224';
  if (/^SHA(?:2?-)?256$/i.test(algorithm)) return 'SHA256';
  if (/^SHA(?:2?-)?384$/i.test(algorithm)) return 'SHA384';
  if (/^SHA(?:2?-)?512$/i.test(algorithm)) return 'SHA512';
  if (/^SHA3-224$/i.test(algorithm)) return 'SHA3-224';
  if (/^SHA3-256$/i.test(algorithm)) return 'SHA3-256';
  if (/^SHA3-384$/i.test(algorithm)) return 'SHA3-384';
  if (/^SHA3-512$/i.test(algorithm)) return 'SHA3-512';
  throw new TypeError(`Unknown hash algorithm: ${algorithm}`);
}

const resolveHmac = (hmac: HmacFunction | undefined): HmacFunction => (hmac === undefined ? hmacDigest : hmac);

function labelPart(issuer: string, label: string, issuerInLabel: boolean): string {
  const e = encodeURIComponent;
  if (!(issuer.length > 0)) return `${e(label)}?`;
  return issuerInLabel ? `${e(issuer)}:${e(label)}?issuer=${e(issuer)}&` : `${e(label)}?issuer=${e(issuer)}&`;
}

// ---- HOTP and TOTP -----------------------------------------------------------------------------------

interface HotpConfig {
  issuer?: string;
  label?: string;
  issuerInLabel?: boolean;
  secret?: Secret | string;
  algorithm?: string;
  digits?: number;
  counter?: number;
  hmac?: HmacFunction;
}

// HOTP and TOTP below declare the same fields and read the same constructor options, as otpauth's
// do: there they are two classes with no common base, so a shared base class here would show in
// their prototype chains. What they compute is shared (generateCode, validateAt, labelPart).

/** HOTP: an HMAC-based one-time password (RFC 4226). */
export class HOTP {
  static get defaults() {
    return { issuer: '', label: 'OTPAuth', issuerInLabel: true, algorithm: 'SHA1', digits: 6, counter: 0, window: 1 };
  }

  issuer: string;
  label: string;
  issuerInLabel: boolean;
  secret: Secret;
  algorithm: string;
  digits: number;
  counter: number;
  hmac: HmacFunction | undefined;

  constructor({ issuer = '', label = 'OTPAuth', issuerInLabel = true, secret = new Secret(), algorithm = 'SHA1', digits = 6, counter = 0, hmac }: HotpConfig = {}) {
    this.issuer = issuer;
    this.label = label;
    this.issuerInLabel = issuerInLabel;
    this.secret = typeof secret === 'string' ? Secret.fromBase32(secret) : secret;
    this.algorithm = hmac ? algorithm : canonicalizeAlgorithm(algorithm);
    this.digits = digits;
    this.counter = counter;
    this.hmac = hmac;
  }

  static generate({ secret, algorithm = 'SHA1', digits = 6, counter = 0, hmac = hmacDigest }: { secret: Secret; algorithm?: string; digits?: number; counter?: number; hmac?: HmacFunction }): string {
    return generateCode(secret, algorithm, digits, counter, hmac);
  }

  /** The code at `counter`; without one, at this.counter, which then moves on by one. */
  generate({ counter = this.counter++ }: { counter?: number } = {}): string {
    return generateCode(this.secret, this.algorithm, this.digits === undefined ? 6 : this.digits, counter, resolveHmac(this.hmac));
  }

  static validate({ token, secret, algorithm, digits = 6, counter = 0, window = 1, hmac = hmacDigest }: { token: string; secret: Secret; algorithm?: string; digits?: number; counter?: number; window?: number; hmac?: HmacFunction }): number | null {
    return validateAt(token, secret, algorithm, digits, counter, window, hmac);
  }

  /** The delta of the counter whose code `token` is, within `window` (default 1) of counter, or null. */
  validate({ token, counter = this.counter, window = 1 }: { token: string; counter?: number; window?: number }): number | null {
    return validateAt(token, this.secret, this.algorithm, this.digits === undefined ? 6 : this.digits, counter, window, resolveHmac(this.hmac));
  }

  toString(): string {
    const e = encodeURIComponent;
    return `otpauth://hotp/${labelPart(this.issuer, this.label, this.issuerInLabel)}secret=${e(this.secret.base32)}&algorithm=${e(this.algorithm)}&digits=${e(this.digits)}&counter=${e(this.counter)}`;
  }
}

interface TotpConfig {
  issuer?: string;
  label?: string;
  issuerInLabel?: boolean;
  secret?: Secret | string;
  algorithm?: string;
  digits?: number;
  period?: number;
  hmac?: HmacFunction;
}

/**
 * TOTP: a time-based one-time password (RFC 6238). Timestamps in milliseconds.
 *
 * Its fields are assigned as HOTP's are, written out again rather than inherited: the order of
 * an instance's own properties (Object.keys, JSON.stringify) is observable, and otpauth's puts
 * `hmac` after `period` here and after `counter` in HOTP.
 */
export class TOTP {
  static get defaults() {
    return { issuer: '', label: 'OTPAuth', issuerInLabel: true, algorithm: 'SHA1', digits: 6, period: 30, window: 1 };
  }

  issuer: string;
  label: string;
  issuerInLabel: boolean;
  secret: Secret;
  algorithm: string;
  digits: number;
  period: number;
  hmac: HmacFunction | undefined;

  constructor({ issuer = '', label = 'OTPAuth', issuerInLabel = true, secret = new Secret(), algorithm = 'SHA1', digits = 6, period = 30, hmac }: TotpConfig = {}) {
    this.issuer = issuer;
    this.label = label;
    this.issuerInLabel = issuerInLabel;
    this.secret = typeof secret === 'string' ? Secret.fromBase32(secret) : secret;
    this.algorithm = hmac ? algorithm : canonicalizeAlgorithm(algorithm);
    this.digits = digits;
    this.period = period;
    this.hmac = hmac;
  }

  /** The number of periods since the Unix epoch at `timestamp` (ms, default now). */
  static counter({ period = 30, timestamp = Date.now() }: { period?: number; timestamp?: number } = {}): number {
    return Math.floor(timestamp / 1000 / period);
  }

  counter({ timestamp = Date.now() }: { timestamp?: number } = {}): number {
    return TOTP.counter({ period: this.period, timestamp });
  }

  /** Milliseconds until the next code. */
  static remaining({ period = 30, timestamp = Date.now() }: { period?: number; timestamp?: number } = {}): number {
    return period * 1000 - (timestamp % (period * 1000));
  }

  remaining({ timestamp = Date.now() }: { timestamp?: number } = {}): number {
    return TOTP.remaining({ period: this.period, timestamp });
  }

  static generate({ secret, algorithm, digits, period = 30, timestamp = Date.now(), hmac }: { secret: Secret; algorithm?: string; digits?: number; period?: number; timestamp?: number; hmac?: HmacFunction }): string {
    return generateCode(secret, algorithm, digits === undefined ? 6 : digits, Math.floor(timestamp / 1000 / period), resolveHmac(hmac));
  }

  generate({ timestamp = Date.now() }: { timestamp?: number } = {}): string {
    const period = this.period === undefined ? 30 : this.period;
    return generateCode(this.secret, this.algorithm, this.digits === undefined ? 6 : this.digits, Math.floor(timestamp / 1000 / period), resolveHmac(this.hmac));
  }

  static validate({ token, secret, algorithm, digits, period = 30, timestamp = Date.now(), window, hmac }: { token: string; secret: Secret; algorithm?: string; digits?: number; period?: number; timestamp?: number; window?: number; hmac?: HmacFunction }): number | null {
    const counter = Math.floor(timestamp / 1000 / period);
    return validateAt(token, secret, algorithm, digits === undefined ? 6 : digits, counter, window === undefined ? 1 : window, resolveHmac(hmac));
  }

  /** The delta (in periods) of the token within `window` (default 1) of `timestamp` (ms, default now), or null. */
  validate({ token, timestamp, window }: { token: string; timestamp?: number; window?: number }): number | null {
    const period = this.period === undefined ? 30 : this.period;
    const counter = Math.floor((timestamp === undefined ? Date.now() : timestamp) / 1000 / period);
    return validateAt(token, this.secret, this.algorithm, this.digits === undefined ? 6 : this.digits, counter, window === undefined ? 1 : window, resolveHmac(this.hmac));
  }

  toString(): string {
    const e = encodeURIComponent;
    return `otpauth://totp/${labelPart(this.issuer, this.label, this.issuerInLabel)}secret=${e(this.secret.base32)}&algorithm=${e(this.algorithm)}&digits=${e(this.digits)}&period=${e(this.period)}`;
  }
}

// ---- URI ---------------------------------------------------------------------------------------------

const URI_PATTERN = /^otpauth:\/\/([ht]otp)\/(.+)\?([A-Z0-9.~_-]+=[^?&]*(?:&[A-Z0-9.~_-]+=[^?&]*)*)$/i;
const SECRET_PATTERN = /^[2-7A-Z]+=*$/i;
const ALGORITHM_PATTERN = /^SHA(?:1|224|256|384|512|3-224|3-256|3-384|3-512)$/i;
const CUSTOM_ALGORITHM_PATTERN = /^[A-Z0-9]+(?:[_-][A-Z0-9]+)*$/i;
const INTEGER_PATTERN = /^[+-]?\d+$/;
const POSITIVE_INTEGER_PATTERN = /^\+?[1-9]\d*$/;

/** Key URIs (the Google Authenticator format) to HOTP/TOTP objects and back. */
export class URI {
  static parse(uri: string, { hmac }: { hmac?: HmacFunction } = {}): HOTP | TOTP {
    let groups: RegExpMatchArray | null | undefined;
    try {
      groups = uri.match(URI_PATTERN);
    } catch {
      // Not a string: refused below.
    }
    if (!Array.isArray(groups)) throw new URIError('Invalid URI format');
    const type = (groups[1] as string).toLowerCase();
    const label = (groups[2] as string).split(/(?::|%3A) *(.+)/i, 2).map(decodeURIComponent);
    const params: Record<string, string> = {};
    for (const pair of (groups[3] as string).split('&')) {
      const [key, value] = pair.split(/=(.*)/, 2).map(decodeURIComponent) as [string, string];
      params[key.toLowerCase()] = value;
    }
    const config: HotpConfig & TotpConfig = {};
    if (type === 'hotp') {
      if (typeof params.counter !== 'undefined' && INTEGER_PATTERN.test(params.counter)) config.counter = parseInt(params.counter, 10);
      else throw new TypeError("Missing or invalid 'counter' parameter");
    } else if (type === 'totp') {
      if (typeof params.period !== 'undefined') {
        if (POSITIVE_INTEGER_PATTERN.test(params.period)) config.period = parseInt(params.period, 10);
        else throw new TypeError("Invalid 'period' parameter");
      }
    } else {
      throw new TypeError('Unknown OTP type');
    }
    if (typeof params.issuer !== 'undefined') config.issuer = params.issuer;
    if (label.length === 2) {
      config.label = label[1] as string;
      if (typeof config.issuer === 'undefined' || config.issuer === '') config.issuer = label[0] as string;
      else if (label[0] === '') config.issuerInLabel = false;
    } else {
      config.label = label[0] as string;
      if (typeof config.issuer !== 'undefined' && config.issuer !== '') config.issuerInLabel = false;
    }
    if (typeof params.secret !== 'undefined' && SECRET_PATTERN.test(params.secret)) config.secret = params.secret;
    else throw new TypeError("Missing or invalid 'secret' parameter");
    if (typeof params.algorithm !== 'undefined') {
      if ((hmac ? CUSTOM_ALGORITHM_PATTERN : ALGORITHM_PATTERN).test(params.algorithm)) config.algorithm = params.algorithm;
      else throw new TypeError("Invalid 'algorithm' parameter");
    }
    if (typeof params.digits !== 'undefined') {
      if (POSITIVE_INTEGER_PATTERN.test(params.digits)) config.digits = parseInt(params.digits, 10);
      else throw new TypeError("Invalid 'digits' parameter");
    }
    if (typeof hmac !== 'undefined') config.hmac = hmac;
    return type === 'hotp' ? new HOTP(config) : new TOTP(config);
  }

  static stringify(otpObject: HOTP | TOTP): string {
    if (otpObject instanceof HOTP || otpObject instanceof TOTP) return otpObject.toString();
    throw new TypeError("Invalid 'HOTP/TOTP' object");
  }
}
