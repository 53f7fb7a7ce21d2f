// otpauth:// URIs (the Key URI Format of Google Authenticator, read by every TOTP app):
//   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
import { decodeBase32, encodeBase32 } from './base32.js';
import { OtpError } from './errors.js';
import { fail as failWith } from './internal/options.js';
import { type Algorithm, ALGORITHMS, type ResolvedTotpOptions, resolveTotpOptions, type TotpOptions } from './options.js';

export interface ParsedUri {
  secret: Uint8Array;
  options: ResolvedTotpOptions;
  label: string;
  issuer: string | undefined;
}

// The URI holds the secret: no message here may quote it.
function fail(message: string): never {
  return failWith(message, 'ERR_OTP_URI');
}

const KNOWN_PARAMETERS = ['secret', 'issuer', 'algorithm', 'digits', 'period'];

function wholeNumber(text: string, name: string): number {
  if (!/^[0-9]{1,10}$/.test(text)) fail(`the ${name} parameter must be a whole number`);
  return Number(text);
}

export function parseOtpauthUri(uri: string): ParsedUri {
  if (typeof uri !== 'string') fail('an otpauth URI must be a string');
  if (uri.length > 8192) fail('an otpauth URI must be at most 8192 characters');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    fail('not a valid URI');
  }
  if (url.protocol !== 'otpauth:') fail('the URI scheme must be otpauth:');
  if (url.host.toLowerCase() !== 'totp') {
    fail(url.host.toLowerCase() === 'hotp' ? 'HOTP URIs are not supported: use otpauth://totp/' : 'the URI type must be totp');
  }
  for (const name of KNOWN_PARAMETERS) {
    if (url.searchParams.getAll(name).length > 1) fail(`the ${name} parameter appears more than once`);
  }
  const secretText = url.searchParams.get('secret');
  if (!secretText) fail('the URI has no secret parameter');
  const options: TotpOptions = {};
  const algorithm = url.searchParams.get('algorithm');
  if (algorithm !== null) {
    const upper = algorithm.toUpperCase() as Algorithm;
    if (!ALGORITHMS.includes(upper)) fail(`the algorithm parameter must be one of ${ALGORITHMS.join(', ')}`);
    options.algorithm = upper;
  }
  const digits = url.searchParams.get('digits');
  if (digits !== null) options.digits = wholeNumber(digits, 'digits') as 6 | 7 | 8;
  const period = url.searchParams.get('period');
  if (period !== null) options.period = wholeNumber(period, 'period');
  let resolved: ResolvedTotpOptions;
  try {
    resolved = resolveTotpOptions(options);
  } catch (error) {
    throw new OtpError('ERR_OTP_URI', (error as Error).message);
  }

  // The label as written: URL's pathname drops dot segments, and a label may be just '.' or '..'.
  const written = /^otpauth:\/\/[^/?#]*\/([^?#]*)/i.exec(uri.trim());
  let label: string;
  try {
    label = decodeURIComponent(written === null ? url.pathname.replace(/^\//, '') : (written[1] as string));
  } catch {
    fail('the URI label is not valid percent-encoding');
  }
  // Decoded last, once nothing else can fail: no bytes of a secret are left behind by an error.
  let secret: Uint8Array;
  try {
    secret = decodeBase32(secretText);
  } catch (error) {
    throw new OtpError('ERR_OTP_URI', `the secret parameter is not base32 (${(error as Error).message})`);
  }
  return { secret, options: resolved, label, issuer: url.searchParams.get('issuer') ?? undefined };
}

export function formatOtpauthUri(
  secret: Uint8Array,
  options: ResolvedTotpOptions,
  label: string,
  issuer: string | undefined,
): string {
  if (typeof label !== 'string' || label.length === 0) throw new OtpError('ERR_OTP_OPTIONS', 'label must be a non-empty string');
  if (issuer !== undefined && (typeof issuer !== 'string' || issuer.length === 0 || issuer.includes(':'))) {
    throw new OtpError('ERR_OTP_OPTIONS', 'issuer must be a non-empty string without ":"');
  }
  if (options.epoch !== 0) {
    throw new OtpError('ERR_OTP_OPTIONS', 'an otpauth URI cannot carry a non-zero epoch');
  }
  // The label is "issuer:account"; each part is percent-encoded and the colon left literal.
  const path = issuer === undefined ? encodeURIComponent(label) : `${encodeURIComponent(issuer)}:${encodeURIComponent(label)}`;
  const query = new URLSearchParams({ secret: encodeBase32(secret) });
  if (issuer !== undefined) query.set('issuer', issuer);
  query.set('algorithm', options.algorithm);
  query.set('digits', String(options.digits));
  query.set('period', String(options.period));
  return `otpauth://totp/${path}?${query.toString().replace(/\+/g, '%20')}`;
}
