// An EtcdKeyOwner in a process of its own, for the tests that kill an owner (test/cluster-faults.test.ts).
// argv[2]: the owner's options as JSON. It sends {type:'ready'}, each audit event as {type:'event'},
// and answers 'status' with {type:'status', isRotator, keyId}. Nothing it sends holds a secret.
import { EtcdKeyOwner } from 'totp-handshake';

const options = JSON.parse(process.argv[2]);
const owner = await EtcdKeyOwner.start({ ...options, onEvent: (event) => process.send({ type: 'event', event }) });
process.on('message', (message) => {
  if (message === 'status') process.send({ type: 'status', isRotator: owner.isRotator, keyId: owner.keyId });
  if (message === 'close') void owner.close().then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));
process.send({ type: 'ready' });
