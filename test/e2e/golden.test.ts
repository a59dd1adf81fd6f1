/**
 * Parity with the API: the golden fixture is a database and the exact entries the
 * API stored for it at GOLDEN_NOW. `refresh all` must write the same key set and,
 * key by key, the same values (parsed JSON: numbers by value, strings stay strings).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_EXPECTED, GOLDEN_KEYS, goldenValue } from '../helpers/golden.js';
import { runCli, summaryOf } from '../helpers/cli.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { GOLDEN_NOW, readKeys } from '../helpers/services.js';


interface Scenario {
  readonly name: string;
  readonly processTimeZone: string;
  /** The database session's time zone; the API's own results would shift with it, ours must not. */
  readonly sessionTimeZone: string | null;
}

const scenarios: Scenario[] = [
  { name: 'in UTC', processTimeZone: 'UTC', sessionTimeZone: null },
  {
    name: 'with process and database session in America/Sao_Paulo',
    processTimeZone: 'America/Sao_Paulo',
    sessionTimeZone: 'America/Sao_Paulo',
  },
];

describe.each(scenarios)('refresh all on the golden database $name', (scenario) => {
  const services = useGoldenServices('golden', { emptyRedisBeforeEach: false });
  let written: Map<string, string>;
  let summary: ReturnType<typeof summaryOf>;

  beforeAll(async () => {
    const { database } = services;
    if (scenario.sessionTimeZone) {
      await database.query(`ALTER DATABASE "${database.name}" SET timezone TO '${scenario.sessionTimeZone}'`);
    }
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], { ...services.env, TZ: scenario.processTimeZone });
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    summary = summaryOf(run);
    written = await readKeys(services.redis, 'stats_service:*');
  });

  it('writes exactly the 41 keys the API stored', () => {
    expect([...written.keys()].sort()).toEqual([...GOLDEN_KEYS]);
    expect([...summary.cache_keys].sort()).toEqual([...GOLDEN_KEYS]);
    expect(summary).toMatchObject({ total_refreshed: 26, successful: 26, failed: 0, failures: [] });
  });

  it.each([...GOLDEN_KEYS])('%s equals the API entry', (key) => {
    expect(JSON.parse(written.get(key) ?? 'null')).toStrictEqual(goldenValue(key));
  });

  it('sets the default 5-minute expiry on every key', async () => {
    for (const key of written.keys()) {
      const ttl = await services.redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(250);
      expect(ttl, key).toBeLessThanOrEqual(300);
    }
  });

  it('writes entries byte-for-byte as the API does wherever the API order is defined', () => {
    // Dict keys inside time_series follow PostgreSQL's hash order in the API; everything else must match exactly.
    const unordered = (key: string) => key.includes('get_execution_stats');
    const mismatched = GOLDEN_KEYS.filter((key) => !unordered(key) && written.get(key) !== GOLDEN_EXPECTED[key]!.raw);
    expect(mismatched).toEqual([]);
  });
});
