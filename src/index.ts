// totp-handshake: the core (TotpKey, HotpKey, one-shot codes) and the shared-key handshake (KeyOwner, KeyReader).
export { engineInfo, type EngineInfo } from './engine/index.js';
export { OtpError, isOtpError, type OtpErrorCode } from './errors.js';
export type { AuditEvent, AuditListener, Reason } from './events.js';
export * from './handshake/index.js';
export * from './cluster/index.js';
export { HotpKey, type HotpKeyOptions } from './hotp.js';
export { TotpKey, type TotpKeyOptions } from './key.js';
export {
  checkHotp,
  checkTotp,
  generateHotp,
  generateTotp,
  type HotpCheckOptions,
  type HotpGenerateOptions,
  type HotpOptions,
  type OtpSecret,
  type TotpCheckOptions,
  type TotpGenerateOptions,
  verifyHotp,
  verifyTotp,
} from './once.js';
export { TOTP_DEFAULTS, type Algorithm, type ShortSecretOption, type TotpOptions, type VerifyOptions } from './options.js';
export type { CheckReason, CheckResult, KeyTiming, OtpVerifier } from './verifier.js';
import { engineInfo } from './engine/index.js';

/** Which engine this process uses: 'native' (the C++ addon) or 'js' (node:crypto). */
export const backend: 'native' | 'js' = engineInfo.backend;
