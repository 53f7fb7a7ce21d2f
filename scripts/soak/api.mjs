// One API process of the soak (scripts/soak.mjs): a KeyOwner on the shared key file, rotating it
// every 2 s (with codes of a 2 s period), behind otpCheck on a real node:http server on 127.0.0.1. It tells the parent its
// port, every key it writes (the key id only, a one-way fingerprint) and, once a second, how many
// codes its guard refused (each one is retried by otpFetch, so these are not yet rejections).
import { createServer } from 'node:http';

import { KeyOwner } from 'totp-handshake';
import { otpCheck } from 'totp-handshake/http';

const [file, rotateEvery, grace, period] = process.argv.slice(2);
const refused = {};

const owner = await KeyOwner.start({
  path: file,
  rotateEvery: Number(rotateEvery),
  totp: { period: Number(period) },
  // Unset: the library's default (two periods, 60 s), which is what the soak is meant to prove.
  grace: grace === '' ? undefined : Number(grace),
  onEvent: (event) => {
    if (event.type === 'rotate') process.send({ type: 'rotate', keyId: event.keyId });
    // A malformed key file, a failed write: never expected, reported so the parent fails the run.
    if (event.type === 'error') process.send({ type: 'owner-error', reason: event.reason ?? 'io' });
  },
});

const checkOtp = otpCheck({
  owner,
  // On loopback every client shares 127.0.0.1, so by address the per-client count would add all
  // eight clients' failures together; in a deployment each thin client has its own address. Keying
  // it by the client process keeps the default maxFailures (20 per client per step) meaning what it
  // means in production. The per-listener budget (maxFailuresTotal, 20 per step) counts them all
  // whatever the key, as it must; a 429 here would be a real finding.
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
process.on('message', (message) => message === 'stop' && stop());
// The parent went away (killed, crashed): nothing left to report to.
process.on('disconnect', () => process.exit(1));
// Ctrl-C reaches the whole process group: the parent decides when this process stops.
process.on('SIGINT', () => {});

server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
