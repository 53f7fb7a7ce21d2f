// A thin client in its simplest form, in a process of its own: it reads the key file in a loop
// (open, read, parse, as a client in any language would) and counts what it found until the
// parent says stop. Used to show that rotation never exposes a partial file.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { TotpKey } = createRequire(import.meta.url)('../../dist/index.js');
const file = process.argv[2];
const counts = { reads: 0, missing: 0, invalid: 0 };
const ids = new Set();
let running = true;

process.on('message', (message) => {
  if (message === 'stop') running = false;
});

function batch() {
  for (let i = 0; i < 50; i++) {
    let text;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      counts.missing++;
      continue;
    }
    counts.reads++;
    try {
      const key = TotpKey.fromBase32(text.trim());
      ids.add(key.id);
      key.destroy();
    } catch {
      counts.invalid++;
    }
  }
  if (running) setImmediate(batch);
  else process.send({ ...counts, ids: [...ids] }, () => process.exit(0));
}

process.send('ready');
batch();
