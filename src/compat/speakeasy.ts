// totp-handshake/compat/speakeasy: speakeasy 2.0.0's functions with its option handling: secrets
// in 'ascii' by default (or 'hex', 'base64', 'base32', any Buffer encoding, or a Buffer), time
// and epoch in seconds, windows as speakeasy reads them (parseInt, and totp's two-sided window
// built by adding it to itself), tokens compared as parseInt numbers, the 32-bit counter, the
// deprecated option names with their warnings, and its base32 decoder (see decodeBase32).
// Codes come from ./internal/otp.ts.
import { randomBytes } from 'node:crypto';
import { format } from 'node:url';
import { deprecate, inspect } from 'node:util';

import { encodeBase32 } from '../base32.js';
import * as otp from './internal/otp.js';
import { CounterList, MAX_LISTED } from './internal/window.js';

export interface DigestOptions {
  secret: string | Buffer;
  counter: number;
  /** How `secret` is written when it is a string: 'ascii' (default), 'hex', 'base64', 'base32', ... */
  encoding?: string;
  /** Any node:crypto digest name (case-insensitive). Default 'sha1'. */
  algorithm?: string;
  /** @deprecated speakeasy's old name for `secret`. */
  key?: string | Buffer;
}

export interface HotpOptions extends Omit<DigestOptions, 'secret'> {
  secret?: string | Buffer;
  /** Code length. Default 6. */
  digits?: number;
  /** A precomputed HMAC digest to take the code from. */
  digest?: Buffer;
  /** @deprecated speakeasy's old name for `digits`. */
  length?: number;
}

export interface HotpVerifyOptions extends HotpOptions {
  token: string;
  /** Counters after `counter` also accepted. Default 0. */
  window?: number;
}

export interface TotpOptions extends Omit<HotpOptions, 'counter'> {
  /** The time in seconds since the Unix epoch. Default now. */
  time?: number;
  /** Time step in seconds. Default 30. */
  step?: number;
  /** Unix time in seconds of step 0. Default 0. */
  epoch?: number;
  /** Use this counter instead of the one the time gives. */
  counter?: number;
  /** @deprecated speakeasy's old name for `epoch`. */
  initial_time?: number;
}

export interface TotpVerifyOptions extends TotpOptions {
  token: string;
  /** Steps accepted on each side of the current one. Default 0. */
  window?: number;
}

export interface GeneratedSecret {
  ascii: string;
  hex: string;
  base32: string;
  otpauth_url?: string;
  qr_code_ascii?: string;
  qr_code_hex?: string;
  qr_code_base32?: string;
  google_auth_qr?: string;
}

export interface GenerateSecretOptions {
  length?: number;
  name?: string;
  symbols?: boolean;
  otpauth_url?: boolean;
  qr_codes?: boolean;
  google_auth_qr?: boolean;
}

export interface OtpauthURLOptions {
  secret: string | Buffer;
  label: string;
  issuer?: string;
  type?: string;
  counter?: number;
  algorithm?: string;
  digits?: number;
  period?: number;
  encoding?: string;
}

type Options = Record<string, any>;

// ---- Secrets ---------------------------------------------------------------------------------------

/** Symbol values of base32.js 0.0.1, which speakeasy uses, by character code: also '0' as 'O' and '1' as 'I'. */
const BASE32_VALUES = new Uint8Array(128);
for (let i = 0; i < 32; i++) BASE32_VALUES['ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.charCodeAt(i)] = i;
BASE32_VALUES[0x30] = 14;
BASE32_VALUES[0x31] = 8;

/**
 * base32.js 0.0.1's decoder, which speakeasy uses for 'base32' secrets. It never throws on
 * content: the input is upper-cased, '=' is skipped wherever it is, any other character outside
 * the alphabet reads as 'A' (0), and an empty or missing secret is an empty key. Its known bug
 * is kept, since keys enrolled with it depend on it: when the symbols leave a partial byte whose
 * bits are not all zero (a length that is not a multiple of 8 whose last symbol is not
 * canonical), that partial byte is appended to the key.
 */
function decodeBase32(str: unknown): Buffer {
  if (!str) return Buffer.alloc(0);
  const upper: string = (str as string).toUpperCase();
  const out = Buffer.alloc(Math.ceil((upper.length * 5) / 8) + 1);
  let length = 0;
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < upper.length; i++) {
    const c = upper.charCodeAt(i);
    if (c === 0x3d) continue;
    buffer = ((buffer << 5) | (c < 128 ? (BASE32_VALUES[c] as number) : 0)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (buffer >>> bits) & 0xff;
    }
  }
  const rest = (buffer << (8 - bits)) & 0xff;
  if (bits > 0 && rest !== 0) out[length++] = rest;
  return out.subarray(0, length);
}

/** `new Buffer(secret, encoding)`, as speakeasy builds a key from a string (without the deprecation warning). */
function bufferFrom(value: unknown, encoding: string): Buffer {
  if (typeof value === 'number') {
    throw Object.assign(new TypeError(`The "string" argument must be of type string. Received type number (${inspect(value)})`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  return Buffer.from(value as string, encoding as BufferEncoding);
}

function keyOf(secret: unknown, encoding: string): Buffer {
  if (Buffer.isBuffer(secret)) return secret;
  return encoding === 'base32' ? decodeBase32(secret) : bufferFrom(secret, encoding);
}

// ---- Codes -----------------------------------------------------------------------------------------

const warn = (message: string) => console.warn(message);

/** speakeasy's counter message: the counter as a 32-bit integer, sign-extended to 8 bytes. */
function counterMessage(counter: unknown): Buffer {
  const value = (counter as number) | 0;
  const message = Buffer.alloc(8);
  message.writeInt32BE(value < 0 ? -1 : 0, 0);
  message.writeInt32BE(value, 4);
  return message;
}

interface Digest {
  algorithm: string;
  key: Buffer;
}

/** The algorithm and key of a digest, read (and warned about) in speakeasy's order. */
function digestInput(options: Options): Digest {
  let secret = options.secret;
  const encoding = options.encoding || 'ascii';
  const algorithm: string = (options.algorithm || 'sha1').toLowerCase();
  if (options.key != null) {
    warn('Speakeasy - Deprecation Notice - Specifying the secret using `key` is no longer supported. Use `secret` instead.');
    secret = options.key;
  }
  return { algorithm, key: keyOf(secret, encoding) };
}

/** HMAC(secret, counter) as speakeasy computes it (a Buffer). */
export function digest(options: DigestOptions): Buffer {
  const { algorithm, key } = digestInput(options as Options);
  return otp.digest(algorithm, key, counterMessage(options.counter));
}

/** The 31-bit truncated value at `counter`, from otp.code when the 32-bit counter is not negative. */
function valueAt(input: Digest, counter: unknown, digits: number): number {
  const counter32 = (counter as number) | 0;
  if (counter32 >= 0) return otp.code(input.algorithm, input.key, counter32, digits);
  return otp.truncate(otp.digest(input.algorithm, input.key, counterMessage(counter32))) % 10 ** digits;
}

/** speakeasy's code format: `digits` zeros and the value, cut to the last `digits` characters. */
function formatCode(value: number, digits: any): string {
  return (new Array(digits + 1).join('0') + value.toString(10)).substr(-digits);
}

/** The digit count hotp() uses, and whether this call may take the direct path. */
function directDigits(options: Options): number | undefined {
  if (options.length != null || options.key != null || options.digest) return undefined;
  const digits = options.digits != null ? options.digits : 6;
  return otp.servesDigits(digits) ? digits : undefined;
}

/**
 * The HOTP code at `counter` for these options. speakeasy passes the counter inside an options
 * object (a shadow of the caller's, through Object.create); the direct path reads the rest from
 * the caller's options and makes no shadow, the others build the one speakeasy builds.
 */
function codeAt(options: Options, counter: unknown): string {
  const direct = directDigits(options);
  if (direct !== undefined) {
    return String(valueAt(digestInput(options), counter, direct)).padStart(direct, '0');
  }
  const opts: Options = counter === options.counter ? options : Object.assign(Object.create(options), { counter });
  const digits = (opts.digits != null ? opts.digits : opts.length) || 6;
  if (opts.length != null) warn('Speakeasy - Deprecation Notice - Specifying token digits using `length` is no longer supported. Use `digits` instead.');
  const hash: Uint8Array = opts.digest || digest(opts as DigestOptions);
  return formatCode(otp.truncate(hash), digits);
}

/** The HOTP code at `options.counter`. */
export function hotp(options: HotpOptions & { counter: number }): string {
  return codeAt(options as Options, options.counter);
}

const counters = new CounterList();

/**
 * hotp.verifyDelta once its options are read: `{ delta }` for the first counter from `counter`
 * to `counter + window` whose code, read as an integer, equals the token read as an integer;
 * undefined otherwise. The token must have exactly `digits` characters; speakeasy's parseInt
 * reading means '12345x' is 12345.
 */
function searchFrom(options: Options, token: string, digits: number, window: number, counter: number): { delta: number } | undefined {
  if (token.length !== digits) return undefined;
  const target = parseInt(token, 10);
  if (isNaN(target)) return undefined;
  if (directDigits(options) === digits && window < MAX_LISTED && counter <= counter + window) {
    counters.reset();
    for (let i = counter; i <= counter + window; ++i) counters.add(i, i - counter);
    if (counters.servable && counter + window < 2 ** 31) {
      const input = digestInput(options);
      const index = otp.search(input.algorithm, input.key, counters.values, counters.count, digits, target);
      return index < 0 ? undefined : { delta: counters.tags[index] as number };
    }
  }
  for (let i = counter; i <= counter + window; ++i) {
    if (parseInt(codeAt(options, i), 10) === target) return { delta: i - counter };
  }
  return undefined;
}

function hotpVerifyDelta(options: HotpVerifyOptions): { delta: number } | undefined {
  const o = options as Options;
  return searchFrom(o, String(o.token), parseInt(o.digits, 10) || 6, parseInt(o.window, 10) || 0, parseInt(o.counter, 10) || 0);
}

function hotpVerify(options: HotpVerifyOptions): boolean {
  return hotpVerifyDelta(options) != null;
}

hotp.verifyDelta = hotpVerifyDelta;
hotp.verify = hotpVerify;

/** Alias of hotp(). */
export const counter = hotp;

/** The TOTP counter: floor((time - epoch) / step), time and epoch in seconds. */
export function _counter(options: TotpOptions): number {
  const opts = options as Options;
  const step = opts.step || 30;
  const time = opts.time != null ? opts.time * 1000 : Date.now();
  const epoch = (opts.epoch != null ? opts.epoch * 1000 : opts.initial_time * 1000) || 0;
  if (opts.initial_time != null) warn('Speakeasy - Deprecation Notice - Specifying the epoch using `initial_time` is no longer supported. Use `epoch` instead.');
  return Math.floor((time - epoch) / step / 1000);
}

/** The TOTP code now (or at `time`, in seconds). */
export function totp(options: TotpOptions): string {
  const o = options as Options;
  return codeAt(o, o.counter == null ? _counter(options) : o.counter);
}

/**
 * `{ delta }` (in steps, negative for the past) for a token within `window` steps of now (or
 * `time`), else undefined.
 */
function totpVerifyDelta(options: TotpVerifyOptions): { delta: number } | undefined {
  const o = options as Options;
  const window = parseInt(o.window, 10) || 0;
  // speakeasy shifts the counter back by the window and searches twice the window from there,
  // through a shadow whose counter and window it overwrites (window + window: with a string
  // window, a concatenation). With a whole-number window and counter that is the span below.
  let computed: number | undefined;
  if (o.counter == null && (o.window === undefined || (Number.isSafeInteger(o.window) && o.window >= 0 && o.window < MAX_LISTED))) {
    computed = _counter(options);
    const start = computed - window;
    if (Number.isSafeInteger(start)) {
      const delta = searchFrom(o, String(o.token), parseInt(o.digits, 10) || 6, window + window, start);
      if (delta) delta.delta -= window;
      return delta;
    }
  }
  const shadow: Options = Object.create(options);
  // _counter runs (and warns about initial_time) once per call, as in speakeasy.
  if (shadow.counter == null) shadow.counter = computed !== undefined ? computed : _counter(shadow);
  shadow.counter -= window;
  shadow.window += window;
  const delta = hotpVerifyDelta(shadow as HotpVerifyOptions);
  if (delta) delta.delta -= window;
  return delta;
}

function totpVerify(options: TotpVerifyOptions): boolean {
  return totpVerifyDelta(options) != null;
}

totp.verifyDelta = totpVerifyDelta;
totp.verify = totpVerify;

/** Alias of totp(). */
export const time = totp;

// ---- Secrets and key URIs ----------------------------------------------------------------------------

const ASCII_SET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXTZabcdefghiklmnopqrstuvwxyz';
const SYMBOL_SET = '!@#$%^&*()<>?/[]{},.:;';

/**
 * A random ASCII secret of `length` characters (default 32) from speakeasy's character set
 * (its digits and letters, which lack 'Y' and 'j', plus symbols unless `symbols` is false).
 */
export function generateSecretASCII(length?: number, symbols?: boolean): string {
  const bytes = randomBytes(length || 32);
  const set = symbols ? ASCII_SET + SYMBOL_SET : ASCII_SET;
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += set[Math.floor(((bytes[i] as number) / 255.0) * (set.length - 1))];
  return out;
}

const QR_CHART = 'https://chart.googleapis.com/chart?chs=166x166&chld=L|0&cht=qr&chl=';

/** A random secret in its ascii, hex and base32 forms, with an otpauth:// URL (speakeasy's defaults: 32 characters with symbols). */
export function generateSecret(options?: GenerateSecretOptions): GeneratedSecret {
  const opts: Options = options || {};
  const length = opts.length || 32;
  const name = encodeURIComponent(opts.name || 'SecretKey');
  const qrCodes = opts.qr_codes || false;
  const googleAuthQr = opts.google_auth_qr || false;
  const withUrl = opts.otpauth_url != null ? opts.otpauth_url : true;
  const symbols = !(opts.symbols !== undefined && opts.symbols === false);
  const key = generateSecretASCII(length, symbols);
  const secret: GeneratedSecret = { ascii: key, hex: Buffer.from(key, 'ascii').toString('hex'), base32: encodeBase32(Buffer.from(key)) };
  if (qrCodes) {
    warn('Speakeasy - Deprecation Notice - generateSecret() QR codes are deprecated and no longer supported. Please use your own QR code implementation.');
    secret.qr_code_ascii = QR_CHART + encodeURIComponent(secret.ascii);
    secret.qr_code_hex = QR_CHART + encodeURIComponent(secret.hex);
    secret.qr_code_base32 = QR_CHART + encodeURIComponent(secret.base32);
  }
  if (withUrl) secret.otpauth_url = otpauthURL({ secret: secret.ascii, label: name });
  if (googleAuthQr) {
    warn('Speakeasy - Deprecation Notice - generateSecret() Google Auth QR code is deprecated and no longer supported. Please use your own QR code implementation.');
    secret.google_auth_qr = QR_CHART + encodeURIComponent(otpauthURL({ secret: secret.base32, label: name }));
  }
  return secret;
}

/** @deprecated speakeasy's old name for generateSecret (warns once, as speakeasy does). */
export const generate_key = deprecate(
  (options?: GenerateSecretOptions) => generateSecret(options),
  'Speakeasy - Deprecation Notice - `generate_key()` is depreciated, please use `generateSecret()` instead.',
);

/** @deprecated speakeasy's old name for generateSecretASCII (warns once, as speakeasy does). */
export const generate_key_ascii = deprecate(
  (length?: number, symbols?: boolean) => generateSecretASCII(length, symbols),
  'Speakeasy - Deprecation Notice - `generate_key_ascii()` is depreciated, please use `generateSecretASCII()` instead.',
);

/** A Google Authenticator key URI (otpauth://TYPE/LABEL?secret=BASE32&...), with speakeasy's checks and warnings. */
export function otpauthURL(urlOptions: OtpauthURLOptions): string {
  // Named `options` as in speakeasy: V8 quotes `(options.type || "totp").toLowerCase` in the
  // TypeError for a type that is not a string.
  const options = urlOptions as Options;
  let secret = options.secret;
  const type = (options.type || 'totp').toLowerCase();
  const encoding = options.encoding || 'ascii';
  const { label, issuer, counter: count, algorithm, digits } = options;
  let period = options.period;
  if (type !== 'totp' && type !== 'hotp') throw new Error(`Speakeasy - otpauthURL - Invalid type \`${type}\`; must be \`hotp\` or \`totp\``);
  if (!secret) throw new Error('Speakeasy - otpauthURL - Missing secret');
  if (!label) throw new Error('Speakeasy - otpauthURL - Missing label');
  if (type === 'hotp' && (count === null || typeof count === 'undefined')) throw new Error('Speakeasy - otpauthURL - Missing counter value for HOTP');
  if (encoding !== 'base32') secret = bufferFrom(secret, encoding);
  if (Buffer.isBuffer(secret)) secret = encodeBase32(secret);
  const query: Options = { secret };
  if (issuer) query.issuer = issuer;
  if (algorithm != null) {
    const upper = algorithm.toUpperCase();
    if (upper !== 'SHA1' && upper !== 'SHA256' && upper !== 'SHA512') warn('Speakeasy - otpauthURL - Warning - Algorithm generally should be SHA1, SHA256, or SHA512');
    query.algorithm = algorithm.toUpperCase();
  }
  if (digits != null) {
    if (isNaN(digits)) throw new Error(`Speakeasy - otpauthURL - Invalid digits \`${digits}\``);
    const parsed = parseInt(digits, 10);
    if (parsed !== 6 && parsed !== 8) warn('Speakeasy - otpauthURL - Warning - Digits generally should be either 6 or 8');
    query.digits = digits;
  }
  if (period != null) {
    period = parseInt(period, 10);
    if (~~period !== period) throw new Error(`Speakeasy - otpauthURL - Invalid period \`${period}\``);
    query.period = period;
  }
  return format({ protocol: 'otpauth', slashes: true, hostname: type, pathname: label, query });
}

/**
 * The whole API as one object, for `import speakeasy from 'totp-handshake/compat/speakeasy'`
 * (the usual way to import speakeasy, a CommonJS module, from ESM or TypeScript).
 */
const speakeasy = {
  digest,
  hotp,
  counter,
  _counter,
  totp,
  time,
  generateSecret,
  generate_key,
  generateSecretASCII,
  generate_key_ascii,
  otpauthURL,
};
export default speakeasy;
