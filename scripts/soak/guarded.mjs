// The server of a soak's API process (scripts/soak/api.mjs on one host, scripts/soak/etcd-api.mjs
// across hosts): `owner` behind otpCheck on a node:http server on 127.0.0.1. It tells the parent
// its port and, once a second, how many codes its guard refused (each one is retried by otpFetch,
// so these are not yet rejections); 'stop' closes the server and the owner, then reports
// 'stopped'. `onMessage` gets the parent's other messages.
import { createServer } from 'node:http';

import { otpCheck } from 'totp-handshake/http';

export function serveGuarded(owner, onMessage = () => {}) {
  const refused = {};
  const checkOtp = otpCheck({
    owner,
    // On loopback every client shares 127.0.0.1, so by address the per-client count would add all
    // the clients' failures together; in a deployment each thin client has its own address. Keying
    // it by the client process keeps the default maxFailures (20 per client per step) meaning what
    // it means in production. The per-listener budget (maxFailuresTotal, 20 per step) counts them
    // all whatever the key, as it must; a 429 here would be a real finding.
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
  process.on('message', (message) => (message === 'stop' ? stop() : onMessage(message)));
  // The parent went away (killed, crashed): nothing left to report to.
  process.on('disconnect', () => process.exit(1));
  // Ctrl-C reaches the whole process group: the parent decides when this process stops.
  process.on('SIGINT', () => {});

  server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
}
