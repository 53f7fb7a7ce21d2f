// A legitimate client of scripts/flood.mjs: otpFetch in a loop, over the socket (a path) or over
// TCP (a URL), until the deadline. Prints its counts as JSON.
import { KeyReader } from 'totp-handshake';
import { otpFetch } from 'totp-handshake/client';
const [keyPath, target, until] = process.argv.slice(2);
const reader = await KeyReader.open({ path: keyPath });
const socket = target.startsWith('/') ? { socketPath: target } : {};
const url = target.startsWith('/') ? 'http://localhost/secure' : target;
const counts = { requests: 0, ok: 0, refused: {} };
while (Date.now() < Number(until)) {
  // No waiting out a 429 here: what the flood does to each request is what is measured.
  const response = await otpFetch(reader, url, { method: 'POST', body: '{}', maxRetryWait: 0, ...socket });
  await response.body?.cancel();
  counts.requests++;
  if (response.status === 200) counts.ok++;
  else counts.refused[response.status] = (counts.refused[response.status] ?? 0) + 1;
}
reader.close();
console.log(JSON.stringify(counts));
