#!/usr/bin/env node
// npm run bench        the full set (~2 min): tables, bench/results/latest.{json,svg}, README section
// npm run bench:check  the quick set and the CI gate against bench/budget.json (exit 1 on a regression)
//
// See bench/README.md for the method. Flags: node bench/run.mjs --help
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { budgetCases, comparisons, gate, noise, targets } from './lib/analysis.mjs';
import { checkBuilt, ensureBenchDependencies } from './lib/deps.mjs';
import { cpuSnapshot, environment, otherCpuShare } from './lib/env.mjs';
import { gateTable, printReport } from './lib/report.mjs';
import { median, spread } from './lib/stats.mjs';
import { renderSvg } from './lib/svg.mjs';

const USAGE = `usage: node bench/run.mjs [options]   (npm run bench / npm run bench:check)

  --quick            the reduced set (< 45 s): the cases the gate needs, a few more, no HTTP
  --check            --quick, then compare with bench/budget.json; exit 1 naming any regression
  --suite NAME       only these suites (repeatable or comma-separated): engines, peers, baselines, compat, http
  --rounds N         rounds per case (default 7, quick 5; each round of each case is a fresh process)
  --portable         run the native engine on its portable C++ cores, as on a CPU without SHA
                     instructions (to see those figures, or to see the gate catch a slowdown)
  --no-readme        do not refresh the README's bench section after a full run
  --help             this text

Writes bench/results/latest.{json,svg} (full run), quick.{json,svg} (--quick/--check) or
partial.{json,svg} (--suite).`;

const FULL = { rounds: 7, time: 150, warmupTime: 60, minSamples: 32 };
const QUICK = { rounds: 5, time: 100, warmupTime: 50, minSamples: 32 };
const HTTP_FULL = { rounds: 6, duration: 2, warmup: 1, connections: 10 };
const HTTP_QUICK = { rounds: 3, duration: 1, warmup: 1, connections: 10 };

const CHILD = fileURLToPath(new URL('./lib/child.mjs', import.meta.url));
const RESULTS_DIR = new URL('./results/', import.meta.url);

const log = (message) => process.stderr.write(`${message}\n`);
const out = (text) => process.stdout.write(text);

function fail(message) {
  log(`bench: ${message}`);
  process.exit(1);
}

function parse() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        suite: { type: 'string', multiple: true },
        rounds: { type: 'string' },
        portable: { type: 'boolean', default: false },
        'no-readme': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    fail(`${error.message}\n\n${USAGE}`);
  }
  if (parsed.help) {
    out(`${USAGE}\n`);
    process.exit(0);
  }
  const suites = parsed.suite?.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const known = ['engines', 'peers', 'baselines', 'compat', 'http'];
  for (const s of suites ?? []) if (!known.includes(s)) fail(`unknown suite ${JSON.stringify(s)}: ${known.join(', ')}`);
  if (parsed.check && suites) fail('--check runs the quick set as a whole; it takes no --suite');
  const rounds = parsed.rounds === undefined ? undefined : Number(parsed.rounds);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 50)) fail('--rounds must be a whole number from 1 to 50');
  return { ...parsed, quick: parsed.quick || parsed.check, suites, rounds };
}

function runChild(id, settings, portable) {
  const env = { ...process.env };
  if (portable) env.TOTP_BENCH_PORTABLE = '1';
  const child = spawnSync(process.execPath, [CHILD, id, JSON.stringify(settings)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
    timeout: 180_000,
  });
  const line = child.stdout?.trim().split('\n').pop();
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    throw new Error(`${id}: the case process printed no result (exit ${child.status ?? child.signal}${child.error ? `, ${child.error.message}` : ''})`);
  }
  if (result.error) throw new Error(`${id} failed:\n${result.error}`);
  return result;
}

async function main() {
  const opts = parse();
  const started = Date.now();
  const mode = opts.check ? 'check' : opts.quick ? 'quick' : opts.suites ? 'partial' : 'full';
  try {
    checkBuilt();
    ensureBenchDependencies(log);
  } catch (error) {
    fail(error.message);
  }
  const env = environment();
  const cpuAtStart = cpuSnapshot();
  if (opts.portable) {
    if (env.sha === undefined) fail('--portable needs the native addon, which is not loaded');
    env.sha = { sha1: 'portable', sha256: 'portable', sha512: 'portable', forcedByFlag: true };
  }
  const budget = opts.check ? JSON.parse(readFileSync(new URL('./budget.json', import.meta.url), 'utf8')) : undefined;
  if (opts.check && env.backend !== 'native') {
    fail(
      `the gate measures the native addon, and it is not loaded in this process: ${env.backendReason}.\n` +
        '     Build it (npm run build:native) and unset TOTP_HANDSHAKE_BACKEND; a missing addon is a failure here, not a skip.',
    );
  }

  const { CASES } = await import('./suites/index.mjs');
  const wanted = (suite) => (opts.suites ? opts.suites.includes(suite) : true);
  const selected = CASES.filter((c) => wanted(c.suite) && (!opts.quick || c.quick));
  const settings = { ...(opts.quick ? QUICK : FULL), ...(opts.rounds ? { rounds: opts.rounds } : {}) };
  const runHttp = wanted('http') && (!opts.quick || opts.suites?.includes('http'));
  const httpSettings = { ...(opts.quick ? HTTP_QUICK : HTTP_FULL), ...(opts.rounds ? { rounds: opts.rounds } : {}) };

  if (budget) {
    const missing = budgetCases(budget).filter((id) => !selected.some((c) => c.id === id));
    if (missing.length > 0) fail(`bench/budget.json needs cases the quick set lacks: ${missing.join(', ')}`);
  }

  log(`bench: ${mode} run, ${selected.length} cases × ${settings.rounds} rounds${runHttp ? ' + HTTP' : ''}`);
  // Round-robin: round 1 of every case, then round 2, ... so slow drift on a shared machine
  // lands on every case alike and ratios within the run stay fair.
  const rounds = new Map(selected.map((c) => [c.id, []]));
  const skipped = new Map();
  try {
    for (let round = 0; round < settings.rounds; round++) {
      for (const c of selected) {
        if (skipped.has(c.id)) continue;
        const result = runChild(c.id, settings, opts.portable);
        if (result.skipped) {
          skipped.set(c.id, result.skipped);
          log(`  ${c.id}: skipped (${result.skipped})`);
          continue;
        }
        rounds.get(c.id).push(result);
        log(`  round ${round + 1}/${settings.rounds}  ${c.id.padEnd(30)} ${result.medianNs.toFixed(1).padStart(10)} ns/call`);
      }
    }
  } catch (error) {
    fail(error.message);
  }

  const cases = selected.map((c) => {
    const base = { id: c.id, suite: c.suite, impl: c.impl, op: c.op, k: c.k, ...(c.twin ? { twin: c.twin } : {}) };
    if (skipped.has(c.id)) return { ...base, skipped: skipped.get(c.id) };
    const rs = rounds.get(c.id);
    const medians = rs.map((r) => r.medianNs);
    return {
      ...base,
      medianNs: median(medians),
      p99Ns: median(rs.map((r) => r.p99Ns)),
      minRoundNs: Math.min(...medians),
      maxRoundNs: Math.max(...medians),
      spread: spread(medians),
      samples: rs.reduce((n, r) => n + r.samples, 0),
      calls: rs.reduce((n, r) => n + r.calls, 0),
      rounds: rs.map(({ medianNs, p99Ns, meanNs, minNs, samples, calls, rme, restarts }) => ({ medianNs, p99Ns, meanNs, minNs, samples, calls, rme, restarts })),
    };
  });

  const results = { schema: 1, mode, env, settings, cases };
  if (runHttp) {
    try {
      const { runHttpSuite } = await import('./suites/http.mjs');
      results.http = await runHttpSuite(httpSettings, log);
    } catch (error) {
      fail(`HTTP suite: ${error.stack ?? error.message}`);
    }
  }
  results.noise = noise(results);
  results.comparisons = comparisons(results);
  results.targets = targets(results);
  if (budget) results.gate = gate(results, budget);
  results.elapsedSeconds = Math.round((Date.now() - started) / 1000);
  env.otherCpu = otherCpuShare(cpuAtStart, cpuSnapshot());

  out('\n');
  printReport(results, out);

  const name = mode === 'full' ? 'latest' : mode === 'partial' ? 'partial' : 'quick';
  mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonUrl = new URL(`${name}.json`, RESULTS_DIR);
  const svgUrl = new URL(`${name}.svg`, RESULTS_DIR);
  // Written beside and renamed into place: an interrupted run never leaves half a file.
  const write = (url, text) => {
    const tmp = new URL(`${url.href}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, url);
  };
  write(jsonUrl, `${JSON.stringify(results, null, 2)}\n`);
  if (cases.some((c) => !c.skipped)) write(svgUrl, renderSvg(results));
  out(`\nresults   ${fileURLToPath(jsonUrl)}${cases.some((c) => !c.skipped) ? ` and ${name}.svg` : ''} (${results.elapsedSeconds} s)\n`);

  if (budget) {
    out(`\nGate: ratios measured in this run against bench/budget.json\n\n${gateTable(results.gate)}\n`);
    const regressed = results.gate.filter((r) => !r.ok);
    if (regressed.length > 0) {
      out(`\nbench:check FAILED: ${regressed.map((r) => r.name).join('; ')} regressed (see the budgets above).\n`);
      process.exitCode = 1;
      return;
    }
    out('\nbench:check passed.\n');
  }

  if (mode === 'full' && !opts['no-readme']) {
    const { updateReadme } = await import('./readme.mjs');
    const outcome = updateReadme();
    out(`\n${outcome.message}\n`);
    if (!outcome.ok) process.exitCode = 1;
  }
}

await main();
