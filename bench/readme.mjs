#!/usr/bin/env node
// Rewrites the README's performance section, between `<!-- bench:start -->` and
// `<!-- bench:end -->`, from bench/results/latest.json (the last full `npm run bench`), with the
// machine and date the figures came from. `npm run bench` runs it at the end of a full run.
//
//   node bench/readme.mjs            update README.md
//   node bench/readme.mjs --print    print the section instead of writing it
//
// If the markers are missing (or not exactly one pair, in order), it says so and exits 1
// without touching the file.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describeSha } from './lib/env.mjs';
import { formatNs, formatRatio, spread } from './lib/stats.mjs';

const README = new URL('../README.md', import.meta.url);
const LATEST = new URL('./results/latest.json', import.meta.url);
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

const pct = (value) => `${value >= 0 ? '−' : '+'}${Math.abs(value).toFixed(1)}%`;

/**
 * Where the addon pays off and where it does not, in this run's figures: each native figure
 * against the same call on the node:crypto engine.
 */
function payoffSentence(byId) {
  const times = (nativeId, jsId) => {
    const native = byId.get(nativeId);
    const js = byId.get(jsId);
    return native && js ? { native: formatNs(native.medianNs), js: formatNs(js.medianNs), ratio: formatRatio(js.medianNs / native.medianNs) } : undefined;
  };
  const cold = times('native.verify.cold.valid', 'js.verify.cold.valid');
  const once = times('native.once.verify.invalid', 'js.once.verify.invalid');
  const keys = times('native.key.create.verify', 'js.key.create.verify');
  const warm = times('native.verify.warm.now', 'js.verify.warm.now');
  if (!cold || !once || !keys || !warm) return undefined;
  return (
    `Where the addon pays off: wherever an HMAC is computed. A cold verification costs ${cold.native} against ${cold.js} on node:crypto (${cold.ratio}), ` +
    `a one-shot \`verifyTotp\` ${once.native} against ${once.js} (${once.ratio}), and making, using and destroying a key ${keys.native} against ${keys.js} (${keys.ratio}), ` +
    `so services that verify for many keys, or for a key used once, gain the most. Where it does not: the warm path, a second code in the same 30 s step, ` +
    `is the same integer comparison in JavaScript on both engines (${warm.native} native, ${warm.js} on node:crypto), and it is most of a busy guard's calls.`
  );
}

/** The section's Markdown, between (not including) the markers. */
export function renderSection(results) {
  const byId = new Map(results.cases.filter((c) => !c.skipped).map((c) => [c.id, c]));
  const cold = byId.get('native.verify.cold.valid');
  const { env } = results;
  const lines = [
    '<!-- Written by `node bench/readme.mjs` from bench/results/latest.json (`npm run bench`); edits here are overwritten. -->',
    '',
    `Measured by \`npm run bench\` on ${env.date.slice(0, 10)}: ${env.cpu}, ${env.cores} cores, ${env.os}, Node ${env.node}, ` +
      `${env.backend} engine, ${describeSha(env)}${env.commit ? `, commit ${env.commit}` : ''}. ` +
      `Medians of ${results.settings.rounds} rounds, each case in a fresh process` +
      (env.otherCpu?.other >= 0.05 ? ` (other processes used ${Math.round(env.otherCpu.other * 100)}% of the CPU during the run)` : '') +
      (results.noise !== undefined ? `; rounds agreed within ±${(results.noise * 100).toFixed(1)}% (median case)` : '') +
      '. Figures from your machine will differ: run `npm run bench` to get them.',
    '',
    '![Time per call, ns/op, log scale](bench/results/latest.svg)',
    '',
  ];

  const rows = [];
  const add = (id, label) => {
    const c = byId.get(id);
    if (!c) return;
    rows.push(`| ${label} | ${formatNs(c.medianNs)} | ${formatNs(c.p99Ns)} | ${cold ? (c.id === cold.id ? '1×' : formatRatio(c.medianNs / cold.medianNs)) : '—'} |`);
  };
  add('native.verify.warm.now', '**totp-handshake**, warm (current step, codes cached)');
  add('js.verify.warm.now', 'totp-handshake on its node:crypto engine, warm');
  add('native.verify.cold.valid', '**totp-handshake**, cold (HMAC recomputed), valid code');
  add('native.verify.cold.valid.twokeys', '**totp-handshake**, cold, valid, with a second key in use (as after a rotation)');
  add('native.verify.cold.invalid', '**totp-handshake**, cold, invalid code (3 HMACs)');
  add('js.verify.cold.valid', 'totp-handshake on its node:crypto engine, cold, valid');
  add('naive.verify.cold.valid', 'naive `createHmac` verify, valid');
  for (const c of results.cases) if (c.suite === 'peers' && c.id.endsWith('.valid') && !c.twin && !c.skipped) add(c.id, `${c.impl}, valid`);
  add('native.once.verify.invalid', '**totp-handshake** `verifyTotp` one-shot (no key object, base32 secret), invalid code');
  add('native.once.verify.valid', '**totp-handshake** `verifyTotp` one-shot, valid code');
  add('js.once.verify.invalid', 'totp-handshake `verifyTotp` on its node:crypto engine, invalid code');
  for (const c of results.cases) if (c.suite === 'peers' && c.twin && c.id.endsWith('.invalid') && !c.skipped) add(c.id, `${c.impl} per call, invalid code`);
  add('native.key.create', '**totp-handshake** `TotpKey.fromBase32` + `destroy()`');
  add('native.key.create.verify', '**totp-handshake** `TotpKey.fromBase32` + `verify` (invalid) + `destroy()`');
  add('js.key.create.verify', 'the same on its node:crypto engine');
  for (const c of results.cases) if (c.suite === 'baselines' && !c.skipped) add(c.id, `${c.impl}, ${c.op}`);
  if (rows.length > 0) {
    lines.push(
      '| verify (window ±1 step for TOTP) | median | p99 | × totp-handshake cold |',
      '|---|---:|---:|---:|',
      ...rows,
      '',
      'p99 is the 99th percentile of batch means (each tinybench sample times a batch of calls), so it shows GC pauses and scheduling rather than single-call outliers.',
      '',
    );
    const payoff = payoffSentence(byId);
    if (payoff) lines.push(payoff, '');
  }

  // The compat layers beside the calls they replace: same arguments, valid code, window 1.
  const compat = results.cases.filter((c) => c.suite === 'compat' && c.id.endsWith('.adapter') && !c.skipped);
  const compatRows = compat.flatMap((adapter) => {
    const original = byId.get(adapter.id.replace(/\.adapter$/, '.original'));
    if (!original) return [];
    return [`| ${original.impl} | ${formatNs(original.medianNs)} | ${formatNs(adapter.medianNs)} | ${formatRatio(original.medianNs / adapter.medianNs)} |`];
  });
  if (compatRows.length > 0) {
    lines.push(
      '| the same call after the one-line import change (valid code, window 1) | original | `totp-handshake/compat/...` | speed-up |',
      '|---|---:|---:|---:|',
      ...compatRows,
      '',
    );
  }

  if (results.http) {
    const m = Object.fromEntries(results.http.modes.map((mode) => [mode.mode, mode]));
    const s = results.http.settings;
    lines.push(
      `HTTP, node:http hello world on 127.0.0.1 (autocannon, ${s.connections} connections, median of ${s.rounds} interleaved ${s.duration} s runs): ` +
        `${Math.round(m.none.medianRps).toLocaleString('en-US')} req/s with no check, ` +
        `${Math.round(m.guard.medianRps).toLocaleString('en-US')} with the guard (${pct(m.guard.costPct)}, the rounds spreading ±${(spread(m.none.runs.map((r) => r.rps)) * 100).toFixed(0)}%; ` +
        `the check takes ${formatNs(m.guard.probe.medianNs)} inside a request, ${m.guard.probeCostPct.toFixed(1)}% of a CPU-bound server's req/s), ` +
        `${Math.round(m.jwt.medianRps).toLocaleString('en-US')} with a fast-jwt HS256 check (${pct(m.jwt.costPct)}; ${formatNs(m.jwt.probe.medianNs)} inside a request).`,
      '',
    );
  }
  lines.push('How these are measured, and the CI gate: [bench/README.md](bench/README.md).');
  return lines.join('\n');
}

/** Rewrites README.md; returns { ok, message } and never throws for a missing file or marker. */
export function updateReadme({ print = false } = {}) {
  if (!existsSync(LATEST)) return { ok: false, message: 'readme: bench/results/latest.json is missing: run `npm run bench` (a full run) first' };
  const section = renderSection(JSON.parse(readFileSync(LATEST, 'utf8')));
  if (print) return { ok: true, message: section };
  const path = fileURLToPath(README);
  if (!existsSync(README)) return { ok: false, message: `readme: ${path} does not exist; README.md was not updated` };
  const text = readFileSync(README, 'utf8');
  const lines = text.split('\n');
  const starts = lines.flatMap((l, i) => (l.trim() === START ? [i] : []));
  const ends = lines.flatMap((l, i) => (l.trim() === END ? [i] : []));
  if (starts.length !== 1 || ends.length !== 1 || starts[0] > ends[0]) {
    return {
      ok: false,
      message:
        `readme: README.md needs exactly one "${START}" line followed by one "${END}" line ` +
        `(found ${starts.length} and ${ends.length}${starts.length === 1 && ends.length === 1 ? ', in the wrong order' : ''}); it was not modified`,
    };
  }
  const next = [...lines.slice(0, starts[0] + 1), section, ...lines.slice(ends[0])].join('\n');
  if (next === text) return { ok: true, message: 'readme: README.md bench section already up to date' };
  const tmp = `${path}.bench.tmp`;
  writeFileSync(tmp, next);
  renameSync(tmp, path);
  return { ok: true, message: 'readme: README.md bench section updated from bench/results/latest.json' };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outcome = updateReadme({ print: process.argv.includes('--print') });
  (outcome.ok ? process.stdout : process.stderr).write(`${outcome.message}\n`);
  process.exitCode = outcome.ok ? 0 : 1;
}
