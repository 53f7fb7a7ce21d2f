// The native code outside Node: x86 SHA-NI, ARMv8 (aarch64 under qemu) and the portable C++ cores
// must agree, the key arena and base32 decoder pass their cases, also under AddressSanitizer and
// UBSan. In CI the aarch64 run is required.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

import { inCi } from './helpers/engines.js';

it('agrees on every hash-core path, also under sanitizers (native/test/run.sh)', () => {
  const script = path.resolve(__dirname, '../native/test/run.sh');
  const result = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, REQUIRE_ARM: inCi ? '1' : '0' } });
  expect(result.stderr).not.toMatch(/FAIL|ERROR|runtime error/);
  expect(result.status, result.stdout + result.stderr).toBe(0);
  expect(result.stdout).toMatch(/native self-test: host .*\ncores: .*\nok: RFC 6238 and RFC 4226 vectors on every path, 20000 random keys agree, arena and base32 cases pass/);
  expect(result.stdout).toContain('native self-test: host with AddressSanitizer and UndefinedBehaviorSanitizer');
}, 180_000);
