// The control for the valgrind run (scripts/sanitize.sh): a key made from a secret that was never
// initialised. Memcheck must report the addon using those bytes (the code's truncation offset is
// an address computed from them), with a frame in totp_handshake.node. A report shows the addon's
// code is instrumented and that scripts/valgrind/node.supp hides nothing of it; no report fails
// the sanitize run.
import { nativeEngine } from '../../dist/engine/index.js';

// A 4 KiB block comes from malloc, uninitialised (smaller ones can be zero-filled by Node).
const secret = Buffer.allocUnsafeSlow(4096).subarray(0, 20);
const key = nativeEngine.createKey(0, secret, 6);
process.stdout.write(`control: computed a code from uninitialised bytes (${nativeEngine.codeAt(key, 1) >= 0})\n`);
nativeEngine.destroyKey(key);
