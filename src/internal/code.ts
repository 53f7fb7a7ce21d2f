// A code as sent (an X-OTP header, a CLI argument, a peer library's token): the one parser.

/**
 * The code in `code` as a number, or -1 unless it is a string of exactly `digits` ASCII digits.
 * Never throws, whatever `code` is: a bad code is a refusal, not an error.
 */
export function parseCode(code: unknown, digits: number): number {
  if (typeof code !== 'string' || code.length !== digits) return -1;
  let value = 0;
  for (let i = 0; i < digits; i++) {
    const digit = code.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
