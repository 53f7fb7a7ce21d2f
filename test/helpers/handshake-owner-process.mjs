// One of several owner processes sharing a key file. In a loop it reads the key the file holds
// right now (as a thin client would) and checks that key's current code against its own
// KeyOwner; it rotates when the parent says so and reports what it saw.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { KeyOwner } = require('../../dist/index.js');
const { parseKeyFile } = require('../../dist/handshake/keyfile.js');

// A rotateEvery shorter than the default 30 s period needs keys with a shorter period.
const [file, rotateEvery = '0', period = '30'] = process.argv.slice(2);
const totp = { period: Number(period) };
const fileKey = () => parseKeyFile(readFileSync(file, 'latin1'), file, totp).key;
const events = [];
const counts = { checks: 0, refused: 0, superseded: 0, unreadable: 0 };
const refusals = [];
let running = true;

const fileKeyId = () => {
  try {
    const key = fileKey();
    key.destroy();
    return key.id;
  } catch {
    return undefined;
  }
};

// A rotate event is emitted under the lock, so the file is still the one this owner wrote: its
// mtime is when the rotation happened, as the other owners judge it.
const record = (event) => events.push(event.type === 'rotate' ? { ...event, mtimeMs: statSync(file).mtimeMs } : event);
const owner = await KeyOwner.start({ path: file, rotateEvery: Number(rotateEvery), totp, onEvent: record });

function checkLoop() {
  for (let i = 0; i < 20; i++) {
    let key;
    try {
      key = fileKey();
    } catch {
      counts.unreadable++;
      continue;
    }
    const result = owner.check(key.generate());
    counts.checks++;
    // A refusal counts only if the file still holds that key: a key replaced between the read
    // and the check is no longer the file's.
    if (!result.ok && fileKeyId() === key.id) {
      counts.refused++;
      refusals.push({ fileKey: key.id, ...result });
    } else if (!result.ok) {
      counts.superseded++;
    }
    key.destroy();
  }
  if (running) setTimeout(checkLoop, 1);
}

process.on('message', async (message) => {
  if (message === 'rotate') {
    await owner.rotate('the parent asked');
    process.send({ type: 'rotated' });
  } else if (message === 'report') {
    process.send({ type: 'report', keyId: owner.keyId, counts, refusals, events });
  } else if (message === 'stop') {
    running = false;
    await owner.close();
    process.send({ type: 'stopped' }, () => process.exit(0));
  }
});

process.send({ type: 'ready', keyId: owner.keyId });
checkLoop();
