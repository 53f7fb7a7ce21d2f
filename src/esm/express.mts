// ESM entry for totp-handshake/express: the CommonJS build, so both share one module instance.
export * from '../http/express.js';
