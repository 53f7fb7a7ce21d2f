// One API process on a simulated host of the multi-host soak (scripts/soak/hosts.mjs), also used
// by `npm run cluster:latency`: an EtcdKeyOwner behind otpCheck on a node:http server on
// 127.0.0.1 (scripts/soak/guarded.mjs). argv[2]: the owner's options as JSON. It tells the parent
// every key it receives or publishes (the key id only, with the time in ms to a microsecond,
// taken at once) and every `error` event's message (no event holds a secret), besides what the
// server reports. It answers 'status' and 'rotate'.
import { EtcdKeyOwner } from 'totp-handshake';

import { serveGuarded } from './guarded.mjs';

const now = () => performance.timeOrigin + performance.now();

const owner = await EtcdKeyOwner.start({
  ...JSON.parse(process.argv[2]),
  onEvent: (event) => {
    const t = now();
    if (event.type === 'load' && event.keyId !== undefined && /holds key/.test(event.message ?? '')) process.send({ type: 'load', keyId: event.keyId, t });
    if (event.type === 'rotate') process.send({ type: 'rotate', keyId: event.keyId, t });
    if (event.type === 'error') process.send({ type: 'owner-error', reason: event.reason, message: event.message });
  },
});

serveGuarded(owner, (message) => {
  if (message === 'status') process.send({ type: 'status', isRotator: owner.isRotator, keyId: owner.keyId });
  if (message === 'rotate') {
    const t = now();
    owner.rotate('cluster:latency').then(
      () => process.send({ type: 'rotated', ok: true, t }),
      (error) => process.send({ type: 'rotated', ok: false, t, message: error.message }),
    );
  }
});
