// The odds of guessing a code that SECURITY.md and the README state, recomputed from the guards'
// own defaults: the docs cannot drift from the code.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { GUARD_DEFAULTS } from 'totp-handshake/http';
import { TOTP_DEFAULTS } from 'totp-handshake';
import { describe, expect, it } from 'vitest';

import { root } from './helpers/handshake-fs.js';

const DAY = 86_400;
const YEAR = 365.25 * DAY;

/** Expected seconds to a first accepted guess: 10^digits / ((2 window + 1) guesses) steps of `period`. */
function expectedSeconds(digits: number, window = GUARD_DEFAULTS.window, guesses = GUARD_DEFAULTS.maxFailuresTotal, period = TOTP_DEFAULTS.period): number {
  return (10 ** digits / ((2 * window + 1) * guesses)) * period;
}

const shown = (seconds: number): string => (seconds >= YEAR ? `${(seconds / YEAR).toFixed(1)} years` : seconds >= 10 * DAY ? `${Math.round(seconds / DAY)} days` : `${(seconds / DAY).toFixed(1)} days`);

describe.each(['SECURITY.md', 'README.md'])('%s', (name) => {
  const text = readFileSync(path.join(root, name), 'utf8');

  it.each([6, 7, 8])('states the expected time to a first accepted guess at %i digits, with the defaults otherwise', (digits) => {
    const seconds = expectedSeconds(digits);
    // An even chance takes ln 2 of the expected time (the attempts are independent).
    const row = new RegExp(`${digits} digits[^\\n]*\\| ${shown(seconds)} \\| ${shown(seconds * Math.LN2)} \\|`);
    if (name === 'README.md' && digits === 7) return; // the README keeps to the defaults and the recommendation
    expect(text).toMatch(row);
  });

  it('names the defaults the figures come from', () => {
    expect(GUARD_DEFAULTS).toMatchObject({ window: 1, maxFailuresTotal: 20 });
    expect(text).toContain('`maxFailuresTotal`');
  });
});
