// The attacker of scripts/flood.mjs: a user who cannot open the key directory. It sends wrong
// codes to the API's TCP port as fast as it can: `connections` loops, each on a keep-alive
// connection from a loopback address of its own, which it swaps for a fresh address every 50
// requests (so the guards see ever-new clients); and it keeps trying to connect to the Unix
// socket. Only node:http and node:net: it runs from a world-readable copy, as a user who can
// read nothing of the checkout. Prints its counts as JSON.
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

const [port, socketPath, connections, until] = process.argv.slice(2).map((value, i) => (i === 1 ? value : Number(value)));
const counts = { requests: 0, addresses: 0, statuses: {}, errors: 0, socketAttempts: 0, socketRefusals: {} };
const REQUESTS_PER_ADDRESS = 50;

function freshAddress() {
  const n = ++counts.addresses;
  return `127.${2 + ((n >> 16) & 0x3f)}.${(n >> 8) & 255}.${(n & 255) || 1}`;
}

function send(agent) {
  return new Promise((resolve) => {
    const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const req = request({ host: '127.0.0.1', port, path: '/secure', method: 'POST', agent, headers: { 'X-OTP': code } }, (res) => {
      counts.statuses[res.statusCode] = (counts.statuses[res.statusCode] ?? 0) + 1;
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => {
      counts.errors++;
      resolve();
    });
    counts.requests++;
    req.end();
  });
}

async function loop() {
  while (Date.now() < until) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: freshAddress() });
    for (let i = 0; i < REQUESTS_PER_ADDRESS && Date.now() < until; i++) await send(agent);
    agent.destroy();
  }
}

async function knock() {
  while (Date.now() < until) {
    counts.socketAttempts++;
    await new Promise((resolve) => {
      const socket = connect(socketPath);
      socket.on('connect', () => {
        counts.socketRefusals.connected = (counts.socketRefusals.connected ?? 0) + 1;
        socket.destroy();
        resolve();
      });
      socket.on('error', (error) => {
        counts.socketRefusals[error.code] = (counts.socketRefusals[error.code] ?? 0) + 1;
        resolve();
      });
    });
  }
}

await Promise.all([...Array.from({ length: connections }, loop), knock()]);
console.log(JSON.stringify(counts));
