// ESM entry for totp-handshake/compat/speakeasy: the CommonJS build, so both share one module
// instance. The default export is the API object, as `import speakeasy from 'speakeasy'` gives.
export * from '../compat/speakeasy.js';
export { default } from '../compat/speakeasy.js';
