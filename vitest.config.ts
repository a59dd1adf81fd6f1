import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run on their own: the container checks once per CI run (scripts/container-check.sh), the chaos
    // test with npm run chaos / chaos:ci (vitest.chaos.config.ts).
    exclude: [...configDefaults.exclude, 'test/container/**', 'test/chaos/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more files at once only queue on PostgreSQL.
    maxWorkers: 2,
  },
});
