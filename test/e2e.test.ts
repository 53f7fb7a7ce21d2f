// End to end, as deployed: the example API (KeyOwner + otpCheck) and a thin client (KeyReader +
// otpFetch) in two processes that share nothing but a directory, with key rotations during the run.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterEach, beforeEach, expect, it } from 'vitest';

import { expectNoSecrets, root, tempDir } from './helpers/handshake-fs.js';
import { type ApiProcess, startApi } from './helpers/processes.js';

const run = promisify(execFile);
let shared: ReturnType<typeof tempDir>;
let api: ApiProcess | undefined;

beforeEach(() => {
  shared = tempDir('otp-e2e');
});

afterEach(async () => {
  await api?.stop();
  api = undefined;
  shared.cleanup();
});

it('serves at least 1,000 requests across a key rotation without refusing one', async () => {
  const keyPath = shared.file;
  // Rotations 1.5 s apart need codes of a shorter period than that (one second here).
  api = await startApi(keyPath, { OTP_ROTATE_EVERY: '1500', OTP_PERIOD: '1' });
  const { stdout } = await run(process.execPath, [path.join(root, 'test/fixtures/e2e-client.mjs')], {
    cwd: root,
    env: { ...process.env, OTP_KEY_PATH: keyPath, API_URL: api.url, MIN_REQUESTS: '1000', AFTER_ROTATION: '200', DEADLINE_MS: '40000' },
    timeout: 60_000,
  });
  const counts = JSON.parse(stdout) as { requests: number; refused: number; retries: number; keys: number; afterRotation: number };
  expect(counts.requests).toBeGreaterThanOrEqual(1000);
  expect(counts.keys).toBeGreaterThanOrEqual(2);
  expect(counts.afterRotation).toBeGreaterThanOrEqual(200);
  expect(counts.refused).toBe(0);
  const rotations = api.lines.filter((line) => line.startsWith('{') && JSON.parse(line).type === 'rotate');
  expect(rotations.length).toBeGreaterThanOrEqual(1);
  expectNoSecrets(api.lines, [readFileSync(keyPath, 'utf8').trim()]);
}, 90_000);
