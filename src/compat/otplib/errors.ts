// otplib 13's error classes (from @otplib/core): the same names, hierarchy and messages, so code
// that matches on `error.name`, `error.message` or these classes keeps working. otplib's own
// package re-exports only AlgorithmError, AlgorithmUnsupportedError and HMACError; the rest are
// exported here too, since code switching its import may have taken them from @otplib/core.

export interface OTPErrorOptions {
  cause?: unknown;
}

/** The base of every otplib 13 error; each subclass sets `name` to its class name, as otplib does. */
export class OTPError extends Error {
  constructor(message: string, options?: OTPErrorOptions) {
    super(message, options);
    this.name = 'OTPError';
  }
}

export class SecretError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

export class SecretTooShortError extends SecretError {
  constructor(minBytes: number, actualBytes: number) {
    super(`Secret must be at least ${minBytes} bytes (${minBytes * 8} bits), got ${actualBytes} bytes`);
    this.name = 'SecretTooShortError';
  }
}

export class SecretTooLongError extends SecretError {
  constructor(maxBytes: number, actualBytes: number) {
    super(`Secret must not exceed ${maxBytes} bytes, got ${actualBytes} bytes`);
    this.name = 'SecretTooLongError';
  }
}

export class CounterError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'CounterError';
  }
}

export class CounterNegativeError extends CounterError {
  constructor() {
    super('Counter must be non-negative');
    this.name = 'CounterNegativeError';
  }
}

export class CounterOverflowError extends CounterError {
  constructor() {
    super('Counter exceeds maximum safe integer value');
    this.name = 'CounterOverflowError';
  }
}

export class CounterNotIntegerError extends CounterError {
  constructor() {
    super('Counter must be a finite integer');
    this.name = 'CounterNotIntegerError';
  }
}

export class TimeError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'TimeError';
  }
}

export class TimeNegativeError extends TimeError {
  constructor() {
    super('Time must be non-negative');
    this.name = 'TimeNegativeError';
  }
}

export class TimeNotFiniteError extends TimeError {
  constructor() {
    super('Time must be a finite number');
    this.name = 'TimeNotFiniteError';
  }
}

export class PeriodError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'PeriodError';
  }
}

export class PeriodTooSmallError extends PeriodError {
  constructor(minPeriod: number) {
    super(`Period must be at least ${minPeriod} second(s)`);
    this.name = 'PeriodTooSmallError';
  }
}

export class PeriodTooLargeError extends PeriodError {
  constructor(maxPeriod: number) {
    super(`Period must not exceed ${maxPeriod} seconds`);
    this.name = 'PeriodTooLargeError';
  }
}

export class DigitsError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'DigitsError';
  }
}

export class AlgorithmError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'AlgorithmError';
  }
}

/** Never quotes the rejected value (otplib's rule too): it names the accepted set and the plugin. */
export class AlgorithmUnsupportedError extends AlgorithmError {
  constructor(_value: unknown, context: { supported?: readonly string[]; plugin?: string } = {}) {
    const { supported, plugin } = context;
    super(
      'Unsupported hash algorithm.' +
        (supported ? ` Expected one of: ${supported.join(', ') || '(none)'}` : '') +
        (plugin ? ` [plugin: ${plugin}]` : ''),
    );
    this.name = 'AlgorithmUnsupportedError';
  }
}

export class TokenError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export class TokenLengthError extends TokenError {
  constructor(expected: number, actual: number) {
    super(`Token must be ${expected} digits, got ${actual}`);
    this.name = 'TokenLengthError';
  }
}

export class TokenFormatError extends TokenError {
  constructor() {
    super('Token must contain only digits');
    this.name = 'TokenFormatError';
  }
}

export class CryptoError extends OTPError {
  constructor(message: string, options?: OTPErrorOptions) {
    super(message, options);
    this.name = 'CryptoError';
  }
}

export class HMACError extends CryptoError {
  constructor(message: string, options?: OTPErrorOptions) {
    super(`HMAC computation failed: ${message}`, options);
    this.name = 'HMACError';
  }
}

export class RandomBytesError extends CryptoError {
  constructor(message: string, options?: OTPErrorOptions) {
    super(`Random byte generation failed: ${message}`, options);
    this.name = 'RandomBytesError';
  }
}

export class CounterToleranceError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'CounterToleranceError';
  }
}

export class CounterToleranceTooLargeError extends CounterToleranceError {
  constructor(maxWindow: number, totalChecks: number) {
    super(`Counter tolerance validation failed: total checks (${totalChecks}) exceeds MAX_WINDOW (${maxWindow})`);
    this.name = 'CounterToleranceTooLargeError';
  }
}

export class CounterToleranceNegativeError extends CounterToleranceError {
  constructor() {
    super('Counter tolerance cannot contain negative values');
    this.name = 'CounterToleranceNegativeError';
  }
}

export class EpochToleranceError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'EpochToleranceError';
  }
}

export class EpochToleranceNegativeError extends EpochToleranceError {
  constructor() {
    super('Epoch tolerance cannot contain negative values');
    this.name = 'EpochToleranceNegativeError';
  }
}

export class EpochToleranceTooLargeError extends EpochToleranceError {
  constructor(maxTolerance: number, actualValue: number) {
    super(`Epoch tolerance must not exceed ${maxTolerance} seconds, got ${actualValue}. Large tolerances can cause performance issues.`);
    this.name = 'EpochToleranceTooLargeError';
  }
}

export class PluginError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'PluginError';
  }
}

export class CryptoPluginMissingError extends PluginError {
  constructor() {
    super('Crypto plugin is required.');
    this.name = 'CryptoPluginMissingError';
  }
}

export class Base32PluginMissingError extends PluginError {
  constructor() {
    super('Base32 plugin is required.');
    this.name = 'Base32PluginMissingError';
  }
}

export class ConfigurationError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

export class SecretMissingError extends ConfigurationError {
  constructor() {
    super("Secret is required. Use generateSecret() to create one, or provide via { secret: 'YOUR_BASE32_SECRET' }");
    this.name = 'SecretMissingError';
  }
}

export class AfterTimeStepError extends OTPError {
  constructor(message: string) {
    super(message);
    this.name = 'AfterTimeStepError';
  }
}

export class AfterTimeStepNegativeError extends AfterTimeStepError {
  constructor() {
    super('afterTimeStep must be >= 0');
    this.name = 'AfterTimeStepNegativeError';
  }
}

export class AfterTimeStepNotIntegerError extends AfterTimeStepError {
  constructor() {
    super('Invalid afterTimeStep: non-integer value');
    this.name = 'AfterTimeStepNotIntegerError';
  }
}

export class AfterTimeStepRangeExceededError extends AfterTimeStepError {
  constructor() {
    super('Invalid afterTimeStep: cannot be greater than current time step plus window');
    this.name = 'AfterTimeStepRangeExceededError';
  }
}
