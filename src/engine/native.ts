// Loads the C++ addon (native/, built by node-gyp from binding.gyp, or a prebuild shipped in
// prebuilds/) and checks it against a known answer before anyone relies on it.
import path from 'node:path';

import type { Engine } from './types.js';

export interface NativeCpuInfo {
  /** Which code computes SHA-1 and SHA-256: 'sha-ni', 'armv8' or 'portable'. */
  sha1: string;
  sha256: string;
  sha512: string;
  /** Whether this CPU has SHA instructions the addon can use. */
  extensionsAvailable: boolean;
}

export interface Addon {
  interfaceVersion?: number;
  createKey: Engine['createKey'];
  cpu(): NativeCpuInfo;
  useCpuExtensions(allow: boolean): void;
}

export interface NativeEngine extends Engine {
  readonly name: 'native';
  cpu(): NativeCpuInfo;
  /** For tests: run on the portable C++ cores even where SHA instructions exist. */
  useCpuExtensions(allow: boolean): void;
}

// native/addon.cc kInterfaceVersion: the arguments and results this file expects.
const INTERFACE_VERSION = 2;

// dist/engine/native.js -> the package root, where node-gyp-build looks for build/ and prebuilds/.
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

// RFC 6238 Appendix B at T = 59 s (counter 1), 8 digits, one per algorithm with its seed: the
// SHA-1 and SHA-256 codes come from the CPU's SHA instructions where the addon uses them, and
// findCode exercises each algorithm's batching (SHA-1: 1 then 2 steps; SHA-256: 3 at once).
const KNOWN_ANSWERS = [
  { algorithm: 0, seed: '12345678901234567890', code: 94287082 },
  { algorithm: 1, seed: '12345678901234567890123456789012', code: 46119246 },
  { algorithm: 2, seed: '1234567890123456789012345678901234567890123456789012345678901234', code: 90693936 },
] as const;

function passesKnownAnswers(addon: Addon): boolean {
  return KNOWN_ANSWERS.every(({ algorithm, seed, code }) => {
    const key = addon.createKey(algorithm, Buffer.from(seed), 8);
    try {
      return key.codeAt(1) === code && key.findCode(0, code, 1) === 2 && key.candidates[2] === code;
    } finally {
      key.destroy();
    }
  });
}

/** Throws, saying why, unless `addon` is the one these sources expect and computes RFC 6238 codes. */
export function checkAddon(addon: Addon): void {
  if (addon.interfaceVersion !== INTERFACE_VERSION) {
    throw new Error(
      `the native addon was built from other sources (interface ${addon.interfaceVersion ?? 1}, this package needs ${INTERFACE_VERSION}): rebuild it with \`npm rebuild totp-handshake\``,
    );
  }
  if (!passesKnownAnswers(addon)) throw new Error('the native addon failed its RFC 6238 self-test');
}

/** The native engine, or an Error saying why it cannot be used. */
export function loadNativeEngine(): NativeEngine {
  const load = require('node-gyp-build') as (root: string) => Addon;
  const addon = load(PACKAGE_ROOT);
  checkAddon(addon);
  return {
    name: 'native',
    createKey: addon.createKey,
    cpu: () => addon.cpu(),
    useCpuExtensions: (allow) => addon.useCpuExtensions(allow),
  };
}
