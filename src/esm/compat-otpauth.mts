// ESM entry for totp-handshake/compat/otpauth: the CommonJS build, so both share one module instance.
export * from '../compat/otpauth.js';
