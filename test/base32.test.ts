import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { decodeBase32, encodeBase32 } from '../dist/base32.js';
import { isOtpError } from '../dist/errors.js';
import rfc4648 from './fixtures/rfc4648-base32.json' with { type: 'json' };

const bytes = (text: string) => new TextEncoder().encode(text);

function errorOf(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('base32 decoding refuses', () => {
  it.each([
    ['a digit outside 2-7', 'MZXW6YT1', 7],
    ['the digit 0', 'MZXW60TB', 5],
    ['a hyphen', 'MZXW-6YTB', 4],
    ['a non-ASCII letter', 'MZXW6YTÉ', 7],
    ['a tab', 'MZXW\t6YTB', 4],
    ['a newline', 'MZXW6YTB\n', 8],
  ])('%s, naming the position and not the text', (_, text, position) => {
    const error = errorOf(() => decodeBase32(text));
    expect(isOtpError(error, 'ERR_OTP_BASE32')).toBe(true);
    expect((error as Error).message).toBe(`an invalid base32 character at position ${position}`);
    expect((error as Error).message).not.toContain('MZXW');
  });

  it('data after padding', () => {
    expect(() => decodeBase32('MY==MY==')).toThrow('base32 data after padding at position 4');
  });

  it.each([1, 3, 6, 9])('%i symbols, a length no byte string encodes to', (n) => {
    expect(() => decodeBase32('A'.repeat(n))).toThrow(`a base32 secret cannot have ${n} symbols`);
  });

  it('a non-string', () => {
    expect(isOtpError(errorOf(() => decodeBase32(42 as never)), 'ERR_OTP_BASE32')).toBe(true);
  });
});

describe('base32 (RFC 4648 §10 vectors)', () => {
  it.each(rfc4648.vectors)('encodes "$ascii" as "$base32" (without padding)', ({ ascii, base32 }) => {
    expect(encodeBase32(bytes(ascii))).toBe(base32.replace(/=+$/, ''));
  });

  it.each(rfc4648.vectors)('decodes "$base32" with and without padding', ({ ascii, base32 }) => {
    expect(decodeBase32(base32)).toEqual(bytes(ascii));
    expect(decodeBase32(base32.replace(/=+$/, ''))).toEqual(bytes(ascii));
  });

  it('ignores case and the spaces of grouped display', () => {
    expect(decodeBase32('mzxw 6ytb oi')).toEqual(bytes('foobar'));
    expect(decodeBase32(' MzXw6YtBoI====== ')).toEqual(bytes('foobar'));
  });

  it('round-trips any byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const text = encodeBase32(data);
        expect(text).toMatch(/^[A-Z2-7]*$/);
        expect(decodeBase32(text)).toEqual(data);
        expect(decodeBase32(text.toLowerCase())).toEqual(data);
      }),
    );
  });

  it('never throws anything but OtpError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (text) => {
        const error = errorOf(() => decodeBase32(text));
        expect(error === undefined || isOtpError(error, 'ERR_OTP_BASE32')).toBe(true);
      }),
    );
  });
});
