// The one place that decides which engine runs, and records why.
//
//   TOTP_HANDSHAKE_BACKEND=js      node:crypto, the addon is not even loaded
//   TOTP_HANDSHAKE_BACKEND=native  the addon, or a load-time error saying why it cannot load
//   unset                          the addon when it loads and passes its self-test, else js,
//                                  with one process warning at first use saying why
import { OtpError } from '../errors.js';
import { jsEngine } from './js.js';
import { loadNativeEngine, type NativeCpuInfo, type NativeEngine } from './native.js';
import type { Engine } from './types.js';

export interface EngineInfo {
  /** The engine every key in this process uses. */
  readonly backend: 'native' | 'js';
  /** Why the other engine is not used: the env switch, or the addon's load error. */
  readonly reason: string;
  /** The native engine's hash cores, when it runs. */
  readonly cpu: NativeCpuInfo | undefined;
}

function choose(): { engine: Engine; native: NativeEngine | undefined; reason: string; unasked?: string } {
  const requested = process.env.TOTP_HANDSHAKE_BACKEND;
  if (requested === 'js') return { engine: jsEngine, native: undefined, reason: 'TOTP_HANDSHAKE_BACKEND=js' };
  if (requested !== undefined && requested !== '' && requested !== 'native') {
    throw new OtpError('ERR_OTP_BACKEND', `TOTP_HANDSHAKE_BACKEND must be "native" or "js", not ${JSON.stringify(requested)}`);
  }
  try {
    const native = loadNativeEngine();
    const reason = requested === 'native' ? 'TOTP_HANDSHAKE_BACKEND=native' : 'the native addon loaded';
    return { engine: native, native, reason };
  } catch (error) {
    const why = (error as Error).message.split('\n')[0] ?? String(error);
    if (requested === 'native') {
      throw new OtpError('ERR_OTP_BACKEND', `TOTP_HANDSHAKE_BACKEND=native, but the addon cannot load: ${why}`, {
        cause: error,
      });
    }
    return { engine: jsEngine, native: undefined, reason: `the native addon is unavailable: ${why}`, unasked: why };
  }
}

/** The stable code of the warning about running on node:crypto: match on it, don't parse the text. */
export const FALLBACK_WARNING_CODE = 'TOTP_HANDSHAKE_NODE_CRYPTO';

/**
 * `fallback` (the node:crypto engine, when the addon did not load and nobody asked for it) with
 * one process warning at its first use: an install that blocked the build script, or a platform
 * with no prebuild, would otherwise run ten times slower without a word. Only what begins work
 * (a key, a one-shot call) checks, once: the methods of a key already made are the engine's own.
 */
function warningOnFirstUse(fallback: Engine, why: string): Engine {
  let warned = false;
  const warn = (): void => {
    if (warned) return;
    warned = true;
    process.emitWarning(
      `totp-handshake runs on node:crypto, about ten times slower than on its native addon, because ${why}. ` +
        'Let its install script run (npm without --ignore-scripts; pnpm approve-builds), or run `npm rebuild totp-handshake` where a C++ compiler is installed; ' +
        'set TOTP_HANDSHAKE_BACKEND=js to choose node:crypto and silence this warning.',
      { type: 'TotpHandshakeWarning', code: FALLBACK_WARNING_CODE },
    );
  };
  return {
    ...fallback,
    createKey: (...args) => (warn(), fallback.createKey(...args)),
    findCodeOnce: (...args) => (warn(), fallback.findCodeOnce(...args)),
    findCounterOnce: (...args) => (warn(), fallback.findCounterOnce(...args)),
    codeOnce: (...args) => (warn(), fallback.codeOnce(...args)),
  };
}

const chosen = choose();

export const engine: Engine = chosen.unasked === undefined ? chosen.engine : warningOnFirstUse(chosen.engine, `its native addon did not load (${chosen.unasked})`);
/** The native engine when it loaded (also under TOTP_HANDSHAKE_BACKEND=js it is not loaded). */
export const nativeEngine: NativeEngine | undefined = chosen.native;
export { jsEngine };

export const engineInfo: EngineInfo = Object.freeze({
  backend: chosen.engine.name,
  reason: chosen.reason,
  cpu: chosen.native?.cpu(),
});
