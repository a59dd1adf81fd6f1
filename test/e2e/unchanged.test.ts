/**
 * One-shot `refresh` with nothing changed (src/run/unchanged.ts), on a copy of the golden
 * database and a redis-server of its own, through the binary: a second run with the data
 * unchanged and `now` within the stored horizon only renews TTLs, in at most 2 statements
 * (the reachability check and the probe) and with no table read; anything else computes,
 * and then every covered key equals a from-scratch `refresh --dry-run --now` at the same
 * instant. The horizon's edge is checked against PostgreSQL itself, to the microsecond.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_STATE_KEY, parseDataState } from '../../src/io/data-state.js';
import { probeAt } from '../../src/pass/change-probe.js';
import { coveredKeys } from '../../src/requests/covered.js';
import type { RefreshSummary } from '../../src/run/results.js';
import { runCli, summaryOf } from '../helpers/cli.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { adminQuery, GOLDEN_NOW } from '../helpers/services.js';

const services = useGoldenServices('unchanged');
const T0 = Date.parse(GOLDEN_NOW);
const at = (ms: number) => new Date(ms).toISOString();

let api: pg.Client;
beforeAll(async () => {
  // Autovacuum would add transactions of its own to the database's counters.
  await services.database.query('ALTER TABLE execution SET (autovacuum_enabled = false); ALTER TABLE "user" SET (autovacuum_enabled = false); ALTER TABLE script SET (autovacuum_enabled = false)');
  api = new pg.Client({ connectionString: services.database.url });
  await api.connect();
});
afterAll(async () => {
  await api?.end();
});

/** Runs `sql` as the API would, then publishes the session's statistics (the probe's counters read them). */
async function apiWrites(sql: string, values: unknown[] = []): Promise<void> {
  await api.query(sql, values);
  await api.query('SELECT pg_stat_force_next_flush()');
}

async function refresh(args: string[], env: Record<string, string> = {}): Promise<RefreshSummary> {
  const run = await runCli(['refresh', ...args], { ...services.env, ...env });
  expect(run.code, run.stderr).toBe(0);
  return summaryOf(run);
}

/** The payloads a from-scratch run computes at `now`, by key. */
async function fromScratch(now: string): Promise<Record<string, unknown>> {
  const run = await runCli(['refresh', 'all', '--dry-run', '--now', now], { DATABASE_URL: services.database.url });
  expect(run.code, run.stderr).toBe(0);
  return summaryOf(run).payloads!;
}

async function coveredValues(): Promise<Map<string, string | null>> {
  const keys = [...coveredKeys().keys()];
  const values = await services.redis.mget(keys);
  return new Map(keys.map((key, index) => [key, values[index] ?? null]));
}

async function expectEveryKeyAsFromScratch(now: string): Promise<void> {
  const expected = await fromScratch(now);
  for (const [key, value] of await coveredValues()) {
    expect(value, key).not.toBeNull();
    expect(JSON.parse(value!), key).toEqual(expected[key]);
  }
}

/**
 * Statements run on the test database (its transactions, less the one each new session runs
 * to start: every statement of ours is a transaction of its own), read from another database
 * so that reading adds none, and sequential scans of execution and "user" (read on it: that
 * read's one statement shows in the next call's count, as READ_COST), once every session on
 * it has ended: a backend publishes its counts when it exits, before it leaves pg_stat_activity.
 */
async function databaseCounters(): Promise<{ statements: number; seqScans: number }> {
  const name = services.database.name;
  for (let attempt = 0; ; attempt++) {
    const { rows } = await adminQuery(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = '${name}'`);
    if (rows[0].n <= 1) break; // the API's session of this file, idle
    if (attempt > 200) throw new Error('sessions on the test database did not end');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const own = await adminQuery(`SELECT (xact_commit + xact_rollback - sessions)::text AS n FROM pg_stat_database WHERE datname = '${name}'`);
  const scans = await services.database.query(`SELECT sum(seq_scan)::text AS n FROM pg_stat_user_tables WHERE relname IN ('execution', 'user')`);
  return { statements: Number(own.rows[0].n), seqScans: Number(scans.rows[0].n) };
}
const READ_COST = 1;

async function storedStates() {
  const stored = await services.redis.hgetall(DATA_STATE_KEY);
  return Object.fromEntries(Object.entries(stored).map(([family, text]) => [family, parseDataState(text)!]));
}

const UNCHANGED = { dashboard: expect.any(Object), executions: expect.any(Object), users: expect.any(Object) };

describe('nothing changed', () => {
  it('renews the TTLs of every key, values untouched, in 2 statements and no table read; exit 0', async () => {
    const first = await refresh(['all', '--now', GOLDEN_NOW]);
    expect(first.unchanged).toBeUndefined();
    for (const key of coveredKeys().keys()) await services.redis.expire(key, 40);
    const before = await coveredValues();
    const computedAgain = await databaseCounters();
    // The measure can fail: a run that computes shows in both counters (the stored state
    // forgotten, it computes, and stores its state again).
    await services.redis.del(DATA_STATE_KEY);
    expect((await refresh(['all', '--now', GOLDEN_NOW])).total_refreshed).toBe(26);
    const counted = await databaseCounters();
    expect(counted.statements - computedAgain.statements - READ_COST).toBeGreaterThan(2);
    expect(counted.seqScans).toBeGreaterThan(computedAgain.seqScans);
    for (const key of coveredKeys().keys()) await services.redis.expire(key, 40);

    const second = await runCli(['refresh', 'all', '--now', at(T0 + 60_000)], services.env);
    expect(second.code).toBe(0);
    const summary = summaryOf(second);
    const after = await databaseCounters();
    expect(summary).toMatchObject({ total_refreshed: 0, failed: 0, cache_keys: [], statements: 1, unchanged: UNCHANGED });
    expect(summary.unchanged!.users).toEqual({ as_of: '2026-06-15T12:34:56.000Z', valid_until: expect.any(String), keys: 11 });
    // The reachability check's SELECT 1 and the probe.
    expect(after.statements - counted.statements - READ_COST).toBe(2);
    expect(after.seqScans).toBe(counted.seqScans);
    expect(second.logs.filter((log) => log.msg === 'family unchanged: keys renewed, no table read').map((log) => log.family)).toEqual([
      'dashboard',
      'executions',
      'users',
    ]);
    expect(await coveredValues()).toEqual(before);
    for (const key of coveredKeys().keys()) expect(await services.redis.ttl(key), key).toBeGreaterThan(250);
  });

  it('computes once now is past the stored horizon, and at the horizon itself does not', async () => {
    await refresh(['all', '--now', GOLDEN_NOW]);
    const { users } = await storedStates();
    const horizon = Date.parse(users!.valid_until!);
    expect(horizon).toBeGreaterThan(T0);
    expect((await refresh(['all', '--now', at(horizon)])).unchanged).toEqual(UNCHANGED);
    const past = await refresh(['all', '--now', at(horizon + 1)]);
    expect(past.unchanged).toBeUndefined();
    expect(past.total_refreshed).toBe(26);
    await expectEveryKeyAsFromScratch(at(horizon + 1));
  });

  it('--force and STATS_REFRESH_FORCE compute; so does a --now before the stored instant', async () => {
    await refresh(['all', '--now', GOLDEN_NOW]);
    expect((await refresh(['all', '--now', GOLDEN_NOW, '--force'])).total_refreshed).toBe(26);
    expect((await refresh(['all', '--now', GOLDEN_NOW], { STATS_REFRESH_FORCE: 'on' })).total_refreshed).toBe(26);
    // A forced run neither probes nor stores a state: the next run computes, the one after keeps.
    expect(await services.redis.hlen(DATA_STATE_KEY)).toBe(0);
    expect((await refresh(['all', '--now', at(T0 + 1000)])).total_refreshed).toBe(26);
    expect((await refresh(['all', '--now', at(T0 + 2000)])).unchanged).toEqual(UNCHANGED);
    const earlier = await refresh(['all', '--now', at(T0 - 1)]);
    expect(earlier.unchanged).toBeUndefined();
    await expectEveryKeyAsFromScratch(at(T0 - 1));
  });

  it('a key deleted: its family computes, the others are kept', async () => {
    await refresh(['all', '--now', GOLDEN_NOW]);
    await services.redis.del('stats_service:get_user_stats:country=none_group_by=month_period=all');
    const deleted = await refresh(['all', '--now', GOLDEN_NOW]);
    expect(Object.keys(deleted.unchanged!)).toEqual(['dashboard', 'executions']);
    expect(deleted.total_refreshed).toBe(6);
    await expectEveryKeyAsFromScratch(GOLDEN_NOW);
    expect((await refresh(['all', '--now', GOLDEN_NOW])).unchanged).toEqual(UNCHANGED);
  });

  it('a dry run neither uses nor stores the state', async () => {
    await refresh(['all', '--now', GOLDEN_NOW]);
    const before = await services.redis.hgetall(DATA_STATE_KEY);
    const dry = await refresh(['all', '--now', GOLDEN_NOW, '--dry-run']);
    expect(dry.unchanged).toBeUndefined();
    expect(dry.total_refreshed).toBe(26);
    expect(await services.redis.hgetall(DATA_STATE_KEY)).toEqual(before);
  });
});

/** Instants after everything in the golden data and before GOLDEN_NOW, as the API's naive UTC. */
let seconds = 0;
function recently(): string {
  seconds += 1;
  return new Date(T0 - 60_000 + seconds * 1000).toISOString().replace('T', ' ').replace('Z', '');
}

async function one<T>(sql: string, values: unknown[] = []): Promise<T> {
  const { rows } = await api.query(sql, values);
  if (rows.length === 0) throw new Error(`no row: ${sql}`);
  return rows[0] as T;
}

const someScript = async () => (await one<{ id: string }>('SELECT id FROM script ORDER BY slug LIMIT 1')).id;
const someUser = async () => (await one<{ id: string }>('SELECT id FROM "user" ORDER BY created_at LIMIT 1')).id;

async function submit(status: string, start: string, end: string | null = null): Promise<void> {
  await apiWrites(
    `INSERT INTO execution (id, start_date, end_date, status, progress, params, results, script_id, user_id)
     VALUES (gen_random_uuid(), $1, $2, $3, 0, '{}', '{}', $4, $5)`,
    [start, end, status, await someScript(), await someUser()],
  );
}

/** A run among the newest by start with this status. */
const recentRun = async (status: string) =>
  (await one<{ id: string }>('SELECT id FROM execution WHERE status = $1 ORDER BY start_date DESC NULLS LAST LIMIT 1', [status])).id;

const CHANGES: ReadonlyArray<readonly [string, () => Promise<void>]> = [
  ['a run submitted now', () => submit('PENDING', recently())],
  ['a run backfilled with old dates', () => submit('FINISHED', '2025-01-10 10:00:00', '2025-01-10 11:00:00')],
  ['a run dated in the future', () => submit('PENDING', '2026-09-01 00:00:00')],
  ['a status moving on', async () => apiWrites("UPDATE execution SET status = 'RUNNING' WHERE id = $1", [await recentRun('PENDING')])],
  ['an end date set', async () => apiWrites("UPDATE execution SET status = 'FINISHED', end_date = $2 WHERE id = $1", [await recentRun('RUNNING'), recently()])],
  ['an old run deleted', async () => apiWrites('DELETE FROM execution WHERE id = (SELECT id FROM execution WHERE start_date IS NOT NULL ORDER BY start_date OFFSET 10 LIMIT 1)')],
  [
    'a user registering',
    () =>
      apiWrites(
        `INSERT INTO "user" (id, email, name, country, password, created_at, updated_at, role)
         VALUES (gen_random_uuid(), 'new@example.org', 'New', 'Kenya', 'x', $1, $1, 'USER')`,
        [recently()],
      ),
  ],
  [
    'a user deleted with their runs',
    async () => {
      const { id } = await one<{ id: string }>('SELECT user_id AS id FROM execution WHERE user_id IS NOT NULL GROUP BY user_id ORDER BY count(*) LIMIT 1');
      await api.query('DELETE FROM execution WHERE user_id = $1', [id]);
      await apiWrites('DELETE FROM "user" WHERE id = $1', [id]);
    },
  ],
  [
    'a script added',
    () =>
      apiWrites(
        `INSERT INTO script (id, name, slug, created_at, updated_at, status, public)
         VALUES (gen_random_uuid(), 'New', 'new-task-1-0-0', $1, $1, 'SUCCESS', true)`,
        [recently()],
      ),
  ],
];

describe('after each kind of change', () => {
  it.each(CHANGES)('%s: the next run computes every family, and every key is as from scratch', async (_kind, change) => {
    await refresh(['all', '--now', GOLDEN_NOW]);
    // Nothing changed yet: kept.
    expect((await refresh(['all', '--now', GOLDEN_NOW])).unchanged).toEqual(UNCHANGED);
    await change();
    const after = await refresh(['all', '--now', GOLDEN_NOW]);
    expect(after.unchanged).toBeUndefined();
    expect(after.total_refreshed).toBe(26);
    await expectEveryKeyAsFromScratch(GOLDEN_NOW);
  });
});

describe('the validity horizon, against PostgreSQL', () => {
  /** The horizon the probe finds at GOLDEN_NOW. */
  const horizon = async () => (await probeAt(api, new Date(T0))).validUntil!.getTime();
  /** A naive UTC timestamp `micros` µs after GOLDEN_NOW. */
  const naive = (micros: number) => {
    const ms = Math.floor(micros / 1000);
    const rest = micros - ms * 1000;
    return `${new Date(T0 + ms).toISOString().replace('T', ' ').replace('Z', '')}${String(rest).padStart(3, '0')}`;
  };
  const DAY_US = 86_400_000_000;
  const YEAR_US = 365 * DAY_US;

  it.each([
    ['a start exactly on a millisecond', 'start', -DAY_US + 10_000, 10],
    ['a start 1 µs before it', 'start', -DAY_US + 9_999, 9],
    ['a start 1 µs after it', 'start', -DAY_US + 10_001, 10],
    ['an end on a millisecond', 'end', -7 * DAY_US + 20_000, 20],
    ['a registration 1 µs after a millisecond', 'user', -YEAR_US + 30_001, 30],
  ] as const)('%s: the last valid millisecond gives the same payloads as now, the next differs', async (_case, column, offsetUs, lastMs) => {
    await api.query('BEGIN');
    try {
      expect(await horizon()).toBeGreaterThan(T0 + 1000);
      if (column === 'user') {
        await api.query(
          `INSERT INTO "user" (id, email, name, country, password, created_at, updated_at, role)
           VALUES (gen_random_uuid(), 'edge@example.org', 'Edge', 'Chile', 'x', $1, $1, 'USER')`,
          [naive(offsetUs)],
        );
      } else if (column === 'start') {
        await api.query(
          `INSERT INTO execution (id, start_date, status, progress, params, results, script_id, user_id)
           VALUES (gen_random_uuid(), $1, 'FAILED', 0, '{}', '{}', $2, $3)`,
          [naive(offsetUs), await someScript(), await someUser()],
        );
      } else {
        // Started two years ago: only its end lies in a window.
        await api.query(
          `INSERT INTO execution (id, start_date, end_date, status, progress, params, results, script_id, user_id)
           VALUES (gen_random_uuid(), '2024-01-01', $1, 'FINISHED', 0, '{}', '{}', $2, $3)`,
          [naive(offsetUs), await someScript(), await someUser()],
        );
      }
      await api.query('COMMIT');
    } catch (error) {
      await api.query('ROLLBACK');
      throw error;
    }
    try {
      expect(await horizon()).toBe(T0 + lastMs);
      const [now, last, next] = await Promise.all([fromScratch(GOLDEN_NOW), fromScratch(at(T0 + lastMs)), fromScratch(at(T0 + lastMs + 1))]);
      expect(last).toEqual(now);
      expect(next).not.toEqual(now);
    } finally {
      await api.query(`DELETE FROM ${column === 'user' ? '"user"' : 'execution'} WHERE ${column === 'user' ? "email = 'edge@example.org'" : `${column === 'start' ? 'start_date' : 'end_date'} = $1`}`, [
        ...(column === 'user' ? [] : [naive(offsetUs)]),
      ]);
    }
  });
});
