// ESM entry for totp-handshake/compat/otplib: the CommonJS build, so both share one module instance.
export * from '../compat/otplib.js';
