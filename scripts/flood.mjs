#!/usr/bin/env node
// Lockout, measured (SECURITY.md, "The recommended deployment"): another user floods the API with
// junk codes, as fast as it can, while legitimate clients call it over the Unix socket in the key's
// directory. Run as root (it starts the attacker as another user):
//
//   npm run flood -- [--seconds 60] [--clients 4] [--connections 64]
//
// The API is examples/api-server.mjs, serving one guarded handler on 127.0.0.1 (TCP) and on
// <key dir>/api.sock, in a fresh 0700 directory. The attacker runs as uid 65534 with no access
// to that directory: it sends wrong codes to the TCP port as fast as it can, over `--connections`
// keep-alive connections, each moving to a fresh loopback address every 50 requests, and keeps
// trying to connect to the socket. The clients run as the
// API's user: `--clients` processes on the socket, each calling it in a loop with otpFetch, plus
// one on TCP to show what the flood does there. The last line is a JSON summary; the run fails
// (exit 1) if any request on the socket was refused.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const ATTACKER_UID = 65534;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '4' },
    connections: { type: 'string', default: '64' },
  },
});
const seconds = Number(values.seconds);
const clientCount = Number(values.clients);
const connections = Number(values.connections);
if (process.geteuid?.() !== 0) {
  console.error('flood: run as root: the attacker is started as another user (uid 65534)');
  process.exit(2);
}

function lastJson(child, name) {
  return new Promise((resolve, reject) => {
    let last;
    let stderr = '';
    createInterface({ input: child.stdout }).on('line', (line) => (last = line));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => (code === 0 && last ? resolve(JSON.parse(last)) : reject(new Error(`the ${name} failed (${code}): ${stderr}`))));
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'otp-flood-'));
// The attacker's script lives outside the key directory, readable by everyone.
const attackerDir = mkdtempSync(path.join(tmpdir(), 'otp-flood-attacker-'));
chmodSync(attackerDir, 0o755);
const attackerScript = path.join(attackerDir, 'attacker.mjs');
copyFileSync(path.join(ROOT, 'scripts/flood/attacker.mjs'), attackerScript);
chmodSync(attackerScript, 0o644);
const clientScript = path.join(ROOT, 'scripts/flood/client.mjs');
const keyPath = path.join(dir, 'otp.key');

const api = spawn(process.execPath, [path.join(ROOT, 'examples/api-server.mjs')], {
  cwd: ROOT,
  env: { ...process.env, OTP_KEY_PATH: keyPath, OTP_SOCKET: 'api.sock', HOST: '127.0.0.1', PORT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const apiEvents = { throttle: 0, refused: 0 };
try {
  const listening = await new Promise((resolve, reject) => {
    const found = {};
    createInterface({ input: api.stdout }).on('line', (line) => {
      const tcp = /^listening on http:\/\/[^\s]+:(\d+)$/.exec(line);
      const unix = /^listening on unix:(.+)$/.exec(line);
      if (tcp) found.port = Number(tcp[1]);
      if (unix) found.socketPath = unix[1];
      if (line.startsWith('{')) {
        const event = JSON.parse(line);
        if (event.type === 'throttle') apiEvents.throttle++;
        if (event.type === 'verify' && event.ok === false) apiEvents.refused++;
      }
      if (found.port && found.socketPath) resolve(found);
    });
    api.on('exit', (code) => reject(new Error(`the API exited (${code})`)));
  });
  const until = Date.now() + seconds * 1000;
  const attacker = spawn(process.execPath, [attackerScript, String(listening.port), listening.socketPath, String(connections), String(until)], {
    cwd: attackerDir,
    uid: ATTACKER_UID,
    gid: ATTACKER_UID,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const start = (target) => spawn(process.execPath, [clientScript, keyPath, target, String(until)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const socketClients = Array.from({ length: clientCount }, () => lastJson(start(listening.socketPath), 'socket client'));
  const tcpClient = lastJson(start(`http://127.0.0.1:${listening.port}/secure`), 'TCP client');
  const [attack, onSocket, onTcp] = await Promise.all([lastJson(attacker, 'attacker'), Promise.all(socketClients), tcpClient]);

  const socketTotals = onSocket.reduce(
    (sum, counts) => ({ requests: sum.requests + counts.requests, ok: sum.ok + counts.ok, refused: sum.refused + Object.values(counts.refused).reduce((a, b) => a + b, 0) }),
    { requests: 0, ok: 0, refused: 0 },
  );
  const summary = {
    seconds,
    attacker: { uid: ATTACKER_UID, tcpRequests: attack.requests, addresses: attack.addresses, perSecond: Math.round(attack.requests / seconds), statuses: attack.statuses, errors: attack.errors, socketAttempts: attack.socketAttempts, socketRefusals: attack.socketRefusals },
    socketClients: { processes: clientCount, ...socketTotals },
    tcpClient: { requests: onTcp.requests, ok: onTcp.ok, refused: onTcp.refused },
    api: { wrongCodesVerified: apiEvents.refused, throttleEvents: apiEvents.throttle },
  };
  console.log(`flood: another user sent ${attack.requests} junk requests from ${attack.addresses} loopback addresses in ${seconds} s (${summary.attacker.perSecond}/s) and ${attack.socketAttempts} connection attempts to the socket (${JSON.stringify(attack.socketRefusals)}); the socket's clients made ${socketTotals.requests} requests, ${socketTotals.refused} refused; a client on TCP made ${onTcp.requests}, ${onTcp.requests - onTcp.ok} refused`);
  console.log(JSON.stringify(summary));
  process.exitCode = socketTotals.refused === 0 && socketTotals.requests > 0 && attack.requests > 0 ? 0 : 1;
} finally {
  api.kill('SIGTERM');
  await new Promise((resolve) => (api.exitCode !== null ? resolve() : api.once('exit', resolve)));
  rmSync(dir, { recursive: true, force: true });
  rmSync(attackerDir, { recursive: true, force: true });
}
