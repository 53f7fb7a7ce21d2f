// The attacker of scripts/flood.mjs: a user who cannot open the key directory. It sends wrong
// codes to the API's TCP port from ever-new loopback addresses over many parallel connections,
// and keeps trying to connect to the Unix socket. Only node:http and node:net: it runs from a
// world-readable copy, as a user who can read nothing of the checkout. Prints its counts as JSON.
import { request } from 'node:http';
import { connect } from 'node:net';
const [port, socketPath, connections, until] = process.argv.slice(2).map((v, i) => (i === 1 ? v : Number(v)));
const counts = { requests: 0, statuses: {}, errors: 0, socketAttempts: 0, socketRefusals: {} };
let n = 0;
function address() {
  n++;
  return '127.' + (2 + ((n >> 16) & 0x3f)) + '.' + ((n >> 8) & 255) + '.' + ((n & 255) || 1);
}
function one() {
  if (Date.now() >= until) return Promise.resolve();
  return new Promise((resolve) => {
    const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const req = request({ host: '127.0.0.1', port, path: '/secure', method: 'POST', localAddress: address(), agent: false, headers: { 'X-OTP': code } }, (res) => {
      counts.statuses[res.statusCode] = (counts.statuses[res.statusCode] ?? 0) + 1;
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => { counts.errors++; resolve(); });
    counts.requests++;
    req.end();
  }).then(one);
}
function knock() {
  if (Date.now() >= until) return Promise.resolve();
  return new Promise((resolve) => {
    counts.socketAttempts++;
    const socket = connect(socketPath);
    socket.on('connect', () => { counts.socketRefusals.connected = (counts.socketRefusals.connected ?? 0) + 1; socket.destroy(); resolve(); });
    socket.on('error', (e) => { counts.socketRefusals[e.code] = (counts.socketRefusals[e.code] ?? 0) + 1; resolve(); });
  }).then(knock);
}
await Promise.all([...Array.from({ length: connections }, one), knock()]);
console.log(JSON.stringify(counts));
