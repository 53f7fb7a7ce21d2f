#!/usr/bin/env node
// The API side of the handshake, on plain node:http: it owns the shared key file (creates it,
// rotates it, deletes it on shutdown) and accepts POST/GET /secure only with a valid X-OTP.
// GET /health stays open for container health checks.
//
// Configured through the environment, as the Docker image and the tests run it:
//   OTP_KEY_PATH      the shared key file      (default /opt/shared/otp.key)
//   OTP_ROTATE_EVERY  ms between rotations     (default 3600000; 0 = never)
//   HOST, PORT        where to listen          (default 0.0.0.0:8080; PORT=0 picks a free port)
import { createServer } from 'node:http';

import { KeyOwner } from 'totp-handshake';
import { otpCheck } from 'totp-handshake/http';

const path = process.env.OTP_KEY_PATH || '/opt/shared/otp.key';
const rotateEvery = Number(process.env.OTP_ROTATE_EVERY || 3_600_000);
const host = process.env.HOST || '0.0.0.0';
const port = Number(process.env.PORT || 8080);

// Audit events carry key fingerprints and outcomes, never a secret or a code: safe to log as is.
const log = (event) => console.log(JSON.stringify(event));

const owner = await KeyOwner.start({ path, rotateEvery, removeOnClose: true, onEvent: log });
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

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname === '/health') return json(res, 200, { ok: true });
  if (pathname !== '/secure') return json(res, 404, { error: 'Not found' });
  if (checkOtp(req, res)) json(res, 200, { success: true });
});

server.listen(port, host, () => {
  const address = server.address();
  console.log(`listening on http://${address.address}:${address.port}`);
});

// Docker and Kubernetes stop a container with SIGTERM: close the server, then remove the key.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close();
    server.closeIdleConnections();
    owner.close().then(
      () => process.exit(0),
      (error) => {
        console.error(`api-server: ${error.message}`);
        process.exit(1);
      },
    );
  });
}
