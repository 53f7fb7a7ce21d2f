// The tables printed on stdout.
import { comparisons } from './analysis.mjs';
import { headerLines } from './env.mjs';
import { formatNs, formatRatio, table } from './stats.mjs';

const SUITE_TITLES = {
  engines: 'Engines: totp-handshake (native addon, node:crypto engine) and a naive createHmac verify',
  peers: 'Peers: TOTP libraries, each as its README recommends, ±1-step window, cold (no peer caches)',
  baselines: 'Baselines: other ways to trust a request from a service',
};

const spread = (c) => `±${(((c.maxRoundNs - c.minRoundNs) / 2 / c.medianNs) * 100).toFixed(1)}%`;

/** The native case doing the same work as `c`, for the "× native" column. */
function nativeTwin(c) {
  if (c.suite === 'engines') return c.id.replace(/^(js|naive)\./, 'native.');
  if (c.suite === 'peers') return c.id.endsWith('.invalid') ? 'native.verify.cold.invalid' : 'native.verify.cold.valid';
  return 'native.verify.cold.valid';
}

function caseTable(results, suite) {
  const byId = new Map(results.cases.map((c) => [c.id, c]));
  const rows = results.cases
    .filter((c) => c.suite === suite)
    .map((c) => {
      if (c.skipped) return [c.impl, c.op, 'skipped', '', '', '', ''];
      const twin = byId.get(nativeTwin(c));
      const vsNative = twin && !twin.skipped && twin.id !== c.id ? formatRatio(c.medianNs / twin.medianNs) : twin?.id === c.id ? '1×' : '—';
      return [c.impl, c.op, formatNs(c.medianNs), formatNs(c.p99Ns), spread(c), String(c.k), vsNative];
    });
  if (rows.length === 0) return undefined;
  const nativeColumn = suite === 'engines' ? '× native' : suite === 'peers' ? '× native cold' : '× native cold valid';
  const reasons = [...new Set(results.cases.filter((c) => c.suite === suite && c.skipped).map((c) => c.skipped))];
  const notes = reasons.map((reason) => `\nskipped: ${reason}`).join('');
  return `${SUITE_TITLES[suite]}\n\n${table(['implementation', 'operation', 'median', 'p99', 'rounds', 'K', nativeColumn], rows, { left: [0, 1] })}${notes}`;
}

function againstTable(results) {
  const rows = comparisons(results).map((r) => [r.label, formatNs(r.medianNs), formatRatio(r.vsColdValid), formatRatio(r.vsColdInvalid), formatRatio(r.vsWarm)]);
  if (rows.length === 0) return undefined;
  return (
    'Native verify against the fastest peer and each baseline (× = how many times slower than native)\n\n' +
    table(['compared with', 'median', '× cold valid', '× cold invalid', '× warm'], rows, { left: [0] })
  );
}

function httpTable(results) {
  const http = results.http;
  if (!http) return undefined;
  const s = http.settings;
  const signed = (value, digits, unit) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(digits)}${unit}`;
  const rows = http.modes.map((m) => [
    m.label,
    Math.round(m.medianRps).toLocaleString('en-US'),
    m.runs.map((r) => Math.round(r.rps)).join(' '),
    m.mode === 'none' ? '—' : signed(-m.costPct, 1, '%'),
    `${m.medianCpuUsPerReq.toFixed(2)} µs`,
    m.mode === 'none' ? '—' : signed(m.extraCpuUsPerReq * 1000, 0, ' ns'),
    m.mode === 'none' ? '—' : signed(-m.cpuCostPct, 1, '%'),
    `${Math.round(m.medianCpuShare * 100)}%`,
  ]);
  return (
    `HTTP: node:http hello world on 127.0.0.1, autocannon ${s.connections} connections, ${s.rounds} interleaved rounds of ${s.duration} s per server\n` +
    'req/s and server CPU (read from the server process); "vs no check" figures are medians of per-round pairs;\n' +
    '"CPU-bound req/s" = the req/s change if the server, not autocannon, were the bottleneck (from CPU per request)\n\n' +
    table(
      ['server', 'req/s (median)', 'req/s per round', 'req/s vs no check', 'server CPU/req', 'extra CPU/req', 'CPU-bound req/s', 'server busy'],
      rows,
      { left: [0] },
    )
  );
}

function formatFigure(value, unit) {
  if (value === undefined) return 'not measured';
  if (unit === 'ns') return formatNs(value);
  if (unit === 'x') return formatRatio(value);
  return `${value.toFixed(1)}%`;
}

function targetsTable(results) {
  const rows = results.targets.map((t) => [
    t.name,
    `${t.kind === 'max' ? '≤' : '≥'} ${t.target}${t.unit === 'x' ? '×' : ` ${t.unit}`}`.replace(' %', '%'),
    formatFigure(t.value, t.unit),
    t.met === undefined ? '—' : t.met ? 'met' : 'MISSED',
  ]);
  return `Targets (this run, medians)\n\n${table(['target', 'goal', 'measured', ''], rows, { left: [0, 3] })}`;
}

export function gateTable(rows) {
  return table(
    ['gate figure', 'measured', 'budget', ''],
    rows.map((r) => [r.name, formatFigure(r.figure, r.unit), `${r.kind === 'max' ? '≤' : '≥'} ${formatFigure(r.budget, r.unit)}`, r.ok ? 'ok' : 'REGRESSED']),
    { left: [0, 3] },
  );
}

export function printReport(results, write) {
  const { settings } = results;
  write(`totp-handshake bench (${results.mode})\n`);
  write(`${headerLines(results.env).join('\n')}\n`);
  if (results.cases.length > 0) {
    write(
      `\nmethod    per call; median of ${settings.rounds} rounds, each case and round in a fresh process; a tinybench sample is a\n` +
        `          batch of K calls (time ${settings.time} ms, warm-up ${settings.warmupTime} ms); p99 = median of the rounds' p99 of batch means;\n` +
        `          rounds = half the range of the round medians. Cold = a new TOTP step on every call (HMACs recomputed),\n` +
        `          warm = the current step (cached codes). Every result is checked, before and while timing.\n`,
    );
  }
  for (const section of [
    caseTable(results, 'engines'),
    caseTable(results, 'peers'),
    caseTable(results, 'baselines'),
    againstTable(results),
    httpTable(results),
    targetsTable(results),
  ]) {
    if (section) write(`\n${section}\n`);
  }
}
