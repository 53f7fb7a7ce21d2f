// Figures derived from one run: ratios, the targets, and the CI gate's budgets. Every
// ratio divides two medians measured in the same run, so machine speed cancels out.

/** The reference figures the others are compared with. */
export const NATIVE = {
  coldValid: 'native.verify.cold.valid',
  coldInvalid: 'native.verify.cold.invalid',
  warm: 'native.verify.warm.now',
  onceInvalid: 'native.once.verify.invalid',
  create: 'native.key.create',
  createVerify: 'native.key.create.verify',
};

export const PEER_VALID = ['otplib.verify.valid', 'otplib.verifySync.valid', 'otpauth.validate.valid', 'speakeasy.verify.valid'];

export function medianOf(results, id) {
  const found = results.cases.find((c) => c.id === id);
  return found && !found.skipped ? found.medianNs : undefined;
}

/** The fastest peer on a valid code: { id, medianNs } or undefined. */
export function fastestPeer(results) {
  let best;
  for (const id of PEER_VALID) {
    const value = medianOf(results, id);
    if (value !== undefined && (best === undefined || value < best.medianNs)) best = { id, medianNs: value };
  }
  return best;
}

const ratio = (slower, faster) => (slower !== undefined && faster !== undefined ? slower / faster : undefined);

/** How many times slower than native each comparison is: rows for the "against" table. */
export function comparisons(results) {
  const native = Object.fromEntries(Object.entries(NATIVE).map(([name, id]) => [name, medianOf(results, id)]));
  if (native.coldValid === undefined) return [];
  const rows = [];
  const peer = fastestPeer(results);
  if (peer) {
    const invalidId = peer.id.replace(/\.valid$/, '.invalid');
    rows.push({
      id: peer.id,
      label: `fastest peer: ${results.cases.find((c) => c.id === peer.id).impl}`,
      medianNs: peer.medianNs,
      vsColdValid: ratio(peer.medianNs, native.coldValid),
      vsColdInvalid: ratio(medianOf(results, invalidId), native.coldInvalid),
      vsWarm: ratio(peer.medianNs, native.warm),
    });
  }
  for (const c of results.cases) {
    if (c.suite !== 'baselines' || c.skipped) continue;
    rows.push({
      id: c.id,
      label: `${c.impl}, ${c.op}`,
      medianNs: c.medianNs,
      vsColdValid: ratio(c.medianNs, native.coldValid),
      vsColdInvalid: ratio(c.medianNs, native.coldInvalid),
      vsWarm: ratio(c.medianNs, native.warm),
    });
  }
  return rows;
}

/** The targets for this machine, each with the measured figure (undefined: not measured). */
export function targets(results) {
  const cold = medianOf(results, NATIVE.coldValid);
  const guard = results.http?.modes.find((m) => m.mode === 'guard');
  const once = medianOf(results, NATIVE.onceInvalid);
  const list = [
    { name: 'cold native verify, valid code', kind: 'max', unit: 'ns', target: 130, value: cold },
    { name: 'cold native verify, invalid code', kind: 'max', unit: 'ns', target: 220, value: medianOf(results, NATIVE.coldInvalid) },
    { name: 'warm native verify', kind: 'max', unit: 'ns', target: 60, value: medianOf(results, NATIVE.warm) },
    { name: 'one-shot native verifyTotp, base32, invalid code', kind: 'max', unit: 'ns', target: 600, value: once },
    {
      name: 'one-shot faster than otpauth TOTP.validate + Secret.fromBase32 (invalid)',
      kind: 'min',
      unit: 'x',
      target: 25,
      value: ratio(medianOf(results, 'otpauth.validate.fromBase32.invalid'), once),
    },
    { name: 'one-shot faster than otplib 12 authenticator.check (invalid)', kind: 'min', unit: 'x', target: 20, value: ratio(medianOf(results, 'otplib12.check.invalid'), once) },
    { name: 'native TotpKey.fromBase32 (+ destroy)', kind: 'max', unit: 'ns', target: 1000, value: medianOf(results, NATIVE.create) },
    { name: 'faster than fast-jwt (cold valid)', kind: 'min', unit: 'x', target: 30, value: ratio(medianOf(results, 'jwt.fast-jwt'), cold) },
    { name: 'faster than otpauth (cold valid)', kind: 'min', unit: 'x', target: 20, value: ratio(medianOf(results, 'otpauth.validate.valid'), cold) },
    { name: 'faster than payload HMAC-SHA256 1 KiB (cold valid)', kind: 'min', unit: 'x', target: 10, value: ratio(medianOf(results, 'hmac.sha256.1k'), cold) },
    { name: 'guard cost in req/s (measured, paired rounds)', kind: 'max', unit: '%', target: 3, value: guard?.costPct },
    { name: 'guard cost in req/s if the server were CPU-bound', kind: 'max', unit: '%', target: 3, value: guard?.probeCostPct },
  ];
  for (const t of list) {
    t.met = t.value === undefined ? undefined : t.kind === 'max' ? t.value <= t.target : t.value >= t.target;
  }
  return list;
}

/**
 * The CI gate: each budget in bench/budget.json against this run. A ratio budget is
 * "slower / faster >= min"; a ceiling is "median <= maxNs".
 */
export function gate(results, budget) {
  const rows = [];
  for (const r of budget.ratios) {
    const value = ratio(medianOf(results, r.slower), medianOf(results, r.faster));
    rows.push({ name: r.name, figure: value, budget: r.min, kind: 'min', unit: 'x', ok: value !== undefined && value >= r.min, why: r.why });
  }
  for (const c of budget.ceilings) {
    const value = medianOf(results, c.case);
    rows.push({ name: c.name, figure: value, budget: c.maxNs, kind: 'max', unit: 'ns', ok: value !== undefined && value <= c.maxNs, why: c.why });
  }
  return rows;
}

/** The case ids a budget needs, so the gate can say which are missing. */
export function budgetCases(budget) {
  return [...new Set([...budget.ratios.flatMap((r) => [r.slower, r.faster]), ...budget.ceilings.map((c) => c.case)])];
}

/**
 * The median over cases of the round-to-round spread (lib/stats.mjs spread): a machine-wide
 * noise figure. Above ~10% the host was busy (other
 * processes, or other virtual machines on the same host, which no process list shows).
 */
export function noise(results) {
  const spreads = results.cases.filter((c) => !c.skipped && c.rounds?.length > 1).map((c) => c.spread);
  if (spreads.length === 0) return undefined;
  spreads.sort((a, b) => a - b);
  return spreads[Math.floor(spreads.length / 2)];
}

export const NOISY = 0.1;
