import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The container checks run once per CI run: scripts/container-check.sh.
    exclude: [...configDefaults.exclude, 'test/container/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more files at once only queue on PostgreSQL.
    maxWorkers: 2,
  },
});
