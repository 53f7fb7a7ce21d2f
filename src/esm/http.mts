// ESM entry for totp-handshake/http: the CommonJS build, so both share one module instance.
export * from '../http/node.js';
