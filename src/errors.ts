/**
 * Every error this package throws on purpose. `code` is stable: match on it, not on the message.
 * Messages name what was wrong and never contain a secret, a key file's content or a valid code.
 */
export type OtpErrorCode =
  /** A secret shorter than 16 bytes (RFC 4226 §4 R6), or than a lower minSecretBytes, or longer than 1024. */
  | 'ERR_OTP_SECRET_LENGTH'
  /** A base32 secret that is not RFC 4648 base32. */
  | 'ERR_OTP_BASE32'
  /** An otpauth:// URI that cannot be read as a TOTP key. */
  | 'ERR_OTP_URI'
  /** An option or argument out of range or of the wrong type. */
  | 'ERR_OTP_OPTIONS'
  /** A method called on a TotpKey after destroy(), or on a KeyOwner/KeyReader after close(). */
  | 'ERR_OTP_DESTROYED'
  /** TOTP_HANDSHAKE_BACKEND asks for an engine that cannot load, or names no engine. */
  | 'ERR_OTP_BACKEND'
  /** A key file that does not exist (yet). */
  | 'ERR_OTP_KEY_MISSING'
  /** A key file whose content is not a valid key. */
  | 'ERR_OTP_KEY_MALFORMED'
  /** A key file that exists but cannot be read or written (permissions, disk, read-only mount). */
  | 'ERR_OTP_KEY_IO'
  /** Something at the key path that is not a key file (a .env, a directory): it is never overwritten. */
  | 'ERR_OTP_KEY_FOREIGN';

export class OtpError extends Error {
  override name = 'OtpError';
  readonly code: OtpErrorCode;

  constructor(code: OtpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isOtpError(value: unknown, code?: OtpErrorCode): value is OtpError {
  return value instanceof OtpError && (code === undefined || value.code === code);
}

/** ERR_OTP_DESTROYED for a method called after close() or destroy(): `what` is 'this KeyOwner', ... */
export function closedError(what: string, verb = 'closed'): OtpError {
  return new OtpError('ERR_OTP_DESTROYED', `${what} is ${verb}`);
}
