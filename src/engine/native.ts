// Loads the C++ addon (native/, built by node-gyp from binding.gyp, or a prebuild shipped in
// prebuilds/) and checks it against its interface, its limits and known answers before anyone
// relies on it.
import path from 'node:path';

import { encodeBase32 } from '../base32.js';
import { MAX_SECRET_BYTES, MAX_WINDOW, MIN_SECRET_BYTES } from '../options.js';
import { fingerprintOf } from './js.js';
import { type Engine, FINGERPRINT_SLOT, type KeyHandle, SCRATCH_SLOTS, SECRET_REFUSED, type SecretInput } from './types.js';

export interface NativeCpuInfo {
  /** Which code computes SHA-1 and SHA-256: 'sha-ni', 'armv8' or 'portable'. */
  sha1: string;
  sha256: string;
  sha512: string;
  /** Whether this CPU has SHA instructions the addon can use. */
  extensionsAvailable: boolean;
}

/** The addon's key arena (native/key_arena.h), for tests and scripts/memory.mjs. */
export interface ArenaStats {
  liveKeys: number;
  chunks: number;
  bytes: number;
}

/**
 * What the addon exports (native/addon.cc). Its functions take their numbers in `args`, filled
 * right before the call (numbers passed as arguments would cost Node-API one checked call each);
 * results come back as the return value, or in `scratch`.
 */
export interface Addon {
  interfaceVersion?: number;
  maxWindow?: number;
  minSecretBytes?: number;
  maxSecretBytes?: number;
  readonly args: Float64Array;
  readonly scratch: Int32Array;
  /** args [-, -, -, algorithm, digits] */
  createKey(secret: SecretInput): number;
  /** args [counter, code, window, handle] */
  findCode(): number;
  /** args [counter, code, lookAhead, handle] */
  findCounter(): number;
  /** args [counter, -, -, handle] */
  codeAt(): number;
  /** args [-, -, -, handle] */
  secretOf(): Uint8Array;
  /** args [-, -, -, handle] */
  destroyKey(): boolean;
  /** args [counter, code, window, algorithm, digits] */
  findCodeOnce(secret: SecretInput): number;
  /** args [counter, code, lookAhead, algorithm, digits] */
  findCounterOnce(secret: SecretInput): number;
  /** args [counter, -, -, algorithm, digits] */
  codeOnce(secret: SecretInput): number;
  arenaStats(): ArenaStats;
  cpu(): NativeCpuInfo;
  useCpuExtensions(allow: boolean): void;
}

export interface NativeEngine extends Engine {
  readonly name: 'native';
  cpu(): NativeCpuInfo;
  arenaStats(): ArenaStats;
  /** For tests: run on the portable C++ cores even where SHA instructions exist. */
  useCpuExtensions(allow: boolean): void;
}

// native/addon.cc kInterfaceVersion: the arguments and results this file expects.
const INTERFACE_VERSION = 3;
// native/addon.cc kArgSlots: the most numbers a call takes, and then some.
const ARG_SLOTS = 8;

// dist/engine/native.js -> the package root, where node-gyp-build looks for build/ and prebuilds/.
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

// RFC 6238 Appendix B at T = 59 s (counter 1), 8 digits, one per algorithm with its seed: the
// SHA-1 and SHA-256 codes come from the CPU's SHA instructions where the addon uses them, and
// findCode exercises each algorithm's batching (SHA-1: 1 then 2 steps; SHA-256: 3 at once). Every
// entry point is tried: keys (with their fingerprint and secret copy), the HOTP look-ahead, and
// the one-shot calls with bytes and with base32 text.
const KNOWN_ANSWERS = [
  { algorithm: 0, seed: '12345678901234567890', code: 94287082 },
  { algorithm: 1, seed: '12345678901234567890123456789012', code: 46119246 },
  { algorithm: 2, seed: '1234567890123456789012345678901234567890123456789012345678901234', code: 90693936 },
] as const;

function limitsMatch(addon: Addon): string | undefined {
  const expected = { maxWindow: MAX_WINDOW, minSecretBytes: MIN_SECRET_BYTES, maxSecretBytes: MAX_SECRET_BYTES };
  for (const [name, value] of Object.entries(expected)) {
    const stated = addon[name as keyof typeof expected];
    if (stated !== value) return `the native addon's ${name} is ${stated}, this package's is ${value}`;
  }
  // The buffers the addon hands over for good: they must be exactly what the engine uses.
  const { args, scratch } = addon;
  if (!(args instanceof Float64Array) || args.length !== ARG_SLOTS) return `the native addon's args array is not a Float64Array of ${ARG_SLOTS}`;
  if (!(scratch instanceof Int32Array) || scratch.length !== SCRATCH_SLOTS) {
    return `the native addon's scratch array is not an Int32Array of ${SCRATCH_SLOTS}`;
  }
  return undefined;
}

function passesKnownAnswers(engine: Engine): boolean {
  return KNOWN_ANSWERS.every(({ algorithm, seed, code }) => {
    const secret = Buffer.from(seed);
    const base32 = encodeBase32(secret);
    const key = engine.createKey(algorithm, secret, 8);
    if (key === SECRET_REFUSED) return false;
    try {
      const copy = engine.secretOf(key);
      const ok =
        engine.scratch[FINGERPRINT_SLOT] === fingerprintOf(secret) &&
        copy instanceof Uint8Array &&
        copy.length === secret.length &&
        secret.equals(copy) &&
        engine.codeAt(key, 1) === code &&
        engine.findCode(key, 0, code, 1) === 2 &&
        engine.scratch[2] === code &&
        engine.findCounter(key, 0, code, 1) === 1 &&
        engine.findCodeOnce(algorithm, base32, 8, 2, code, 1) === 1 &&
        engine.findCounterOnce(algorithm, secret, 8, 1, code, 0) === 0 &&
        engine.codeOnce(algorithm, base32, 8, 1) === code;
      copy.fill(0);
      return ok;
    } finally {
      engine.scratch.fill(0);
      engine.destroyKey(key);
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
  const mismatch = limitsMatch(addon);
  if (mismatch !== undefined) throw new Error(`${mismatch}: rebuild it with \`npm rebuild totp-handshake\``);
  if (!passesKnownAnswers(nativeEngineOf(addon))) throw new Error('the native addon failed its RFC 6238 self-test');
}

/**
 * The Engine over the addon's functions: each fills `args` and calls. The methods are small and
 * always the same functions, so V8 inlines them into their callers.
 */
function nativeEngineOf(addon: Addon): NativeEngine {
  const { args } = addon;
  // args, by role (native/addon.cc kArgCounter ..): a search's counter, code and window or
  // look-ahead, then the key's handle, or the algorithm and digits of a key made for the call.
  const search = (counter: number, code: number, span: number, key: number): void => {
    args[0] = counter;
    args[1] = code;
    args[2] = span;
    args[3] = key;
  };
  const once = (counter: number, code: number, span: number, algorithm: number, digits: number): void => {
    search(counter, code, span, algorithm);
    args[4] = digits;
  };
  const handle = (key: KeyHandle): number => key as unknown as number;
  return {
    name: 'native',
    scratch: addon.scratch,
    createKey(algorithm, secret, digits) {
      once(0, 0, 0, algorithm, digits);
      const key = addon.createKey(secret);
      return key === SECRET_REFUSED ? SECRET_REFUSED : (key as unknown as KeyHandle);
    },
    findCode(key, counter, code, window) {
      search(counter, code, window, handle(key));
      return addon.findCode();
    },
    findCounter(key, counter, code, lookAhead) {
      search(counter, code, lookAhead, handle(key));
      return addon.findCounter();
    },
    codeAt(key, counter) {
      search(counter, 0, 0, handle(key));
      return addon.codeAt();
    },
    secretOf(key) {
      args[3] = handle(key);
      return addon.secretOf();
    },
    destroyKey(key) {
      args[3] = handle(key);
      return addon.destroyKey();
    },
    findCodeOnce(algorithm, secret, digits, counter, code, window) {
      once(counter, code, window, algorithm, digits);
      return addon.findCodeOnce(secret);
    },
    findCounterOnce(algorithm, secret, digits, counter, code, lookAhead) {
      once(counter, code, lookAhead, algorithm, digits);
      return addon.findCounterOnce(secret);
    },
    codeOnce(algorithm, secret, digits, counter) {
      once(counter, 0, 0, algorithm, digits);
      return addon.codeOnce(secret);
    },
    cpu: () => addon.cpu(),
    arenaStats: () => addon.arenaStats(),
    useCpuExtensions: (allow) => addon.useCpuExtensions(allow),
  };
}

/** The native engine, or an Error saying why it cannot be used. */
export function loadNativeEngine(): NativeEngine {
  const load = require('node-gyp-build') as (root: string) => Addon;
  const addon = load(PACKAGE_ROOT);
  checkAddon(addon);
  return nativeEngineOf(addon);
}

export type { KeyHandle };
