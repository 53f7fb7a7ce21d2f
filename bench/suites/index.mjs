// Every micro-benchmark case, in report order. The HTTP suite (suites/http.mjs) is separate: it
// drives servers with autocannon rather than timing a function.
import { cases as baselines } from './baselines.mjs';
import { cases as compat } from './compat.mjs';
import { cases as engines } from './engines.mjs';
import { cases as peers } from './peers.mjs';

export const CASES = [...engines, ...peers, ...baselines, ...compat];

export const SUITES = ['engines', 'peers', 'baselines', 'compat', 'http'];

export function findCase(id) {
  const found = CASES.find((c) => c.id === id);
  if (found === undefined) throw new Error(`no bench case ${JSON.stringify(id)}`);
  return found;
}
