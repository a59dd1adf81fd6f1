import { defineConfig } from 'vitest/config';

/** The chaos test (test/chaos/): long, so not part of `npm test`; `npm run chaos` and `npm run chaos:ci`. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file.ts'],
    pool: 'forks',
    // Each test runs its faults one after another; the bound of every run is its own.
    testTimeout: 3 * 3600_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
  },
});
