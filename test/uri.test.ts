import { describe, expect, it } from 'vitest';

import { isOtpError, TotpKey } from 'totp-handshake';
import { parseOtpauthUri } from '../dist/uri.js';

// 20 bytes: "12345678901234567890", the RFC test secret.
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

function errorOf(call: () => unknown): Error & { code?: string } {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('TotpKey.fromUri refuses', () => {
  it.each([
    ['a non-otpauth scheme', `https://totp/x?secret=${SECRET}`, 'the URI scheme must be otpauth:'],
    ['an HOTP URI', `otpauth://hotp/x?secret=${SECRET}&counter=1`, 'HOTP URIs are not supported'],
    ['an unknown type', `otpauth://motp/x?secret=${SECRET}`, 'the URI type must be totp'],
    ['a URI without a secret', 'otpauth://totp/x?issuer=a', 'the URI has no secret parameter'],
    ['an empty secret', 'otpauth://totp/x?secret=', 'the URI has no secret parameter'],
    ['a secret that is not base32', 'otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ01', 'the secret parameter is not base32'],
    ['two secrets', `otpauth://totp/x?secret=${SECRET}&secret=${SECRET}`, 'the secret parameter appears more than once'],
    ['an unknown algorithm', `otpauth://totp/x?secret=${SECRET}&algorithm=MD5`, 'the algorithm parameter must be one of SHA1, SHA256, SHA512'],
    ['9 digits', `otpauth://totp/x?secret=${SECRET}&digits=9`, 'digits must be 6, 7 or 8'],
    ['a non-numeric digits value', `otpauth://totp/x?secret=${SECRET}&digits=six`, 'the digits parameter must be a whole number'],
    ['a period of 0', `otpauth://totp/x?secret=${SECRET}&period=0`, 'period must be a whole number of seconds'],
    ['a negative period', `otpauth://totp/x?secret=${SECRET}&period=-30`, 'the period parameter must be a whole number'],
    ['text that is not a URI', 'not a uri', 'not a valid URI'],
    ['a bad percent-escape in the label', `otpauth://totp/%E0%A4%A?secret=${SECRET}`, 'the URI label is not valid percent-encoding'],
  ])('%s, with ERR_OTP_URI and without quoting it', (_, uri, message) => {
    const error = errorOf(() => TotpKey.fromUri(uri));
    expect(error.code).toBe('ERR_OTP_URI');
    expect(error.message).toContain(message);
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain('GEZDGNBVGY3TQOJQ');
  });

  it('a secret shorter than 16 bytes, with ERR_OTP_SECRET_LENGTH', () => {
    expect(errorOf(() => TotpKey.fromUri('otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP')).code).toBe(
      'ERR_OTP_SECRET_LENGTH',
    );
  });

  it('a non-string', () => {
    expect(isOtpError(errorOf(() => TotpKey.fromUri(42 as never)), 'ERR_OTP_URI')).toBe(true);
  });
});

describe('otpauth URIs', () => {
  it('reads the parameters, case-insensitively for the algorithm, and ignores unknown ones', () => {
    const key = TotpKey.fromUri(`otpauth://totp/ACME:ops?secret=${SECRET.toLowerCase()}&algorithm=sha256&digits=8&period=60&image=x`);
    expect({ algorithm: key.algorithm, digits: key.digits, period: key.period }).toEqual({ algorithm: 'SHA256', digits: 8, period: 60 });
    expect(key.toBase32()).toBe(SECRET);
  });

  it('defaults to SHA1, 6 digits and 30 s', () => {
    const key = TotpKey.fromUri(`otpauth://totp/x?secret=${SECRET}`);
    expect({ algorithm: key.algorithm, digits: key.digits, period: key.period }).toEqual({ algorithm: 'SHA1', digits: 6, period: 30 });
    expect(key.generate(59_000)).toBe('287082');
  });

  it('writes the Key URI Format with issuer prefix and parameter', () => {
    const key = TotpKey.fromBase32(SECRET, { algorithm: 'SHA512', digits: 7, period: 45 });
    expect(key.toUri('api@host', 'ACME Co')).toBe(
      `otpauth://totp/ACME%20Co:api%40host?secret=${SECRET}&issuer=ACME%20Co&algorithm=SHA512&digits=7&period=45`,
    );
    expect(key.toUri()).toBe(`otpauth://totp/totp-handshake?secret=${SECRET}&algorithm=SHA512&digits=7&period=45`);
  });

  it.each([
    ['spaces', 'my account', 'My Issuer'],
    ['reserved characters', 'a&b=c?d#e/f%g+h', 'i&j=k?l#m/n%o+p'],
    ['non-ASCII text', 'zoë 東京', 'Société Générale'],
  ])('round-trips a label and issuer with %s', (_, label, issuer) => {
    const key = TotpKey.random({ algorithm: 'SHA256', digits: 8, period: 15 });
    const uri = key.toUri(label, issuer);
    const url = new URL(uri);
    expect(url.searchParams.get('issuer')).toBe(issuer);
    expect(decodeURIComponent(url.pathname.slice(1))).toBe(`${issuer}:${label}`);
    const copy = TotpKey.fromUri(uri);
    expect(copy.toBase32()).toBe(key.toBase32());
    expect(copy.id).toBe(key.id);
    expect([copy.algorithm, copy.digits, copy.period]).toEqual(['SHA256', 8, 15]);
    expect(copy.generate(1_700_000_000_000)).toBe(key.generate(1_700_000_000_000));
  });

  it('keeps labels that a URL parser would take for dot segments (found by fuzzing)', () => {
    const key = TotpKey.fromBase32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    for (const label of ['.', '..', '%2e', '.%2E', 'a/..']) {
      expect(parseOtpauthUri(key.toUri(label)).label).toBe(label);
      expect(parseOtpauthUri(key.toUri(label, 'Acme')).label).toBe(`Acme:${label}`);
    }
    expect(parseOtpauthUri('otpauth://totp/./?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').label).toBe('./');
  });

  it('refuses to write what a URI cannot hold', () => {
    const key = TotpKey.fromBase32(SECRET, { epoch: 100 });
    expect(errorOf(() => key.toUri()).message).toBe('an otpauth URI cannot carry a non-zero epoch');
    const plain = TotpKey.fromBase32(SECRET);
    expect(errorOf(() => plain.toUri('x', 'a:b')).code).toBe('ERR_OTP_OPTIONS');
    expect(errorOf(() => plain.toUri('')).code).toBe('ERR_OTP_OPTIONS');
  });
});
