// Random inputs on which two engines must agree (test/equivalence.test.ts in one process,
// test/arm64.test.ts across the arm64 native and node:crypto runs): secrets, algorithms, digit
// counts, periods, times up to the year 3100, windows, and codes both valid (at a random step
// offset) and random.
import fc from 'fast-check';

export const YEAR_3100_MS = Date.UTC(3100, 0, 1);

export const keyParameters = fc.record({
  secret: fc.uint8Array({ minLength: 16, maxLength: 128 }),
  algorithm: fc.constantFrom('SHA1' as const, 'SHA256' as const, 'SHA512' as const),
  digits: fc.constantFrom(6 as const, 7 as const, 8 as const),
  period: fc.oneof(fc.constant(30), fc.integer({ min: 1, max: 3600 })),
});

export const checks = fc.array(
  fc.record({
    timeMs: fc.integer({ min: 0, max: YEAR_3100_MS }),
    window: fc.integer({ min: 0, max: 3 }),
    offset: fc.integer({ min: -4, max: 4 }),
    random: fc.boolean(),
    noise: fc.integer({ min: 0, max: 99_999_999 }),
  }),
  { minLength: 1, maxLength: 12 },
);
