// The throttle's memory is bounded whatever the client keys hold (SECURITY.md): a header-based
// clientKey lets a client choose keys of any length, and 10,000 of them must not cost 150 MB.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { expect, it } from 'vitest';

const MiB = 1024 * 1024;

function measure(clients: number, keyBytes: number): { tracked: number; retainedBytes: number } {
  const script = path.join(__dirname, 'helpers/throttle-memory.mjs');
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', script, String(clients), String(keyBytes)], { encoding: 'utf8' }));
}

it('15,000 distinct client keys of 15 KB each, failed at a step boundary, leave the throttle under 2 MB', () => {
  const { tracked, retainedBytes } = measure(15_000, 15_000);
  console.info(`throttle: 15,000 clients with 15 KB keys -> ${tracked} tracked, ${(retainedBytes / MiB).toFixed(2)} MiB retained`);
  expect(tracked).toBe(10_000);
  expect(retainedBytes).toBeLessThan(2 * MiB);
});

it('the measure sees what the table holds: 10,000 short keys cost more than nothing', () => {
  // A control: if the heap figure were blind (say, gc not run), this would read ~0 too.
  const { tracked, retainedBytes } = measure(10_000, 40);
  expect(tracked).toBe(10_000);
  expect(retainedBytes).toBeGreaterThan(200 * 1024);
});
