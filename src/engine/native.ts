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

interface Addon {
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

// dist/engine/native.js -> the package root, where node-gyp-build looks for build/ and prebuilds/.
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

// RFC 6238 Appendix B: SHA-1, secret "12345678901234567890", T = 59 s -> 94287082 (8 digits).
function passesKnownAnswer(addon: Addon): boolean {
  const key = addon.createKey(0, Buffer.from('12345678901234567890'), 8);
  try {
    return key.codeAt(1) === 94287082 && key.findCode(0, 94287082, 1) === 2 && key.candidates[2] === 94287082;
  } finally {
    key.destroy();
  }
}

/** The native engine, or an Error saying why it cannot be used. */
export function loadNativeEngine(): NativeEngine {
  const load = require('node-gyp-build') as (root: string) => Addon;
  const addon = load(PACKAGE_ROOT);
  if (!passesKnownAnswer(addon)) throw new Error('the native addon failed its RFC 6238 self-test');
  return {
    name: 'native',
    createKey: addon.createKey,
    cpu: () => addon.cpu(),
    useCpuExtensions: (allow) => addon.useCpuExtensions(allow),
  };
}
