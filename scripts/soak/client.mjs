// One thin client of the soak (scripts/soak.mjs): a KeyReader on the shared key file and otpFetch
// in a loop, one request at a time, round-robin over the API ports. A request counts as rejected
// when its final answer (after otpFetch's one retry on a 401) is not 200, or when it fails.
// With --no-retry (the soak's own control) it sends reader.headers() with plain fetch instead.
import { KeyReader } from 'totp-handshake';
import { otpFetch } from 'totp-handshake/client';

const [file, id, portList, retry] = process.argv.slice(2);
let urls = portList.split(',').map((port) => `http://127.0.0.1:${port}/`);
const counts = { requests: 0, rejected: 0, retried: 0, statuses: {}, keys: 0 };
const ownHeader = { 'x-soak-client': id };
let running = true;

const reader = await KeyReader.open({ path: file, onEvent: (event) => event.type === 'load' && counts.keys++ });
// otpFetch calls reload() only before its retry after a 401: counting reloads counts retries.
const source = { headers: () => reader.headers(), reload: () => (counts.retried++, reader.reload()) };

function send(url) {
  if (retry === 'no') return fetch(url, { headers: { ...ownHeader, ...reader.headers() } });
  return otpFetch(source, url, { headers: ownHeader });
}

process.on('message', (message) => {
  if (message === 'stop') running = false;
  // The multi-host soak moves clients off an API process before it kills one, and onto its successor.
  if (message?.type === 'ports') urls = message.ports.map((port) => `http://127.0.0.1:${port}/`);
});
process.on('disconnect', () => process.exit(1));
process.on('SIGINT', () => {});
const ticker = setInterval(() => process.send({ type: 'counts', counts }), 1000);
process.send({ type: 'ready' });

// Each client starts at a different port so that the load spreads from the first request.
for (let i = Number(id); running; i++) {
  let status;
  const url = urls[i % urls.length];
  counts.inFlight = url;
  try {
    const response = await send(url);
    await response.arrayBuffer();
    status = String(response.status);
  } catch (error) {
    status = error?.cause?.code ?? error?.code ?? 'error';
  }
  counts.requests++;
  if (status !== '200') counts.rejected++;
  counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
}

clearInterval(ticker);
reader.close();
process.send({ type: 'stopped', counts }, () => process.exit(0));
