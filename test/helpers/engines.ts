// The engines the core suite runs against, in one process: node:crypto, the native addon on the
// CPU's SHA instructions, and the native addon forced onto its portable C++ cores.
import { jsEngine, nativeEngine } from '../../dist/engine/index.js';
import type { Engine } from '../../dist/engine/types.js';
import { createKeyOnEngine } from '../../dist/key.js';
import type { TotpKey, TotpOptions } from '../../dist/index.js';

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

export function keyOn(engine: Engine, secret: Uint8Array, options?: TotpOptions): TotpKey {
  return createKeyOnEngine(engine, secret, options);
}

export const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
