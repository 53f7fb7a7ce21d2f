// One API process of the soak (scripts/soak.mjs): a KeyOwner on the shared key file, rotating it
// every 2 s (with codes of a 2 s period), behind otpCheck on a real node:http server on 127.0.0.1
// (scripts/soak/guarded.mjs). It tells the parent every key it writes (the key id only, a one-way
// fingerprint), besides what the server reports.
import { KeyOwner } from 'totp-handshake';

import { serveGuarded } from './guarded.mjs';

const [file, rotateEvery, grace, period] = process.argv.slice(2);

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

serveGuarded(owner);
