#!/usr/bin/env node
// The API side of the handshake, on plain node:http: it owns the shared key file (creates it,
// rotates it, deletes it on shutdown) and accepts POST/GET /secure only with a valid X-OTP.
// GET /health stays open for container health checks.
//
// Configured through the environment, as the Docker image and the tests run it:
//   OTP_KEY_PATH      the shared key file      (default /opt/shared/otp.key)
//   OTP_ROTATE_EVERY  ms between rotations     (default 3600000; 0 = never)
//   OTP_DIGITS, OTP_ALGORITHM, OTP_PERIOD      the codes (default 6, SHA1, 30 s; any other
//                     choice makes the key file an otpauth URI, which the clients all read)
//   OTP_SOCKET        also serve on this Unix socket in the key's directory (e.g. api.sock):
//                     only processes that may read the key can connect to it
//   HOST, PORT        where to listen on TCP   (default 0.0.0.0:8080; PORT=0 picks a free
//                     port; PORT=none serves on the socket alone)
import { createServer } from 'node:http';

import { KeyOwner, listenOnKeySocket } from 'totp-handshake';
import { otpCheck } from 'totp-handshake/http';

const env = process.env;
const path = env.OTP_KEY_PATH || '/opt/shared/otp.key';
const rotateEvery = Number(env.OTP_ROTATE_EVERY || 3_600_000);
const totp = {
  ...(env.OTP_DIGITS && { digits: Number(env.OTP_DIGITS) }),
  ...(env.OTP_ALGORITHM && { algorithm: env.OTP_ALGORITHM }),
  ...(env.OTP_PERIOD && { period: Number(env.OTP_PERIOD) }),
};
const host = env.HOST || '0.0.0.0';
const port = env.PORT === 'none' ? undefined : Number(env.PORT || 8080);

// Audit events carry key fingerprints and outcomes, never a secret or a code: safe to log as is.
const log = (event) => console.log(JSON.stringify(event));

const owner = await KeyOwner.start({ path, rotateEvery, totp, removeOnClose: true, onEvent: log });
// Successful checks are the steady state; log only refusals and throttling.
const checkOtp = otpCheck({
  owner,
  onEvent: (event) => {
    if (!event.ok) log(event);
  },
});

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function handle(req, res) {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname === '/health') return json(res, 200, { ok: true });
  if (pathname !== '/secure') return json(res, 404, { error: 'Not found' });
  if (checkOtp(req, res)) json(res, 200, { success: true });
}

// Docker and Kubernetes stop a container with SIGTERM: stop listening, finish the requests in
// flight, remove the key, and end the process (an owner's timers never keep it alive, but open
// connections would). Installed before the servers listen: until a handler exists, SIGTERM kills
// the process outright, and whoever waits for "listening" may send it at once.
const servers = [];
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    for (const server of servers) {
      server.close();
      server.closeIdleConnections();
    }
    try {
      await owner.close();
      process.exit(0);
    } catch (error) {
      console.error(`api-server: ${error.message}`);
      process.exit(1);
    }
  });
}

// The same handler on each listener; the guard counts failed codes per listener, so guesses
// sent to the TCP port cannot use up what the socket's clients are allowed.
if (port !== undefined) {
  const server = createServer(handle);
  servers.push(server);
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`listening on http://${address.address}:${address.port}`);
  });
}
if (env.OTP_SOCKET) {
  const server = createServer(handle);
  servers.push(server);
  console.log(`listening on unix:${await listenOnKeySocket(server, owner, { name: env.OTP_SOCKET })}`);
}

