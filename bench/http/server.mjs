// node:http hello-world servers for the HTTP suite and `npm run profile`, one per mode, all in
// this one process (each on its own port, with its own handler):
//   none   no check
//   guard  totp-handshake's otpCheck (X-OTP), with a KeyOwner writing the key file at --key
//   jwt    a fast-jwt HS256 check of `Authorization: Bearer <token>`, verifier made once, no cache
//
//   node bench/http/server.mjs --modes none,guard,jwt --key /tmp/dir/otp.key
//
// Why one process: the suite compares the modes' CPU per request, and with each mode in its own
// process the figures differed by more than the guard costs. Here the modes share the process,
// its placement on the CPUs, its libraries and its heap; only the request path differs. Runs
// load one port at a time, so the process's CPU time during a run belongs to that run's mode.
//
// Started with an IPC channel (fork), it sends { type: 'listening', ports } once every server
// listens, answers { type: 'cpu' } with its CPU and GC time so far, and { type: 'probe', mode, on }
// by timing (while on) the check inside each request of that mode: the guard's own cost on real
// requests. In 'none' mode the probe times an empty interval, the timer's own cost, which the
// suite subtracts. It stops on SIGTERM/SIGINT or when the parent disconnects (the key owner then
// removes the key file).
import { createServer } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { JWT_SECRET } from '../lib/fixtures.mjs';
import { loadHttpGuard, loadInternals, loadLibrary } from '../lib/pkg.mjs';

const { values } = parseArgs({
  options: { modes: { type: 'string', default: 'guard' }, key: { type: 'string' } },
});
const modes = values.modes.split(',').map((m) => m.trim());

// run.mjs --portable: the portable C++ cores, as on a CPU without SHA instructions.
if (process.env.TOTP_BENCH_PORTABLE === '1') loadInternals().nativeEngine?.useCpuExtensions(false);

const BODY = 'hello world';
const HEADERS = { 'content-type': 'text/plain' };
const hello = (res) => res.writeHead(200, HEADERS).end(BODY);

const closers = [];

/** check(req, res) -> boolean, false when it has answered the request itself. */
async function makeCheck(mode) {
  switch (mode) {
    case 'none':
      return () => true;
    case 'guard': {
      if (values.key === undefined) throw new Error('the guard mode needs --key PATH');
      const { KeyOwner } = loadLibrary();
      const { otpCheck } = loadHttpGuard();
      const owner = await KeyOwner.start({ path: values.key, removeOnClose: true });
      closers.push(() => owner.close());
      return otpCheck({ owner });
    }
    case 'jwt': {
      const { createVerifier } = await import('fast-jwt');
      const verifyToken = createVerifier({ key: JWT_SECRET, algorithms: ['HS256'], cache: false });
      const UNAUTHORIZED = JSON.stringify({ error: 'Invalid token' });
      return (req, res) => {
        const auth = req.headers.authorization;
        try {
          if (typeof auth !== 'string' || !auth.startsWith('Bearer ')) throw new Error('no token');
          verifyToken(auth.slice(7));
          return true;
        } catch {
          res.writeHead(401, { 'content-type': 'application/json' }).end(UNAUTHORIZED);
          return false;
        }
      };
    }
    default:
      throw new Error(`unknown mode ${JSON.stringify(mode)}: none, guard or jwt`);
  }
}

const PROBE_SIZE = 1 << 16;

/** A server for one mode, with its own handler (so no call site is shared between modes). */
async function startMode(mode) {
  const check = await makeCheck(mode);
  const probe = { on: false, count: 0, ns: new Float64Array(PROBE_SIZE) };
  function handler(req, res) {
    if (probe.on) {
      const t0 = performance.now();
      const ok = check(req, res);
      probe.ns[probe.count++ & (PROBE_SIZE - 1)] = (performance.now() - t0) * 1e6;
      if (ok) hello(res);
      return;
    }
    if (!check(req, res)) return;
    hello(res);
  }
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { mode, server, probe, port: server.address().port };
}

function probeSummary(probe) {
  const n = Math.min(probe.count, PROBE_SIZE);
  const sorted = probe.ns.slice(0, n).sort();
  const at = (q) => (n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.floor(q * n))]);
  return { count: probe.count, medianNs: at(0.5), p99Ns: at(0.99) };
}

const servers = new Map();
for (const mode of modes) servers.set(mode, await startMode(mode));
const ports = Object.fromEntries([...servers].map(([mode, s]) => [mode, s.port]));
if (process.send) process.send({ type: 'listening', ports });
else for (const [mode, port] of Object.entries(ports)) console.log(`${mode}: listening on http://127.0.0.1:${port}/`);

// Time spent in garbage collection, so the suite can tell a check's own cost from the GC its
// allocations cause later.
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

process.on('message', (message) => {
  if (message?.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send({ type: 'cpu', id: message.id, micros: user + system, gcMicros: gcMs * 1000 });
  } else if (message?.type === 'probe') {
    const { probe } = servers.get(message.mode);
    const summary = probeSummary(probe);
    probe.on = message.on === true;
    probe.count = 0;
    process.send({ type: 'probe', id: message.id, ...summary });
  }
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  for (const { server } of servers.values()) {
    server.close();
    server.closeAllConnections();
  }
  for (const close of closers) await close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
