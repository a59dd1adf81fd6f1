/**
 * The drift check against what is not drift, end to end on the real PostgreSQL and Redis:
 * stray keys, garbage values and keys of another type are named problems and the check goes
 * on; one key alone never makes an endpoint yield, and a record goes with its evidence; a
 * status the code never heard of is data; an --api-cache-ttl above the API's real TTL makes
 * no false drift; the catalog says whether the server is a hot standby; clear --drift shows
 * and removes what it forgets.
 */
import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { BUILD } from '../../src/lib/version.js';
import { readCatalog } from '../../src/pass/catalog.js';
import { runCli, summaryOf, type CliRun } from '../helpers/cli.js';
import { GOLDEN_EXPECTED, REQUESTS_EXPECTED } from '../helpers/golden.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { databaseFromTemplate, GOLDEN_NOW, goldenTemplate, type TestDatabase } from '../helpers/services.js';

const services = useGoldenServices('drift_faults');

const EXECUTIONS = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=none';
const EXECUTIONS_DAY = 'stats_service:get_execution_stats:group_by=day_period=last_week_status=none_task_type=none';
const EXTRA = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=urban';
const EXTRA_SDG = 'stats_service:get_execution_stats:group_by=month_period=last_year_status=none_task_type=sdg';

const raw = (key: string) => (GOLDEN_EXPECTED[key] ?? REQUESTS_EXPECTED[key])!.raw;
const withOffsets = (key: string) => raw(key).replace(/"timestamp": "([^"]+)"/g, '"timestamp": "$1+00:00"');
const minutesAfter = (minutes: number) => new Date(Date.parse(GOLDEN_NOW) + minutes * 60_000).toISOString();
const refresh = (target: string, env: Record<string, string> = services.env) => runCli(['refresh', target, '--now', GOLDEN_NOW], env);
const driftLines = (run: CliRun) => run.logs.filter((log) => String(log.msg).startsWith('drift: '));
const warnings = (run: CliRun) => run.logs.filter((log) => log.level === 'warn').map((log) => String(log.msg));
/** "The API" wrote two keys of the executions endpoint in a format ours does not produce. */
const plantDrift = async () => {
  for (const key of [EXTRA, EXTRA_SDG]) await services.redis.set(key, withOffsets(key), 'EX', 300);
};
const statusProblems = async () => JSON.parse((await runCli(['status', '--json'], services.env)).stdout).problems as string[];

describe('one stray key does not switch an endpoint off', () => {
  it.each(['stats_service:', 'stats_service:get_foo_stats:period=all'])('%s: a problem named, never drift; every key written', async (stray) => {
    await services.redis.set(stray, '{"foo": 1}', 'EX', 300);
    const run = await refresh('all');
    expect(run.code, run.stderr).toBe(0);
    expect(driftLines(run)).toEqual([]);
    expect(summaryOf(run)).toMatchObject({ successful: 26, failed: 0 });
    expect(summaryOf(run).cache_keys).toHaveLength(41);
    expect(warnings(run)).toContainEqual(expect.stringContaining(`DEL ${stray}`));
    expect(await statusProblems()).toContainEqual(expect.stringContaining(stray));
  });

  it('garbage at payload keys (not JSON, not an object) is a problem, said once, never drift', async () => {
    await services.redis.set(EXECUTIONS, 'garbage', 'EX', 300);
    await services.redis.set(EXECUTIONS_DAY, '[1, 2]', 'EX', 300);
    const run = await refresh('executions');
    expect(run.code, run.stderr).toBe(0);
    expect(driftLines(run)).toEqual([]);
    const said = warnings(run).filter((message) => message.includes('no stats payload'));
    expect(said).toHaveLength(2);
    expect(said.join('\n')).toContain(`${EXECUTIONS_DAY}: its value is no stats payload (JSON, but not an object)`);
    expect(said.join('\n')).toContain(`${EXECUTIONS}: its value is no stats payload (not JSON: `);
    expect(said.join('\n')).not.toMatch(/not JSON: not JSON/);
  });

  it('a difference at one key waits for a second; a record goes when its keys are deleted before they expire', async () => {
    await services.redis.set(EXTRA, withOffsets(EXTRA), 'EX', 300);
    const alone = await refresh('executions');
    expect(alone.code, alone.stderr).toBe(0);
    expect(driftLines(alone)).toEqual([]);
    expect(warnings(alone)).toContainEqual(expect.stringMatching(/drift once another key shows it/));
    expect(await services.redis.hlen('stats_refresh:drift')).toBe(0);

    await services.redis.set(EXTRA_SDG, withOffsets(EXTRA_SDG), 'EX', 300);
    const corroborated = await refresh('executions');
    expect(corroborated.code).toBe(1);
    expect(driftLines(corroborated)).toEqual([expect.objectContaining({ endpoint: 'executions' })]);

    await services.redis.del(EXTRA, EXTRA_SDG);
    const withdrawn = await runCli(['refresh', 'executions', '--now', GOLDEN_NOW, '--log-level', 'info'], services.env);
    expect(withdrawn.code, withdrawn.stderr).toBe(0);
    expect(withdrawn.logs.some((log) => String(log.msg).startsWith('drift record forgotten'))).toBe(true);
    expect(await services.redis.hlen('stats_refresh:drift')).toBe(0);
  });
});

describe('a key of another type is a named problem, and the check goes on', () => {
  const HASH = 'stats_service:get_execution_stats:group_by=week_period=last_month_status=none_task_type=none';
  it.each(['stats_refresh:drift', 'stats_refresh:drift:pending', 'stats_refresh:counters', 'stats_refresh:keys', HASH])('%s', async (key) => {
    if (key === HASH) await services.redis.hset(key, 'field', 'value');
    else await services.redis.set(key, 'not a hash');
    await plantDrift();

    const run = await refresh('executions');
    expect(run.code, run.stderr).toBe(1); // the drift planted is found all the same
    expect(driftLines(run)).toEqual([expect.objectContaining({ endpoint: 'executions' })]);
    expect(warnings(run)).toContainEqual(expect.stringContaining(`DEL ${key}`));

    const verify = await runCli(['verify', 'executions', '--json', '--now', GOLDEN_NOW], services.env);
    expect(verify.code, verify.stderr).toBe(1);
    expect(JSON.parse(verify.stdout).problems).toContainEqual(expect.stringContaining(key));
    expect(await statusProblems()).toContainEqual(expect.stringContaining(key));

    const cleared = await runCli(['clear', '--drift'], services.env);
    expect(cleared.code, cleared.stderr).toBe(0);
    if (key.startsWith('stats_refresh:drift') || key === 'stats_refresh:counters') {
      expect(await services.redis.type(key)).toBe('none');
      expect(JSON.parse(cleared.stdout).drift_problems_removed).toContainEqual(expect.stringContaining(key));
    }
  });
});

describe('clear --drift', () => {
  it('--dry-run lists what it would forget; a garbage field is a problem status shows, removed by clear --drift', async () => {
    const record = { endpoint: 'users', build: BUILD, detected_at: GOLDEN_NOW, key: 'stats_service:x', differences: [] };
    await services.redis.hset('stats_refresh:drift', { users: JSON.stringify(record), executions: 'garbage' });
    expect(await statusProblems()).toContainEqual('stats_refresh:drift field "executions" is not a drift record; clear --drift removes it');

    const dry = await runCli(['clear', '--drift', '--dry-run'], services.env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      drift_forgotten: ['users'],
      drift_problems_removed: [expect.stringContaining('"executions"')],
    });
    expect(await services.redis.hlen('stats_refresh:drift')).toBe(2);

    const cleared = await runCli(['clear', '--drift'], services.env);
    expect(cleared.code).toBe(0);
    expect(await services.redis.exists('stats_refresh:drift')).toBe(0);
    expect(await statusProblems()).toEqual([]);
  });
});

/** Waits (bounded) until pg_stat_user_tables counts the rows just written, so runs see stable counters. */
async function statisticsSettled(database: TestDatabase, before: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { rows } = await database.query("SELECT (n_tup_ins + n_tup_upd + n_tup_del)::text AS changes FROM pg_stat_user_tables WHERE relname = 'execution'");
    if (rows[0]?.changes !== before) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('pg_stat_user_tables did not count the insert within 10 s');
}

async function withDatabase(label: string, test: (database: TestDatabase, env: Record<string, string>) => Promise<void>): Promise<void> {
  const database = await databaseFromTemplate(goldenTemplate(), label);
  try {
    await test(database, { ...services.env, DATABASE_URL: database.url });
  } finally {
    await database.drop();
  }
}

async function insertExecution(database: TestDatabase, status: string, start: Date): Promise<void> {
  const { rows } = await database.query("SELECT (n_tup_ins + n_tup_upd + n_tup_del)::text AS changes FROM pg_stat_user_tables WHERE relname = 'execution'");
  const at = start.toISOString().replace('T', ' ').replace('Z', '');
  await database.query(`
    INSERT INTO execution (id, start_date, end_date, status, script_id, user_id)
      SELECT gen_random_uuid(), timestamp '${at}', timestamp '${at}' + interval '5 minutes', '${status}', s.id, u.id
      FROM (SELECT id FROM script ORDER BY id LIMIT 1) s, (SELECT id FROM "user" ORDER BY id LIMIT 1) u`);
  await statisticsSettled(database, String(rows[0]?.changes));
}

/** Our keys made the API's: what we recorded writing them forgotten, their life set to `seconds`. */
async function asTheApis(keys: readonly string[], seconds: number): Promise<void> {
  for (const key of keys) {
    const value = await services.redis.get(key);
    expect(value, key).not.toBeNull();
    await services.redis.set(key, value!, 'EX', seconds);
    await services.redis.hdel('stats_refresh:keys', key);
  }
}

describe('data, not drift', () => {
  it('a status the code never heard of (QUEUED) in the API\'s payloads', async () => {
    await withDatabase('drift_queued', async (database, env) => {
      await insertExecution(database, 'QUEUED', new Date(Date.parse(GOLDEN_NOW) - 3600_000));
      expect((await refresh('executions', env)).code).toBe(0);
      const keys = (await services.redis.hkeys('stats_refresh:keys')).filter((key) => key.includes('get_execution_stats'));
      expect((await services.redis.get(EXECUTIONS))!).toContain('"QUEUED"');
      await asTheApis(keys, 300);
      const run = await refresh('executions', env);
      expect(run.code, run.stderr).toBe(0);
      expect(driftLines(run)).toEqual([]);
      expect(await services.redis.hlen('stats_refresh:drift:pending')).toBe(0);
    });
  });

  it('--api-cache-ttl 300 while the API writes with EX 120, an execution crossing the week\'s edge: no drift', async () => {
    await withDatabase('drift_ttl', async (database, env) => {
      // It leaves last_week 90 s before the run's instant: inside the window the setting alone dates the API's keys to.
      await insertExecution(database, 'FINISHED', new Date(Date.parse(GOLDEN_NOW) - 7 * 86_400_000 - 90_000));
      expect((await runCli(['refresh', 'users', '--now', minutesAfter(-20)], env)).code).toBe(0);
      expect((await refresh('executions', env)).code).toBe(0);
      await asTheApis([EXECUTIONS, EXECUTIONS_DAY], 120);
      const found = await runCli(['refresh', 'executions', '--now', GOLDEN_NOW, '--api-cache-ttl', '300'], env);
      expect(found.code, found.stderr).toBe(0);
      const proof = await runCli(['refresh', 'users', '--now', minutesAfter(2), '--api-cache-ttl', '300'], env);
      expect(proof.code, proof.stderr).toBe(0);
      expect(driftLines(proof)).toEqual([]);
      expect(await services.redis.hlen('stats_refresh:drift')).toBe(0);
    });
  });

  it('the catalog says whether the server is a hot standby (this one is not)', async () => {
    await withDatabase('drift_standby', async (database) => {
      const { db } = createDb({ url: database.url, tls: parsePostgresTls(database.url, 'DATABASE_URL'), applicationName: 'stats-refresh-test', poolSize: 1 });
      try {
        expect((await readCatalog(db)).standby).toBe(false);
      } finally {
        await db.destroy();
      }
    });
  });
});
