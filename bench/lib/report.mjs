// The tables printed on stdout.
import { comparisons, noise, NOISY } from './analysis.mjs';
import { headerLines } from './env.mjs';
import { formatNs, formatRatio, spread, table } from './stats.mjs';

const SUITE_TITLES = {
  engines: 'Engines: totp-handshake (native addon, node:crypto engine) and a naive createHmac verify',
  peers: 'Peers: TOTP libraries, each as its README recommends, ±1-step window, cold (no peer caches)',
  baselines: 'Baselines: other ways to trust a request from a service',
};

const spreadOf = (c) => `±${(c.spread * 100).toFixed(1)}%`;

/** The native case doing the same work as `c`, for the "× native" column. */
function nativeTwin(c) {
  if (c.twin) return c.twin;
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
      return [c.impl, c.op, formatNs(c.medianNs), formatNs(c.p99Ns), spreadOf(c), String(c.k), vsNative];
    });
  if (rows.length === 0) return undefined;
  const nativeColumn = suite === 'engines' ? '× native' : suite === 'peers' ? '× native cold' : '× native cold valid';
  const reasons = [...new Set(results.cases.filter((c) => c.suite === suite && c.skipped).map((c) => c.skipped))];
  const notes = reasons.map((reason) => `\nskipped: ${reason}`).join('');
  return `${SUITE_TITLES[suite]}\n\n${table(['implementation', 'operation', 'median', 'p99', 'rounds', 'K', nativeColumn], rows, { left: [0, 1] })}${notes}`;
}

/** Each compat adapter beside the original call it replaces: compat.<name>.original / .adapter. */
function compatTable(results) {
  const byId = new Map(results.cases.map((c) => [c.id, c]));
  const rows = [];
  for (const c of results.cases) {
    if (c.suite !== 'compat' || !c.id.endsWith('.original')) continue;
    const twin = byId.get(c.id.replace(/\.original$/, '.adapter'));
    if (c.skipped || !twin || twin.skipped) {
      rows.push([c.impl, 'skipped', '', '', '']);
      continue;
    }
    rows.push([c.impl, formatNs(c.medianNs), formatNs(twin.medianNs), formatRatio(c.medianNs / twin.medianNs), `${spreadOf(c)} / ${spreadOf(twin)}`]);
  }
  if (rows.length === 0) return undefined;
  const reasons = [...new Set(results.cases.filter((c) => c.suite === 'compat' && c.skipped).map((c) => c.skipped))];
  return (
    'Compat: each drop-in adapter (totp-handshake/compat/*) beside the original call it replaces, same arguments, valid code, ±1 step\n\n' +
    table(['call', 'original', 'adapter', 'original ÷ adapter', 'rounds'], rows, { left: [0] }) +
    reasons.map((reason) => `\nskipped: ${reason}`).join('')
  );
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
  const none = http.modes.find((m) => m.mode === 'none');
  const rows = http.modes.map((m) => [
    m.label,
    Math.round(m.medianRps).toLocaleString('en-US'),
    m.runs.map((r) => Math.round(r.rps)).join(' '),
    `±${(spread(m.runs.map((r) => r.rps)) * 100).toFixed(0)}%`,
    m.mode === 'none' ? '—' : signed(-m.costPct, 1, '%'),
    `${m.medianCpuUsPerReq.toFixed(2)} µs`,
    `${(m.medianGcUsPerReq * 1000).toFixed(0)} ns`,
    m.mode === 'none' ? '—' : signed(m.extraCpuUsPerReq * 1000, 0, ' ns'),
    m.mode === 'none' ? '—' : `${formatNs(m.probe.medianNs)} / ${formatNs(m.probe.p99Ns)}`,
    m.mode === 'none' ? '—' : signed(-m.probeCostPct, 1, '%'),
    `${Math.round(m.medianCpuShare * 100)}%`,
  ]);
  return (
    `HTTP: node:http hello world on 127.0.0.1, autocannon ${s.connections} connections, ${s.rounds} interleaved rounds of ${s.duration} s per server;\n` +
    'every server gets the same request (X-OTP and Authorization headers) and must answer each one with 200\n' +
    '  rounds            spread of the middle rounds\' req/s (half their range, lowest and highest dropped):\n' +
    '                    a "vs no check" within it is noise\n' +
    '  vs no check       median of the per-round pairs (the runs of one round are seconds apart)\n' +
    '  CPU/req           server CPU time per request, read from the server process (of it GC: time in garbage collection)\n' +
    `  check in handler  the check timed inside each request of one more run, median / p99, the ${formatNs(none.probe.timerNs)} timer\n` +
    '                    subtracted; it includes node building req.headers on the first header read\n' +
    '  if CPU-bound      the req/s the check would cost a server that is the bottleneck (check time vs no-check CPU/req)\n' +
    '  busy              server CPU / wall time: under 100%, autocannon, not the server, limits req/s\n\n' +
    table(
      ['server', 'req/s (median)', 'req/s per round', 'rounds', 'vs no check', 'CPU/req', 'of it GC', 'extra CPU/req', 'check in handler', 'if CPU-bound', 'busy'],
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
        '          rounds = spread of the middle rounds (half their range; from 5 rounds on, the lowest and highest dropped).\n' +
        '          Cold = a new TOTP step on every call (HMACs recomputed), warm = the current step (cached codes).\n' +
        '          Every result is checked, before and while timing.\n',
    );
  }
  const noiseLevel = noise(results);
  if (noiseLevel !== undefined) {
    write(
      `noise     the median case's middle rounds differ by ±${(noiseLevel * 100).toFixed(1)}%` +
        (noiseLevel > NOISY ? ': a noisy run (a busy machine or host); rerun on an idle one before quoting figures\n' : '\n'),
    );
  }
  for (const section of [
    caseTable(results, 'engines'),
    caseTable(results, 'peers'),
    caseTable(results, 'baselines'),
    compatTable(results),
    againstTable(results),
    httpTable(results),
    targetsTable(results),
  ]) {
    if (section) write(`\n${section}\n`);
  }
}
