// The engines the core suite runs against, in one process: node:crypto, the native addon on the
// CPU's SHA instructions, and the native addon forced onto its portable C++ cores.
import { jsEngine, nativeEngine } from '../../dist/engine/index.js';
import type { Engine } from '../../dist/engine/types.js';
import { createHotpKeyOnEngine } from '../../dist/hotp.js';
import type { HotpKey, HotpKeyOptions, TotpKey, TotpKeyOptions } from '../../dist/index.js';
import { createKeyOnEngine } from '../../dist/key.js';
import { checkHotpOn, checkTotpOn, generateHotpOn, generateTotpOn } from '../../dist/once.js';

export interface EngineCase {
  name: string;
  engine: Engine;
  /** Called before the case's tests (and undone after): selects the addon's hash cores. */
  setUp?: () => void;
  tearDown?: () => void;
}

export const inCi = process.env.CI === 'true' || process.env.CI === '1';

export const engineCases: EngineCase[] = [{ name: 'js', engine: jsEngine }];
if (nativeEngine !== undefined) {
  const native = nativeEngine;
  engineCases.push({ name: 'native', engine: native });
  if (native.cpu().extensionsAvailable) {
    engineCases.push({
      name: 'native (portable cores)',
      engine: native,
      setUp: () => native.useCpuExtensions(false),
      tearDown: () => native.useCpuExtensions(true),
    });
  }
}

export function keyOn(engine: Engine, secret: Uint8Array, options?: TotpKeyOptions): TotpKey {
  return createKeyOnEngine(engine, secret, options);
}

export function hotpKeyOn(engine: Engine, secret: Uint8Array, options?: HotpKeyOptions): HotpKey {
  return createHotpKeyOnEngine(engine, secret, options);
}

/** The one-shot functions on one engine, as the package exports them on the default one. */
export function oneShotOn(engine: Engine) {
  return {
    checkTotp: (...args: Parameters<typeof checkTotpOn> extends [Engine, ...infer R] ? R : never) => checkTotpOn(engine, ...args),
    generateTotp: (...args: Parameters<typeof generateTotpOn> extends [Engine, ...infer R] ? R : never) => generateTotpOn(engine, ...args),
    checkHotp: (...args: Parameters<typeof checkHotpOn> extends [Engine, ...infer R] ? R : never) => checkHotpOn(engine, ...args),
    generateHotp: (...args: Parameters<typeof generateHotpOn> extends [Engine, ...infer R] ? R : never) => generateHotpOn(engine, ...args),
  };
}

export const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
