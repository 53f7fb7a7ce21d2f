// Load for `npm run profile`: clinic starts the guarded server (bench/http/server.mjs) and runs
// this once the server listens, with $PORT set. It reads the code the way a thin client does
// (KeyReader on the key file), drives autocannon at 127.0.0.1:$PORT with X-OTP, and checks that
// every request was accepted.
//
//   PORT=1234 node bench/http/load.mjs --key /tmp/dir/otp.key [--duration 10] [--connections 10]
import { parseArgs } from 'node:util';

import { loadLibrary } from '../lib/pkg.mjs';

const { values } = parseArgs({
  options: {
    key: { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
  },
});
const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) throw new Error('load.mjs: $PORT is not set (run it through clinic --on-port)');
if (values.key === undefined) throw new Error('load.mjs: --key PATH is required');

const { default: autocannon } = await import('autocannon');
const { KeyReader } = loadLibrary();
const reader = await KeyReader.open({ path: values.key, wait: 10_000 });
try {
  // The code stays valid for the whole run: window 1 accepts it until the end of the next step.
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: Number(values.connections),
    duration: Number(values.duration),
    headers: reader.headers(),
  });
  const seconds = (result.finish - result.start) / 1000;
  console.log(
    `load: ${result.requests.total} requests in ${seconds.toFixed(1)} s (${Math.round(result.requests.total / seconds)} req/s), ` +
      `${result.non2xx} non-2xx, ${result.errors} errors`,
  );
  if (result.non2xx + result.errors + result.timeouts > 0) process.exitCode = 1;
} finally {
  reader.close();
}
