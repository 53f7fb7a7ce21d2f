// One host's mirror in the multi-host soak (scripts/soak/hosts.mjs) and `npm run cluster:latency`:
// an EtcdKeyMirror writing the host's key file. argv[2]: its options as JSON. It tells the parent
// each key it receives and each it writes (ids only, with the time in ms to a microsecond), and
// every `error` event's message.
import { EtcdKeyMirror } from 'totp-handshake';

const now = () => performance.timeOrigin + performance.now();
const mirror = await EtcdKeyMirror.start({
  ...JSON.parse(process.argv[2]),
  onEvent: (event) => {
    const t = now();
    if (event.type === 'load' && event.keyId !== undefined && /holds key/.test(event.message ?? '')) process.send({ type: 'load', keyId: event.keyId, t });
    if (event.type === 'rotate') process.send({ type: 'wrote', keyId: event.keyId, t });
    if (event.type === 'error') process.send({ type: 'mirror-error', reason: event.reason, message: event.message });
  },
});
process.on('message', (message) => {
  if (message === 'stop') {
    mirror.close();
    process.send({ type: 'stopped' }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(1));
process.on('SIGINT', () => {});
// The mirror's timers and watch do not hold a process open by themselves.
setInterval(() => undefined, 2 ** 30);
process.send({ type: 'ready' });
