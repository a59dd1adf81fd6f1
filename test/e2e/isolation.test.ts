/**
 * One config failing does not stop the others: a database without `"user".country`
 * breaks the pass over `"user"` (it reads the country), so exactly the configs built on
 * that pass fail (the summary's user count, the geographic section, the users family);
 * the pass over `execution` and everything built only on it are written.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_KEYS, goldenValue, CONFIGS_ON_USER_TABLE, staleValue } from '../helpers/golden.js';
import { runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { GOLDEN_NOW, readKeys } from '../helpers/services.js';
import { useGoldenServices } from '../helpers/golden-services.js';


/** Keys built on the pass over "user": summaries, geographic sections, user stats, and dashboards holding them. */
const needsUserTable = (key: string) =>
  key.includes('summary') || key.includes('geographic') || key.includes('get_user_stats');
// Section keys are written whenever their own section computed, even if a config including them failed.


describe('a config failing while the others are written (exit 1)', () => {
  const services = useGoldenServices('isolation', { emptyRedisBeforeEach: false });
  let run: CliRun;
  let written: Map<string, string>;

  beforeAll(async () => {
    await services.database.query('ALTER TABLE "user" DROP COLUMN country');
    // The API's earlier values, without expiry (so when they were computed is not known).
    for (const key of GOLDEN_KEYS) await services.redis.set(key, staleValue(key));
    run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], services.env);
    written = await readKeys(services.redis);
  });

  it('exits 1 and lists each failed config with its error', () => {
    expect(run.code).toBe(1);
    const summary = summaryOf(run);
    // The 10 dashboard configs with summary or geographic, and the 6 users configs.
    const failedConfigs = summary.failures.map((failure) => failure.config).sort();
    expect(failedConfigs).toEqual(CONFIGS_ON_USER_TABLE);
    expect(summary).toMatchObject({ total_refreshed: 26, successful: 10, failed: 16 });
    for (const failure of summary.failures) expect(failure.error).toMatch(/query user_table failed: column "country" (of relation "user" )?does not exist/);
  });

  it('logs one error line per failed config', () => {
    const errors = run.logs.filter((log) => log.msg === 'config failed');
    expect(errors).toHaveLength(16);
    for (const log of errors) expect(log).toMatchObject({ level: 'error' });
  });

  it('writes every other key with the API value and leaves the failed ones as they were', () => {
    const summary = summaryOf(run);
    for (const key of GOLDEN_KEYS) {
      if (needsUserTable(key)) {
        expect(written.get(key), key).toBe(staleValue(key));
        expect(summary.cache_keys).not.toContain(key);
      } else {
        expect(JSON.parse(written.get(key)!), key).toStrictEqual(goldenValue(key));
        expect(summary.cache_keys).toContain(key);
      }
    }
  });
});
