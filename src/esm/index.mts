// ESM entry: the same module instance as the CommonJS build, so `import` and `require` share one
// engine and one set of classes.
//
// Loaded with createRequire rather than `export * from '../index.js'`: Node 20 reports an error
// thrown while an ES module imports a CommonJS one (TOTP_HANDSHAKE_BACKEND=native without the
// addon) as uncaught, and exits, even when the import() is caught. A require() inside this
// module throws an ordinary exception, which rejects the import() as it should.
// test/esm-entry.test.ts keeps the names below equal to the CommonJS entry's.
import { createRequire } from 'node:module';

import type * as Entry from '../index.js';

const entry = createRequire(import.meta.url)('../index.js') as typeof Entry;

export const { backend, checkHotp, checkTotp, engineInfo, generateHotp, generateTotp, isOtpError, listenOnKeySocket, TOTP_DEFAULTS, verifyHotp, verifyTotp } = entry;
// Classes are values and types: both meanings are exported.
export const { EtcdKeyMirror, EtcdKeyOwner, HotpKey, KeyOwner, KeyReader, OtpError, TotpKey } = entry;
export type EtcdKeyMirror = Entry.EtcdKeyMirror;
export type EtcdKeyOwner = Entry.EtcdKeyOwner;
export type HotpKey = Entry.HotpKey;
export type KeyOwner = Entry.KeyOwner;
export type KeyReader = Entry.KeyReader;
export type OtpError = Entry.OtpError;
export type TotpKey = Entry.TotpKey;
export type * from '../index.js';
