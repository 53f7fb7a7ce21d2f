// totp-handshake/compat/otplib: otplib's API on this package's engine. Both generations at once,
// so that `import { authenticator } from 'otplib'` (v12) and `import { verify } from 'otplib'`
// (v13) each switch by changing the module name alone.
// otplib 13's OTP, TOTP and HOTP classes are not provided, and otplib 12's classes (which live in
// @otplib/core, not in 'otplib') are not exported under those names, where a v13 user would
// take them for the v13 classes.
export { authenticator, HashAlgorithms, hotp, KeyEncodings, totp } from './otplib/v12.js';
export type { AuthenticatorOptions, CreateDigest, CreateHmacKey, CreateRandomBytes, HOTPOptions, KeyDecoder, KeyEncoder, KeyEncoding, TOTPOptions } from './otplib/v12.js';
export {
  createGuardrails,
  generate,
  generateSecret,
  generateSync,
  generateURI,
  NobleCryptoPlugin,
  ScureBase32Plugin,
  stringToBytes,
  verify,
  verifySync,
  wrapResult,
  wrapResultAsync,
} from './otplib/v13.js';
export type { Base32Plugin, CryptoPlugin, Digits, HashAlgorithm, OTPGenerateOptions, OTPGuardrails, OTPGuardrailsConfig, OTPHooks, OTPResult, OTPStrategy, OTPVerifyOptions, URIOptions, VerifyResult } from './otplib/v13.js';
export * from './otplib/errors.js';
