/**
 * Never wrong silently, end to end on the real PostgreSQL and Redis: payloads "the API"
 * wrote, made from its own golden entries and changed the ways its code really changed,
 * are each found, recorded and yielded; its unchanged entries with data churn applied
 * after they were written are not; a yielding endpoint writes nothing and withdraws its
 * keys while the others run on; status, verify and clear --drift say and undo it.
 */
import { describe, expect, it } from 'vitest';
import { runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { GOLDEN_EXPECTED, GOLDEN_KEYS, goldenValue, REQUESTS_EXPECTED, staleValue } from '../helpers/golden.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { databaseFromTemplate, GOLDEN_NOW, goldenTemplate, readKeys } from '../helpers/services.js';

const services = useGoldenServices('drift');

const USERS = 'stats_service:get_user_stats:country=none_group_by=month_period=last_year';
const USERS_ALL = 'stats_service:get_user_stats:country=none_group_by=month_period=all';
const EXECUTIONS = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=none';
const EXECUTIONS_DAY = 'stats_service:get_execution_stats:group_by=day_period=last_week_status=none_task_type=none';
const EXECUTIONS_ALL = 'stats_service:get_execution_stats:group_by=month_period=all_status=none_task_type=none';
const DASHBOARD = 'stats_service:get_dashboard_stats:include=geographic,summary,tasks,trends_period=all';
const DASHBOARD_YEAR = 'stats_service:get_dashboard_stats:include=geographic,summary,tasks,trends_period=last_year';
/** Requests of the golden fixture's extra ones: no batch writes them, so "the API" did. */
const EXTRA_EXECUTIONS = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=urban';
const EXTRA_EXECUTIONS_SDG = 'stats_service:get_execution_stats:group_by=month_period=last_year_status=none_task_type=sdg';
const withOffsets = (key: string) => raw(key).replace(/"timestamp": "([^"]+)"/g, '"timestamp": "$1+00:00"');

const minutesAfter = (minutes: number) => new Date(Date.parse(GOLDEN_NOW) + minutes * 60_000).toISOString();

const raw = (key: string) => (GOLDEN_EXPECTED[key] ?? REQUESTS_EXPECTED[key])!.raw;
/** "The API" computes `key` on a miss and stores it for its 5 minutes. */
const apiWrites = (key: string, value: string) => services.redis.set(key, value, 'EX', 300);
const refresh = (target: string, ...args: string[]) => runCli(['refresh', target, '--now', GOLDEN_NOW, ...args], services.env);
const driftLines = (run: CliRun) => run.logs.filter((log) => String(log.msg).startsWith('drift: '));

interface RealChange {
  readonly name: string;
  /** Two keys: drift needs a second key to corroborate the first. */
  readonly keys: readonly [string, string];
  readonly family: 'dashboard' | 'executions' | 'users';
  readonly value: (key: string) => string;
  readonly path: RegExp;
}

const CHANGES: RealChange[] = [
  {
    name: '2026-04-02: activity_stats fields renamed',
    keys: [USERS, USERS_ALL],
    family: 'users',
    value: (key) => raw(key).replace(/"activity_stats": \{[^}]*\}/, '"activity_stats": {"active_last_day": 1, "active_last_week": 2, "active_last_month": 3, "never_executed": 4}'),
    path: /activity_stats\.active_last_day/,
  },
  {
    name: 'a field added',
    keys: [USERS, USERS_ALL],
    family: 'users',
    value: (key) => raw(key).replace('"never_executed": ', '"inactive_users": 3, "never_executed": '),
    path: /activity_stats\.inactive_users/,
  },
  {
    name: '2026-04-02: task slugs normalised (an object\'s key set)',
    keys: [EXECUTIONS, EXECUTIONS_ALL],
    family: 'executions',
    value: (key) => raw(key).replaceAll('"sdg-15-3-1-sub-indicators"', '"sdg-sub-indicators"'),
    path: /\(task names\)/,
  },
  {
    name: '2026-07-28: timestamps with +00:00',
    keys: [EXECUTIONS, EXECUTIONS_ALL],
    family: 'executions',
    value: withOffsets,
    path: /time_series\[\]\.timestamp/,
  },
  {
    name: '2025-10-31: the geographic section reshaped',
    keys: [DASHBOARD, DASHBOARD_YEAR],
    family: 'dashboard',
    value: (key) => raw(key).replace(/"geographic": \{"countries": \{[^}]*\}, "total_users": \d+\}/, '"geographic": {"top_countries": [{"country": "Kenya", "count": 3}]}'),
    path: /geographic\.(top_countries|countries|total_users)/,
  },
];

describe('changes the API really made: found, yielded, reported', () => {
  it.each(CHANGES)('$name', async (change) => {
    for (const key of change.keys) {
      expect(change.value(key)).not.toBe(raw(key));
      await apiWrites(key, change.value(key));
    }
    const run = await refresh(change.family);
    expect(run.code, run.stderr).toBe(1);
    const summary = summaryOf(run);
    // Every config of the endpoint fails with the reason; none of its keys is written.
    expect(summary.failures.length).toBe(summary.total_refreshed);
    for (const failure of summary.failures) expect(failure.error).toMatch(new RegExp(`^drift: the API's ${change.family} payloads differ`));
    // (A users run still writes the geographic section, which is the dashboard's answer.)
    const endpointKeys = summary.cache_keys.filter((key) => change.family === 'dashboard' || key.includes(`get_${change.family === 'users' ? 'user' : 'execution'}_stats`));
    expect(endpointKeys).toEqual([]);
    // One error line names the endpoint and the first differing paths.
    const lines = driftLines(run);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toMatchObject({ level: 'error', endpoint: change.family });
    expect(change.keys).toContain(lines[0]!.key);
    expect(String(lines[0]!.msg)).toMatch(change.path);
    // The API's keys are left as they were.
    for (const key of change.keys) expect(await services.redis.get(key)).toBe(change.value(key));
    // status says so and exits 1.
    const status = await runCli(['status', '--json'], services.env);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout).drift.map((record: { endpoint: string }) => record.endpoint)).toContain(change.family);
  });

  it('keys the API wrote that stats-refresh cannot read (a parameter added) are drift too', async () => {
    await apiWrites('stats_service:get_execution_stats:group_by=day_limit=10_period=last_month_status=none_task_type=none', raw(EXECUTIONS));
    await apiWrites('stats_service:get_execution_stats:group_by=hour_limit=10_period=last_week_status=none_task_type=none', raw(EXECUTIONS));
    const run = await refresh('executions');
    expect(run.code).toBe(1);
    expect(driftLines(run)[0]).toMatchObject({ endpoint: 'executions', differences: [expect.objectContaining({ path: '(the key)' })] });
  });
});

describe('data churn is not drift', () => {
  it('the API\'s own entries, then rows added in the last hour, runs finished, users registered: no drift, every key written', async () => {
    const churned = await databaseFromTemplate(goldenTemplate(), 'drift_churn');
    try {
      for (const key of GOLDEN_KEYS) await apiWrites(key, raw(key));
      await churned.query(`
        INSERT INTO execution (id, start_date, end_date, status, script_id, user_id)
          SELECT gen_random_uuid(), timestamp '2026-06-15 12:00:00' + n * interval '1 minute', NULL, 'RUNNING', s.id, u.id
          FROM generate_series(1, 20) AS n, (SELECT id FROM script ORDER BY id LIMIT 1) s, (SELECT id FROM "user" ORDER BY id LIMIT 1) u;
        UPDATE execution SET status = 'FINISHED', end_date = timestamp '2026-06-15 12:30:00'
          WHERE id IN (SELECT id FROM execution WHERE status = 'RUNNING' ORDER BY id LIMIT 10);
        INSERT INTO "user" (id, email, name, country, password, created_at)
          SELECT gen_random_uuid(), 'churn' || n || '@example.org', 'churn', CASE WHEN n % 2 = 0 THEN 'Atlantis' ELSE 'Kenya' END, 'x',
                 timestamp '2026-06-15 12:10:00' + n * interval '1 minute'
          FROM generate_series(1, 5) AS n;`);
      const run = await runCli(['refresh', 'all', '--now', minutesAfter(2)], { ...services.env, DATABASE_URL: churned.url });
      expect(run.code, run.stderr).toBe(0);
      expect(driftLines(run)).toEqual([]);
      expect(summaryOf(run)).toMatchObject({ successful: 26, failed: 0 });
      expect(await services.redis.hlen('stats_refresh:drift')).toBe(0);
      // The values did change: they wait for proof, which the counters will refuse.
      expect(await services.redis.hlen('stats_refresh:drift:pending')).toBeGreaterThan(0);
      const later = await runCli(['refresh', 'all', '--now', minutesAfter(5)], { ...services.env, DATABASE_URL: churned.url });
      expect(later.code, later.stderr).toBe(0);
      expect(await services.redis.hlen('stats_refresh:drift')).toBe(0);
    } finally {
      await churned.drop();
    }
  });

  it('verify: the API\'s entries as they are agree with ours, values included', async () => {
    for (const key of GOLDEN_KEYS) await apiWrites(key, raw(key));
    const run = await runCli(['verify', '--json', '--now', GOLDEN_NOW], services.env);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { endpoints: Array<{ endpoint: string; verdict: string; compared: number; values_compared: number; differences: unknown[] }> };
    expect(report.endpoints.map((endpoint) => [endpoint.endpoint, endpoint.verdict])).toEqual([
      ['dashboard', 'agree'],
      ['executions', 'agree'],
      ['users', 'agree'],
    ]);
    expect(report.endpoints.reduce((sum, endpoint) => sum + endpoint.compared, 0)).toBe(41);
    expect(report.endpoints.find((endpoint) => endpoint.endpoint === 'executions')!.values_compared).toBeGreaterThan(0);
    // verify wrote nothing.
    expect(await services.redis.exists('stats_refresh:drift', 'stats_refresh:counters', 'stats_refresh:keys')).toBe(0);
  });

  it('verify: nothing the API wrote is present: not comparable, exit 0', async () => {
    const run = await runCli(['verify', 'users', '--json', '--now', GOLDEN_NOW], services.env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).endpoints).toEqual([expect.objectContaining({ endpoint: 'users', verdict: 'not comparable' })]);
  });
});

describe('yielding, end to end', () => {
  it('after drift: writes none of the endpoint\'s keys, withdraws its own, leaves the API\'s, exits 1; clear --drift resumes', async () => {
    // Our keys first, as every run writes them.
    expect((await refresh('all')).code).toBe(0);
    expect((await readKeys(services.redis, 'stats_service:*')).size).toBe(41);
    for (const key of [EXTRA_EXECUTIONS, EXTRA_EXECUTIONS_SDG]) await apiWrites(key, withOffsets(key));

    const found = await refresh('executions');
    expect(found.code).toBe(1);
    const keys = await readKeys(services.redis, 'stats_service:*');
    // Our 8 executions keys withdrawn; the API's left; the other families' untouched.
    expect([...keys.keys()].filter((key) => key.includes('get_execution_stats')).sort()).toEqual([EXTRA_EXECUTIONS, EXTRA_EXECUTIONS_SDG]);
    expect(keys.get(EXTRA_EXECUTIONS)).toBe(withOffsets(EXTRA_EXECUTIONS));
    expect(keys.size).toBe(41 - 8 + 2);
    expect(await services.redis.hlen('stats_refresh:keys')).toBe(41 - 8);

    const again = await refresh('executions');
    expect(again.code).toBe(1);
    expect(summaryOf(again).cache_keys).toEqual([]);
    expect(driftLines(again)).toEqual([]); // recorded once, not found again
    const dashboard = await refresh('dashboard');
    expect(dashboard.code).toBe(0);

    const verify = await runCli(['verify', 'executions', '--json', '--now', GOLDEN_NOW], services.env);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout).endpoints[0]).toMatchObject({
      verdict: 'drift',
      differences: expect.arrayContaining([expect.objectContaining({ key: EXTRA_EXECUTIONS, kind: 'format' })]),
    });

    const cleared = await runCli(['clear', '--drift'], services.env);
    expect(cleared.code).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ drift_forgotten: ['executions'], deleted: 0 });
    await services.redis.del(EXTRA_EXECUTIONS, EXTRA_EXECUTIONS_SDG); // the API's entries expired
    const resumed = await refresh('executions');
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const key of GOLDEN_KEYS.filter((key) => key.includes('get_execution_stats'))) {
      expect(JSON.parse((await services.redis.get(key))!), key).toStrictEqual(goldenValue(key));
    }
    expect((await runCli(['status', '--json'], services.env)).code).toBe(0);
  });

  it('--on-drift warn: records and reports, keeps writing', async () => {
    for (const key of [EXTRA_EXECUTIONS, EXTRA_EXECUTIONS_SDG]) await apiWrites(key, withOffsets(key));
    const run = await refresh('executions', '--on-drift', 'warn');
    expect(run.code, run.stderr).toBe(0);
    expect(String(driftLines(run)[0]!.msg)).toMatch(/still writing \(--on-drift warn\)/);
    expect(summaryOf(run)).toMatchObject({ failed: 0 });
    expect((await runCli(['status', '--json'], services.env)).code).toBe(1);
  });

  it('a newly deployed build checks again by itself', async () => {
    await services.redis.hset('stats_refresh:drift', 'users', JSON.stringify({ endpoint: 'users', build: '0.0.9 (API stats code 0000000)', detected_at: GOLDEN_NOW, key: USERS, differences: [] }));
    const run = await runCli(['refresh', 'users', '--now', GOLDEN_NOW, '--log-level', 'info'], services.env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.logs.some((log) => log.msg === 'drift recorded by another build forgotten: checking again')).toBe(true);
    expect(await services.redis.hlen('stats_refresh:drift')).toBe(0);
  });
});

describe('values: drift once the counters prove the data did not change', () => {
  it('a count the API computes otherwise is recorded by the run after the one that found it', async () => {
    // A run 20 minutes before: the tables' counters then.
    expect((await runCli(['refresh', 'users', '--now', minutesAfter(-20)], services.env)).code).toBe(0);
    for (const key of [EXECUTIONS, EXECUTIONS_DAY]) await apiWrites(key, staleValue(key));
    const found = await refresh('executions');
    expect(found.code, found.stderr).toBe(0); // not proven yet
    expect(await services.redis.hexists('stats_refresh:drift:pending', EXECUTIONS)).toBe(1);
    const proof = await runCli(['refresh', 'users', '--now', minutesAfter(2)], services.env);
    expect(proof.code).toBe(0); // users is not the endpoint
    expect(driftLines(proof)).toEqual([expect.objectContaining({ endpoint: 'executions' })]);
    expect(driftLines(proof)[0]!.differences).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'values' })]));
    expect(await services.redis.hexists('stats_refresh:drift', 'executions')).toBe(1);
  });
});
