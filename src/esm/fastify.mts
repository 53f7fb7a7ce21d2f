// ESM entry for totp-handshake/fastify: the CommonJS build, so both share one module instance.
export * from '../http/fastify.js';
