// A horizontal bar chart of the per-call medians, ns/op on a log scale, as a self-contained SVG
// (no dependency, no script, no external font): it renders the same in a browser and on GitHub.
import { formatNs } from './stats.mjs';

const COLORS = { native: '#1a7f37', engines: '#57606a', peers: '#0969da', baselines: '#bc4c00', compat: '#8250df' };
const SUITE_NAMES = { engines: 'engines', peers: 'TOTP peers', baselines: 'baselines', compat: 'drop-in adapters (original / compat)' };

const TICK_LABELS = ['1 ns', '10 ns', '100 ns', '1 µs', '10 µs', '100 µs', '1 ms', '10 ms', '100 ms', '1 s'];

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderSvg(results) {
  const rows = results.cases.filter((c) => !c.skipped && Number.isFinite(c.medianNs) && c.medianNs > 0);
  const labelWidth = 430;
  const plotWidth = 420;
  const valueWidth = 80;
  const rowHeight = 18;
  const groupGap = 10;
  const top = 58;
  const width = labelWidth + plotWidth + valueWidth + 20;

  const min = Math.min(...rows.map((r) => r.medianNs));
  const max = Math.max(...rows.map((r) => r.medianNs));
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const x = (ns) => labelWidth + ((Math.log10(ns) - lo) / (hi - lo)) * plotWidth;

  const parts = [];
  let y = top;
  let suite;
  for (const row of rows) {
    if (row.suite !== suite) {
      if (suite !== undefined) y += groupGap;
      suite = row.suite;
      parts.push(`<text x="8" y="${y + 12}" class="group">${escape(SUITE_NAMES[suite] ?? suite)}</text>`);
      y += rowHeight;
    }
    const color = row.id.startsWith('native.') ? COLORS.native : COLORS[row.suite];
    const end = x(row.medianNs);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 12.5}" text-anchor="end">${escape(`${row.impl} — ${row.op}`)}</text>`,
      `<rect x="${labelWidth}" y="${y + 3}" width="${Math.max(1, end - labelWidth).toFixed(1)}" height="${rowHeight - 6}" fill="${color}"><title>${escape(`${row.impl}, ${row.op}: ${formatNs(row.medianNs)} median`)}</title></rect>`,
      `<text x="${(end + 5).toFixed(1)}" y="${y + 12.5}" class="value">${escape(formatNs(row.medianNs))}</text>`,
    );
    y += rowHeight;
  }
  const bottom = y + 6;

  const ticks = [];
  for (let p = lo; p <= hi; p++) {
    const tx = x(10 ** p).toFixed(1);
    ticks.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${bottom}" class="grid"/>`,
      `<text x="${tx}" y="${bottom + 16}" text-anchor="middle" class="axis">${TICK_LABELS[p] ?? `1e${p} ns`}</text>`,
    );
    for (let m = 2; m < 10 && p < hi; m++) {
      const mx = x(m * 10 ** p).toFixed(1);
      ticks.push(`<line x1="${mx}" y1="${top - 4}" x2="${mx}" y2="${bottom}" class="minor"/>`);
    }
  }

  const env = results.env;
  const subtitle = `${env.date.slice(0, 10)} · ${env.cpu}, ${env.cores} cores · Node ${env.node} · engine ${env.backend}${env.sha ? ` (${env.sha.sha1})` : ''} · median of ${results.settings.rounds} rounds · log scale, shorter is faster`;
  const height = bottom + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="totp-handshake benchmark: time per call">
<style>
text { font: 12px -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; fill: #24292f; }
.title { font-size: 15px; font-weight: 600; }
.sub { font-size: 11px; fill: #57606a; }
.group { font-weight: 600; }
.value, .axis { font-size: 11px; fill: #57606a; }
.grid { stroke: #d0d7de; stroke-width: 1; }
.minor { stroke: #eaeef2; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="8" y="20" class="title">totp-handshake: time per call (ns/op, log scale)</text>
<text x="8" y="38" class="sub">${escape(subtitle)}</text>
${ticks.join('\n')}
${parts.join('\n')}
</svg>
`;
}
