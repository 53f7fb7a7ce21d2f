// Every implementation is checked before it is timed: a wrong answer makes the case (and the run)
// fail rather than produce a fast but meaningless figure.
import { STEPS, totpCodes } from './fixtures.mjs';

/** Thrown by a case's setup when it cannot run on this machine (e.g. no native addon). */
export class Skip extends Error {}

const stride = 16; // 256 of the 4096 steps: the timed loop itself checks every call it makes

/**
 * Checks a TOTP verify with window 1 at step i, given `verifyAt(code, i) -> boolean` (or a
 * promise of one): the step's code and its neighbours' are accepted; an invalid code and the
 * codes two steps away are rejected.
 */
export async function checkTotpVerify(label, verifyAt) {
  const { VALID, INVALID, PREVIOUS, NEXT, TWO_BEFORE, TWO_AFTER } = totpCodes();
  const fail = (what, i) => {
    throw new Error(`${label}: ${what} at fixture step ${i}: the implementation (or its options) is wrong`);
  };
  for (let i = 1; i < STEPS - 1; i += stride) {
    if ((await verifyAt(VALID[i], i)) !== true) fail('a valid code was rejected', i);
    if ((await verifyAt(INVALID[i], i)) !== false) fail('an invalid code was accepted', i);
    if ((await verifyAt(PREVIOUS[i], i)) !== true) fail('the previous step\'s code was rejected (window 1)', i);
    if ((await verifyAt(NEXT[i], i)) !== true) fail('the next step\'s code was rejected (window 1)', i);
    const window = new Set([VALID[i], PREVIOUS[i], NEXT[i]]);
    if (!window.has(TWO_BEFORE[i]) && (await verifyAt(TWO_BEFORE[i], i)) !== false) {
      fail('a code two steps old was accepted (window 1)', i);
    }
    if (!window.has(TWO_AFTER[i]) && (await verifyAt(TWO_AFTER[i], i)) !== false) {
      fail('a code two steps ahead was accepted (window 1)', i);
    }
  }
}

/** Checks a generator `generateAt(i) -> string` against the reference codes. */
export function checkTotpGenerate(label, generateAt) {
  const { VALID } = totpCodes();
  for (let i = 0; i < STEPS; i += stride) {
    const code = generateAt(i);
    if (code !== VALID[i]) throw new Error(`${label}: generated ${JSON.stringify(code)} at fixture step ${i}, expected the reference code`);
  }
}

/** Checks a boolean check: `accept()` true on the genuine input, `reject()` false on a forged one. */
export async function checkAcceptReject(label, accept, reject) {
  if ((await accept()) !== true) throw new Error(`${label}: the genuine input was rejected`);
  if ((await reject()) !== false) throw new Error(`${label}: the forged input was accepted`);
}
