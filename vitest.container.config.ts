import { defineConfig } from 'vitest/config';

/**
 * The container checks (test/container/): the real image, Compose and the Kubernetes pod
 * specs under podman. Slow, so run once per CI run by scripts/container-check.sh, not by
 * `npm test` (which CI runs on two Node versions).
 */
export default defineConfig({
  test: {
    include: ['test/container/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file.ts'],
    pool: 'forks',
    // One file at a time: each runs containers whose layers vfs copies whole.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
