// How the bench reaches the library: through the package's own `exports` map (a self-reference
// resolved from the repository root, as a user's `require('totp-handshake')` would), plus two
// internal modules that let one process time both engines side by side.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));

// A require() that resolves as if called from the root package, so 'totp-handshake' and
// 'totp-handshake/http' self-reference the built package (bench/ is its own package scope).
const rootRequire = createRequire(new URL('../../package.json', import.meta.url));

function requireBuilt(spec) {
  if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  return rootRequire(spec);
}

/** The public entry point: TotpKey, KeyOwner, KeyReader, engineInfo, backend. */
export const loadLibrary = () => requireBuilt('totp-handshake');

/** `totp-handshake/compat/<name>`: the drop-in adapter for otplib, otpauth or speakeasy. */
export const loadCompat = (name) => requireBuilt(`totp-handshake/compat/${name}`);

/** `totp-handshake/http`: otpCheck. */
export const loadHttpGuard = () => requireBuilt('totp-handshake/http');

/** Internals: keys and one-shot calls on a chosen engine, and `{ nativeEngine, jsEngine }`. */
export function loadInternals() {
  const { createKeyOnEngine, createKeyFromBase32OnEngine } = requireBuilt('./dist/key.js');
  const { checkTotpOn } = requireBuilt('./dist/once.js');
  const { nativeEngine, jsEngine } = requireBuilt('./dist/engine/index.js');
  return { createKeyOnEngine, createKeyFromBase32OnEngine, checkTotpOn, nativeEngine, jsEngine };
}
