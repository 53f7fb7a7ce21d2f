// The raw reader of the soak (scripts/soak.mjs): reads the key file in a tight loop, as a client
// in any language would (open, read, parse), and counts every read that is not one complete,
// valid key. Writers replace the file by rename, so a reader must always find a whole file: a
// missing file (ENOENT) counts as a partial read too, since with atomic rename it cannot happen.
import { readFileSync } from 'node:fs';

import { TotpKey } from 'totp-handshake';

const file = process.argv[2];
// What the owners and the CLI write: a 20-byte secret as 32 base32 characters and a newline, or
// the otpauth URI the soak's owners write for their 2 s codes.
const WHOLE_KEY = /^(?:[A-Z2-7]{32}|otpauth:\/\/totp\/totp-handshake\?secret=[A-Z2-7]{32}&algorithm=SHA1&digits=6&period=2)\n$/;
const counts = { reads: 0, partial: 0, keys: 0, why: {} };
let lastId;
let running = true;

function partial(why) {
  counts.partial++;
  counts.why[why] = (counts.why[why] ?? 0) + 1;
}

function batch() {
  for (let i = 0; i < 200; i++) {
    counts.reads++;
    let text;
    try {
      text = readFileSync(file, 'latin1');
    } catch (error) {
      partial(error.code ?? 'read error');
      continue;
    }
    if (!WHOLE_KEY.test(text)) {
      partial(text.length === 0 ? 'empty' : 'not one whole key line');
      continue;
    }
    try {
      const key = text.startsWith('otpauth:') ? TotpKey.fromUri(text.trim()) : TotpKey.fromBase32(text.trim());
      if (key.id !== lastId) counts.keys++;
      lastId = key.id;
      key.destroy();
    } catch {
      partial('not a valid key');
    }
  }
  // setImmediate, not a plain loop: lets the parent's messages in between batches.
  if (running) setImmediate(batch);
  else process.send({ type: 'stopped', counts }, () => process.exit(0));
}

process.on('message', (message) => {
  if (message === 'stop') running = false;
});
process.on('disconnect', () => process.exit(1));
process.on('SIGINT', () => {});
setInterval(() => process.send({ type: 'counts', counts }), 1000);
process.send({ type: 'ready' });
batch();
