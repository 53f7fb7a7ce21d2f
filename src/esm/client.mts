// ESM entry for totp-handshake/client: the CommonJS build, so both share one module instance.
export * from '../client/index.js';
