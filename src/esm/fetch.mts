// ESM entry for totp-handshake/fetch: the CommonJS build, so both share one module instance.
export * from '../http/fetch.js';
