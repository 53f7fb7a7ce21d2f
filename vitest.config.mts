import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    // Tests run against the built package (dist/), loaded by Node itself, the way users load it:
    // one module instance whether a test imports 'totp-handshake' or a dist/ file directly.
    server: { deps: { external: [/\/dist\//] } },
  },
});
