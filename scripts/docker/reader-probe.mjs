// Runs inside a container of the example's API image (Node and this package, as built by
// api.Dockerfile), with the shared volume mounted read-only, fed on stdin by scenario.mjs:
//   docker run -i ... -v <volume>:/opt/shared:ro totp-handshake-example-api node --input-type=module -
// It calls API_URL over TCP, or over the Unix socket API_SOCKET when that is set (the URL then
// gives the path only), with node:http: one request per code, never sent again after a refusal.
//
// A KeyReader with deleteAfterRead: true cannot claim (rename) the key file on a read-only mount.
// It should say so in one `error` event, leave the file in place, and go on following it through
// the owner's rotations. The probe calls the API with the reader's codes until it has seen at
// least MIN_KEYS keys and made MIN_REQUESTS requests (or DEADLINE_MS passed), then prints one JSON
// line: counts, response statuses, key fingerprints seen and the events' messages. The library's
// events carry fingerprints and messages only, never a secret or a code; scenario.mjs checks this
// output for the secrets all the same before printing it.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { KeyReader } from 'totp-handshake';

const MIN_KEYS = 3;
const MIN_REQUESTS = 40;
const DEADLINE_MS = 40_000;
const PAUSE_MS = 100;

const keyPath = process.env.OTP_KEY_PATH;
const url = process.env.API_URL;
const socketPath = process.env.API_SOCKET || undefined;

/** POSTs with `headers`; resolves to the response's status. */
function post(headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, socketPath, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${socketPath ?? url} in 10 s`)));
    req.once('error', reject);
    req.end();
  });
}

const events = [];
const reader = await KeyReader.open({ path: keyPath, deleteAfterRead: true, onEvent: (event) => events.push(event) });
const keyIds = new Set([reader.keyId]);
const statuses = {};
let requests = 0;
const deadline = Date.now() + DEADLINE_MS;
while (Date.now() < deadline && (keyIds.size < MIN_KEYS || requests < MIN_REQUESTS)) {
  const status = await post(reader.headers());
  statuses[status] = (statuses[status] ?? 0) + 1;
  requests += 1;
  keyIds.add(reader.keyId);
  await sleep(PAUSE_MS);
}
reader.close();
const summary = {
  requests,
  statuses,
  keys: keyIds.size,
  loads: events.filter(({ type }) => type === 'load').length,
  errors: events.filter(({ type }) => type === 'error').map(({ message, reason }) => ({ message, reason })),
  fileLeft: existsSync(keyPath),
};
console.log(JSON.stringify(summary));
