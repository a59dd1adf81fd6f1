import { defineConfig } from 'vitest/config';

/** What the integration and end-to-end projects share: the real services and the golden template. */
const onServices = {
  globalSetup: ['test/helpers/global-setup.ts'],
  setupFiles: ['test/helpers/per-file.ts'],
  hookTimeout: 120_000,
};

/**
 * `npm test` runs three projects (`npm run test:unit`, `test:integration`, `test:e2e` run one):
 * - unit: pure modules on data, no PostgreSQL or Redis, no global set-up;
 * - integration: in-process on the real services, the deployment files and the seed tool;
 * - e2e: the built binary (dist/cli.js) as a user runs it, on the real services.
 * The container checks (vitest.container.config.ts) and the chaos test (vitest.chaos.config.ts)
 * run on their own.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    // Two cores: more files at once only queue on PostgreSQL.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/deploy/**/*.test.ts', 'test/seed/**/*.test.ts'], ...onServices },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], ...onServices } },
    ],
  },
});
