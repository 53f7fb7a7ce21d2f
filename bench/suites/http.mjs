// HTTP: what the guard costs a real request. Three node:http hello-world servers (no check,
// otpCheck, fast-jwt), all in one server process (bench/http/server.mjs says why), loaded in
// turn by autocannon from this process over 127.0.0.1. Runs are interleaved (none, guard, jwt,
// then the next round in a rotated order) so drift on a shared machine spreads over all three.
//
// Reported per mode: req/s (total requests / elapsed seconds; autocannon's own latency
// percentiles are whole milliseconds, too coarse here), the server's CPU time per request read
// from the server process (it does not depend on whether autocannon or the server is the
// bottleneck on a 2-core machine), and the check's own time inside each request (a probe run).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { JWT, JWT_FORGED } from '../lib/fixtures.mjs';
import { loadLibrary } from '../lib/pkg.mjs';
import { median } from '../lib/stats.mjs';

const SERVER = fileURLToPath(new URL('../http/server.mjs', import.meta.url));

export const MODES = [
  { mode: 'none', label: 'node:http hello world, no check' },
  { mode: 'guard', label: 'with the totp-handshake guard (otpCheck)' },
  { mode: 'jwt', label: 'with a fast-jwt HS256 check' },
];

async function startServers(keyPath) {
  const modes = MODES.map((m) => m.mode).join(',');
  const child = fork(SERVER, ['--modes', modes, '--key', keyPath], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the server process exited (code ${code}) before listening`);
  });
  const listening = new Promise((resolve) => {
    child.on('message', (message) => {
      if (message?.type === 'listening') resolve(message.ports);
    });
  });
  const ports = await Promise.race([listening, exited]);
  exited.catch(() => {});
  let nextId = 0;
  const ask = (type, extra = {}) =>
    new Promise((resolve) => {
      const id = ++nextId;
      const onMessage = (message) => {
        if (message?.type === type && message.id === id) {
          child.off('message', onMessage);
          resolve(message);
        }
      };
      child.on('message', onMessage);
      child.send({ type, id, ...extra });
    });
  /** The process's CPU time and GC time so far, in µs: runs load one mode at a time. */
  const cpu = async () => {
    const { micros, gcMicros } = await ask('cpu');
    return { micros, gcMicros };
  };
  const servers = MODES.map(({ mode }) => ({
    mode,
    url: `http://127.0.0.1:${ports[mode]}/`,
    cpu,
    /** Starts (on) or stops timing the check in each request; returns what was timed so far. */
    probe: (on) => ask('probe', { mode, on }),
  }));
  return { child, servers };
}

function get(url, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function expectResponse(server, headers, status, what) {
  const res = await get(server.url, headers);
  if (res.status !== status || (status === 200 && res.body !== 'hello world')) {
    throw new Error(`HTTP suite, ${server.mode} server: ${what} got ${res.status} ${JSON.stringify(res.body)}, expected ${status}`);
  }
}

/** A well-formed code outside the ±1 step window of the reader's current key. */
function wrongCode(reader) {
  const now = Date.now();
  const window = new Set([reader.code(now - 30_000), reader.code(now), reader.code(now + 30_000)]);
  let value = (Number(reader.code(now)) + 500_000) % 1_000_000;
  while (window.has(String(value).padStart(6, '0'))) value = (value + 1) % 1_000_000;
  return String(value).padStart(6, '0');
}

async function load(autocannon, server, headers, { duration, connections }) {
  const cpuBefore = await server.cpu();
  const result = await autocannon({ url: server.url, connections, pipelining: 1, duration, headers });
  const cpuAfter = await server.cpu();
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) {
    throw new Error(
      `HTTP suite, ${server.mode} server: ${result.non2xx} non-2xx responses, ${result.errors} errors, ` +
        `${result.timeouts} timeouts under load (every request must be accepted)`,
    );
  }
  const requests = result.requests.total;
  const seconds = (result.finish - result.start) / 1000;
  return {
    requests,
    seconds,
    rps: requests / seconds,
    serverCpuUsPerReq: (cpuAfter.micros - cpuBefore.micros) / requests,
    serverGcUsPerReq: (cpuAfter.gcMicros - cpuBefore.gcMicros) / requests,
    serverCpuShare: (cpuAfter.micros - cpuBefore.micros) / 1e6 / seconds,
  };
}

/**
 * Runs the suite. `settings`: { rounds, duration (s), warmup (s), connections }.
 * Returns { settings, modes: [{ mode, label, runs, medianRps, medianCpuUsPerReq }], ... }.
 */
export async function runHttpSuite(settings, log) {
  const { default: autocannon } = await import('autocannon');
  const { KeyReader } = loadLibrary();
  const dir = mkdtempSync(join(tmpdir(), 'totp-handshake-bench-'));
  const keyPath = join(dir, 'otp.key');
  let child;
  let reader;
  try {
    const started = await startServers(keyPath);
    child = started.child;
    const { servers } = started;
    const byMode = Object.fromEntries(servers.map((s) => [s.mode, s]));
    // The thin-client side, as a real client would get its code.
    reader = await KeyReader.open({ path: keyPath, wait: 10_000 });
    // Every server gets the same request, X-OTP and Authorization both, so that the three
    // differ only in what the server does with it.
    const requestHeaders = () => ({ ...reader.headers(), authorization: `Bearer ${JWT}` });

    // Correctness first: each check lets the genuine request through and refuses the others.
    await expectResponse(byMode.none, {}, 200, 'a plain request');
    await expectResponse(byMode.guard, {}, 401, 'a request without X-OTP');
    await expectResponse(byMode.guard, { 'x-otp': wrongCode(reader) }, 401, 'a wrong code');
    await expectResponse(byMode.guard, reader.headers(), 200, 'the current code');
    await expectResponse(byMode.jwt, {}, 401, 'a request without a token');
    await expectResponse(byMode.jwt, { authorization: `Bearer ${JWT_FORGED}` }, 401, 'a forged token');
    await expectResponse(byMode.jwt, { authorization: `Bearer ${JWT}` }, 200, 'a genuine token');

    for (const server of servers) {
      log(`http: warming up ${server.mode} (${settings.warmup} s)`);
      await load(autocannon, server, requestHeaders(), { duration: settings.warmup, connections: settings.connections });
    }
    const runs = Object.fromEntries(MODES.map(({ mode }) => [mode, []]));
    for (let round = 0; round < settings.rounds; round++) {
      for (let j = 0; j < MODES.length; j++) {
        const { mode } = MODES[(j + round) % MODES.length];
        // A code read now stays valid for this whole run: window 1 accepts it until the end of
        // the next step, at least 30 s away.
        const run = await load(autocannon, byMode[mode], requestHeaders(), settings);
        runs[mode].push(run);
        log(`http: round ${round + 1}/${settings.rounds} ${mode.padEnd(5)} ${Math.round(run.rps)} req/s, server ${run.serverCpuUsPerReq.toFixed(1)} µs CPU/req (GC ${run.serverGcUsPerReq.toFixed(2)})`);
      }
    }
    // The probe: one more run per server with the check timed inside each request (the timer
    // itself, measured in the no-check server, is subtracted).
    const probes = {};
    for (const server of servers) {
      await server.probe(true);
      await load(autocannon, server, requestHeaders(), settings);
      probes[server.mode] = await server.probe(false);
    }
    log(`http: probe: check in handler ${MODES.map(({ mode }) => `${mode} ${probes[mode].medianNs.toFixed(0)} ns`).join(', ')} (timer included)`);

    const modes = MODES.map(({ mode, label }) => ({
      mode,
      label,
      runs: runs[mode],
      medianRps: median(runs[mode].map((r) => r.rps)),
      medianCpuUsPerReq: median(runs[mode].map((r) => r.serverCpuUsPerReq)),
      medianGcUsPerReq: median(runs[mode].map((r) => r.serverGcUsPerReq)),
      medianCpuShare: median(runs[mode].map((r) => r.serverCpuShare)),
    }));
    // Costs against the no-check server, paired by round (the runs of one round are seconds
    // apart, so load from other processes affects both alike) and summarised by their median.
    const none = runs.none;
    for (const m of modes) {
      const own = runs[m.mode];
      m.costPct = median(own.map((r, i) => ((none[i].rps - r.rps) / none[i].rps) * 100));
      m.extraCpuUsPerReq = median(own.map((r, i) => r.serverCpuUsPerReq - none[i].serverCpuUsPerReq));
      m.cpuCostPct = median(own.map((r, i) => ((r.serverCpuUsPerReq - none[i].serverCpuUsPerReq) / r.serverCpuUsPerReq) * 100));
      const timer = probes.none.medianNs;
      m.probe = { requests: probes[m.mode].count, medianNs: probes[m.mode].medianNs - timer, p99Ns: probes[m.mode].p99Ns - timer, timerNs: timer };
      // What the check would cost in req/s if the server were CPU-bound: its time in the
      // handler against the no-check server's CPU per request.
      m.probeCostPct = (m.probe.medianNs / (m.probe.medianNs + modes[0].medianCpuUsPerReq * 1000)) * 100;
    }
    return { settings, modes };
  } finally {
    reader?.close();
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
