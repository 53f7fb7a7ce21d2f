// A node:http hello-world server in one of three modes, for the HTTP suite and `npm run profile`:
//   none   no check
//   guard  totp-handshake's otpCheck (X-OTP), with a KeyOwner writing the key file at --key
//   jwt    a fast-jwt HS256 check of `Authorization: Bearer <token>`, verifier made once, no cache
//
//   node bench/http/server.mjs --mode guard --key /tmp/dir/otp.key [--port 0]
//
// Started with an IPC channel (fork), it sends { port } once listening and answers
// { type: 'cpu' } with its CPU time so far, so the suite can report server CPU per request, and
// { type: 'probe', on } by timing (while on) the check inside each request: the guard's own cost
// on real requests, including node building req.headers on the first header read. In 'none' mode
// the probe times an empty interval, the timer's own cost, which the suite subtracts.
// It stops on SIGTERM/SIGINT or when the parent disconnects (the key owner removes the key file).
import { createServer } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { JWT_SECRET } from '../lib/fixtures.mjs';
import { loadHttpGuard, loadInternals, loadLibrary } from '../lib/pkg.mjs';

const { values } = parseArgs({
  options: { mode: { type: 'string', default: 'guard' }, key: { type: 'string' }, port: { type: 'string', default: '0' } },
});

// run.mjs --portable: the portable C++ cores, as on a CPU without SHA instructions.
if (process.env.TOTP_BENCH_PORTABLE === '1') loadInternals().nativeEngine?.useCpuExtensions(false);

const BODY = 'hello world';
const HEADERS = { 'content-type': 'text/plain' };
const hello = (res) => res.writeHead(200, HEADERS).end(BODY);

let close = async () => {};
// check(req, res) -> boolean: false when it has answered the request itself.
let check;
switch (values.mode) {
  case 'none':
    check = () => true;
    break;
  case 'guard': {
    if (values.key === undefined) throw new Error('--mode guard needs --key PATH');
    const { KeyOwner } = loadLibrary();
    const { otpCheck } = loadHttpGuard();
    const owner = await KeyOwner.start({ path: values.key, removeOnClose: true });
    check = otpCheck({ owner });
    close = () => owner.close();
    break;
  }
  case 'jwt': {
    const { createVerifier } = await import('fast-jwt');
    const verifyToken = createVerifier({ key: JWT_SECRET, algorithms: ['HS256'], cache: false });
    const UNAUTHORIZED = JSON.stringify({ error: 'Invalid token' });
    check = (req, res) => {
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
    break;
  }
  default:
    throw new Error(`unknown --mode ${values.mode}: none, guard or jwt`);
}

const PROBE_SIZE = 1 << 16;
const probeNs = new Float64Array(PROBE_SIZE);
let probing = false;
let probed = 0;

function handler(req, res) {
  if (probing) {
    const t0 = performance.now();
    const ok = check(req, res);
    probeNs[probed++ & (PROBE_SIZE - 1)] = (performance.now() - t0) * 1e6;
    if (ok) hello(res);
    return;
  }
  if (!check(req, res)) return;
  hello(res);
}

function probeSummary() {
  const n = Math.min(probed, PROBE_SIZE);
  const sorted = probeNs.slice(0, n).sort();
  const at = (q) => (n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.floor(q * n))]);
  return { count: probed, medianNs: at(0.5), p99Ns: at(0.99) };
}

const server = createServer(handler);
server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address();
  if (process.send) process.send({ type: 'listening', port });
  else console.log(`listening on http://127.0.0.1:${port} (mode ${values.mode})`);
});

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
    const summary = probeSummary();
    probing = message.on === true;
    probed = 0;
    process.send({ type: 'probe', id: message.id, ...summary });
  }
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  await close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
