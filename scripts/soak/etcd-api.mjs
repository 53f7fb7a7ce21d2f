// One API process on a simulated host of the multi-host soak (scripts/soak/hosts.mjs), also used
// by `npm run cluster:latency`: an EtcdKeyOwner behind otpCheck on a node:http server on
// 127.0.0.1. argv[2]: the owner's options as JSON. It tells the parent its port, every key it
// receives or publishes (the key id only, with the time in ms to a microsecond, taken at once),
// every `error` event's message (no event holds a secret), and once a second how many codes its
// guard refused. It answers 'status' and 'rotate'.
import { createServer } from 'node:http';

import { EtcdKeyOwner } from 'totp-handshake';
import { otpCheck } from 'totp-handshake/http';

const now = () => performance.timeOrigin + performance.now();
const options = JSON.parse(process.argv[2]);
const refused = {};

const owner = await EtcdKeyOwner.start({
  ...options,
  onEvent: (event) => {
    const t = now();
    if (event.type === 'load' && event.keyId !== undefined && /holds key/.test(event.message ?? '')) process.send({ type: 'load', keyId: event.keyId, t });
    if (event.type === 'rotate') process.send({ type: 'rotate', keyId: event.keyId, t });
    if (event.type === 'error') process.send({ type: 'owner-error', reason: event.reason, message: event.message });
  },
});

// As in the single-host soak: on loopback every client shares 127.0.0.1, so the per-client count
// is keyed by the client process; the per-listener budget counts them all.
const checkOtp = otpCheck({
  owner,
  clientKey: (req) => req.headers['x-soak-client'],
  onEvent: (event) => {
    if (event.ok === false) refused[event.reason] = (refused[event.reason] ?? 0) + 1;
  },
});
const server = createServer((req, res) => {
  if (checkOtp(req, res)) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
});

function stop() {
  clearInterval(ticker);
  server.close();
  server.closeAllConnections();
  owner.close().then(() => process.send({ type: 'stopped', refused }, () => process.exit(0)));
}

const ticker = setInterval(() => process.send({ type: 'refused', refused }), 1000);
process.on('message', (message) => {
  if (message === 'stop') stop();
  if (message === 'status') process.send({ type: 'status', isRotator: owner.isRotator, keyId: owner.keyId });
  if (message === 'rotate') {
    const t = now();
    owner.rotate('cluster:latency').then(
      () => process.send({ type: 'rotated', ok: true, t }),
      (error) => process.send({ type: 'rotated', ok: false, t, message: error.message }),
    );
  }
});
process.on('disconnect', () => process.exit(1));
process.on('SIGINT', () => {});
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
