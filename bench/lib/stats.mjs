// Small helpers for summarising rounds.

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/**
 * How far the middle values of a set of rounds spread around their median, as a fraction: half
 * the range after dropping the lowest and the highest value (from 5 values on). The median is
 * decided by those middle values, so this is its uncertainty, and one round that a noisy host
 * slowed down does not make the whole figure look uncertain.
 */
export function spread(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const trim = sorted.length >= 5 ? 1 : 0;
  const middle = sorted.slice(trim, sorted.length - trim);
  return (middle[middle.length - 1] - middle[0]) / 2 / median(values);
}

/** "145 ns", "2.12 µs", "38.3 µs", "1.23 ms": three significant digits. */
export function formatNs(ns) {
  if (!Number.isFinite(ns)) return '—';
  const [value, unit] = ns < 1e3 ? [ns, 'ns'] : ns < 1e6 ? [ns / 1e3, 'µs'] : [ns / 1e6, 'ms'];
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${unit}`;
}

/** "26×", "1.7×", "0.42×". */
export function formatRatio(ratio) {
  if (!Number.isFinite(ratio)) return '—';
  return `${ratio >= 100 ? ratio.toFixed(0) : ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

/** A plain-text table: columns right-aligned unless listed in `left`. */
export function table(headers, rows, { left = [0] } = {}) {
  const widths = headers.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((cell, i) => (left.includes(i) ? String(cell ?? '').padEnd(widths[i]) : String(cell ?? '').padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
