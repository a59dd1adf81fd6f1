/**
 * What schedule's runs read besides the rows, kept between runs (src/state/run-reads.ts), on the
 * real PostgreSQL and Redis: a run after time alone passed sends no statement and writes what a
 * run from scratch writes at that instant; after a change the probe sees (a script added or
 * renamed, an email edited then a run submitted, a column retyped, a user deleted) the next run
 * reads again and its payloads are a fresh run's; the drift check reads the change counters
 * afresh whenever it judges with them.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { createLogger, type Logger } from '../../src/io/logger.js';
import { noReporter } from '../../src/io/reporter.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { probeChanges } from '../../src/pass/change-probe.js';
import { FAMILIES, requestsFor } from '../../src/requests/batches.js';
import { parseRequest } from '../../src/requests/request.js';
import { type RefreshDeps, runRefresh } from '../../src/run/refresh-run.js';
import { MemoryState } from '../../src/state/memory-state.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { GOLDEN_NOW } from '../helpers/services.js';

const requests = requestsFor([...FAMILIES]).map((request) => ({ request, origin: 'batch' as const }));
const NO_RETRY = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const HOUR_MS = 3_600_000;
const DRIFT = { onDrift: 'yield' as const, apiTtlMs: 300_000, ourTtlMs: 300_000 };

/** A logger that keeps the name of every statement that ended (the load's debug line). */
function statementLogger(): { logger: Logger; statements: string[] } {
  const statements: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { msg?: string; query?: string };
        if (entry.msg === 'query done' || entry.msg === 'query failed') statements.push(entry.query!);
      },
    },
  ) as unknown as Logger;
  return { logger, statements };
}

describe('what runs read besides the rows, kept between runs', () => {
  const services = useGoldenServices('run_reads', { emptyRedisBeforeEach: false });
  let connections: ReturnType<typeof createDb>;
  let clock = 0;
  let state: MemoryState;
  let now = Date.parse(GOLDEN_NOW);

  beforeAll(async () => {
    const { url } = services.database;
    // Users deleted while their runs stay (the API's join then leaves them out of the top lists).
    await services.database.query('ALTER TABLE execution DROP CONSTRAINT IF EXISTS execution_user_id_fkey');
    await services.database.query('ALTER TABLE script DROP CONSTRAINT IF EXISTS script_user_id_fkey');
    connections = createDb({ url, tls: parsePostgresTls(url, 'DATABASE_URL'), applicationName: 'stats-refresh-run-reads', poolSize: 2 });
    state = new MemoryState({
      db: connections.db,
      pool: connections.pool,
      clock: () => clock,
      reconcileIntervalMs: 1000 * HOUR_MS,
      probe: () => probeChanges(connections.pool),
    });
  });

  afterAll(async () => {
    await connections?.db.destroy();
  });

  /** Probes as the change loop does right before a run, and hands the state what it saw. */
  const probe = async () => {
    clock += 61_000;
    state.observe(await probeChanges(connections.pool));
  };

  /** A dry run at `now`, from memory or from scratch, with the statements it sent by name. */
  const dryRun = async (memory: boolean, extra: readonly string[] = []) => {
    const { logger, statements } = statementLogger();
    const asked = [...requests, ...extra.map((text) => ({ request: parseRequest(text).request, origin: 'request' as const }))];
    const run = await runRefresh(
      { command: 'test', requests: asked, families: [...FAMILIES], now: new Date(now), ttlSeconds: 300, concurrency: 2, dryRun: true, retry: NO_RETRY },
      { db: connections.db, pool: connections.pool, cache: null, logger, reporter: noReporter, secrets: [], ...(memory ? { memory: state } : {}) },
    );
    return { run, statements, payloads: Object.fromEntries(run.payloads!), failed: run.results.filter((result) => result.error !== null).map((result) => result.label).sort() };
  };

  /** A run from memory after a probe, and one from scratch at the same instant: their payloads and failures are equal. */
  const memoryRun = async (extra: readonly string[] = []) => {
    await probe();
    const fromMemory = await dryRun(true, extra);
    const fresh = await dryRun(false, extra);
    expect(fromMemory.failed).toEqual(fresh.failed);
    expect(fromMemory.payloads).toEqual(fresh.payloads);
    return fromMemory;
  };

  /** Waits (bounded) until the statistics show `table`'s delete counter past `after`. */
  const deletesPast = async (table: string, after: bigint) => {
    for (let attempt = 0; attempt < 200; attempt++) {
      if ((await deletes(table)) > after) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the delete counter of ${table} did not move`);
  };
  const deletes = async (table: string) =>
    BigInt((await services.database.query(`SELECT pg_stat_get_tuples_deleted(to_regclass($1))::text AS value`, [table])).rows[0].value);

  /** A run submitted now by a user who already ran (a change the probe sees). */
  const submitRun = () =>
    services.database.query(
      `INSERT INTO execution (id, start_date, status, progress, script_id, user_id)
       SELECT gen_random_uuid(), $1::timestamptz AT TIME ZONE 'UTC', 'PENDING', 0, script_id, user_id FROM execution WHERE user_id IS NOT NULL LIMIT 1`,
      [new Date(now).toISOString()],
    );

  /** The user with the most runs: first in the all-time top list. */
  const topUser = async () =>
    (
      await services.database.query(
        `SELECT u.id::text AS id, u.email FROM "user" u JOIN execution e ON e.user_id = u.id GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1`,
      )
    ).rows[0] as { id: string; email: string };

  it('a run after time alone passed sends no statement, and writes what a run from scratch writes at that instant', async () => {
    const first = await memoryRun();
    expect(state.lastSync).toBe('reload');
    expect(first.statements).toEqual(expect.arrayContaining(['catalog', 'scripts', 'execution_rows', 'user_rows', 'top_user_emails']));
    const reused = { ...state.reads.reused };
    for (const stepMs of [1_000, HOUR_MS, 24 * HOUR_MS]) {
      now += stepMs;
      const quiet = await memoryRun();
      expect(state.lastSync).toBe('unchanged');
      // A day on, other users may rank: only their emails are read.
      expect(quiet.statements.filter((name) => name !== 'top_user_emails'), `statements after +${stepMs} ms`).toEqual([]);
      if (stepMs <= HOUR_MS) expect(quiet.run.statements).toBe(0);
      expect(quiet.run.statements).toBe(quiet.statements.length);
    }
    expect(state.reads.reused.catalog - reused.catalog).toBe(3);
    expect(state.reads.reused.scripts - reused.scripts).toBe(3);
    expect(state.reads.reused.emails - reused.emails).toBe(3);
  });

  it('a script renamed, or added with a run of it: the next run reads the scripts again', async () => {
    await memoryRun();
    const { rows } = await services.database.query(
      `SELECT script_id::text AS id FROM execution WHERE script_id IS NOT NULL GROUP BY script_id ORDER BY count(*) DESC LIMIT 1`,
    );
    await services.database.query(`UPDATE script SET slug = 'renamed-by-test-1-0-0' WHERE id = $1`, [(rows[0] as { id: string }).id]);
    const renamed = await memoryRun();
    expect(renamed.statements).toContain('scripts');
    expect(JSON.stringify(renamed.payloads)).toContain('renamed-by-test');
    now += HOUR_MS;
    expect((await memoryRun()).statements).not.toContain('scripts');
    // Other task types (another plan shape): the table is the same, its LIKE filters are not.
    expect((await memoryRun(['executions?period=last_week&group_by=day&task_type=renamed', 'executions?period=all&group_by=month&task_type=sdg'])).statements).toContain('scripts');
    expect((await memoryRun()).statements).not.toContain('scripts');

    const script = '5c1e0000-0000-4000-8000-00000000a001';
    await services.database.query(`INSERT INTO script (id, name, slug, status, public, created_at) VALUES ($1, 'added', 'added-by-test-2-0-0', 'SUCCESS', true, now())`, [script]);
    await services.database.query(
      `INSERT INTO execution (id, start_date, end_date, status, progress, script_id, user_id)
       SELECT gen_random_uuid(), $1::timestamptz AT TIME ZONE 'UTC', $1::timestamptz AT TIME ZONE 'UTC', 'FINISHED', 100, $2, user_id FROM execution WHERE user_id IS NOT NULL LIMIT 1`,
      [new Date(now - 60_000).toISOString(), script],
    );
    const added = await memoryRun();
    expect(added.statements).toContain('scripts');
    expect(JSON.stringify(added.payloads)).toContain('added-by-test');
  });

  it("an email edited shows at the next change run (not before: the probe cannot see it), a deleted user's never again", async () => {
    await memoryRun();
    const user = await topUser();
    await services.database.query(`UPDATE "user" SET email = 'edited-by-test@example.org' WHERE id = $1`, [user.id]);
    // Time alone, as far as the probe sees: the email kept, the run from scratch shows the edit.
    now += 1_000;
    await probe();
    const kept = await dryRun(true);
    expect(state.lastSync).toBe('unchanged');
    expect(kept.run.statements).toBe(0);
    expect(JSON.stringify(kept.payloads)).toContain(user.email);
    expect(JSON.stringify((await dryRun(false)).payloads)).toContain('edited-by-test@example.org');
    // A change run reads every email again.
    await submitRun();
    const changed = await memoryRun();
    expect(state.lastSync).toBe('incremental');
    expect(changed.statements).toContain('top_user_emails');
    expect(JSON.stringify(changed.payloads)).toContain('edited-by-test@example.org');
    expect(JSON.stringify(changed.payloads)).not.toContain(user.email);

    // Deleted, their runs kept: the API's join leaves them out; the delete counter moves the fingerprint.
    const before = await deletes('user');
    await services.database.query(`DELETE FROM "user" WHERE id = $1`, [user.id]);
    await deletesPast('user', before);
    const deleted = await memoryRun();
    expect(state.lastSync).toBe('reload');
    expect(JSON.stringify(deleted.payloads)).not.toContain('edited-by-test@example.org');
    now += HOUR_MS;
    const after = await memoryRun();
    expect(state.lastSync).toBe('unchanged');
    expect(after.run.statements).toBe(0);
    expect(JSON.stringify(after.payloads)).not.toContain('edited-by-test@example.org');
  });

  it('a column retyped: the next run reads the catalog again and refuses the column as a fresh run does', async () => {
    await memoryRun();
    now += HOUR_MS;
    expect((await memoryRun()).statements).not.toContain('catalog');
    // character(n) is not read as text (docs/drift.md): the requests reading the country fail.
    await services.database.query('ALTER TABLE "user" ALTER COLUMN country TYPE character(60)');
    const retyped = await memoryRun();
    expect(retyped.statements).toContain('catalog');
    expect(retyped.failed.length).toBeGreaterThan(0);
    now += HOUR_MS;
    const quiet = await memoryRun();
    expect(quiet.statements).not.toContain('catalog');
    expect(quiet.failed).toEqual(retyped.failed);
    await services.database.query('ALTER TABLE "user" ALTER COLUMN country TYPE text');
    const back = await memoryRun();
    expect(back.statements).toContain('catalog');
    expect(back.failed).toEqual([]);
  });

  it('a column retyped after the probe and back before the next: the catalog read carries its own digest, so the quiet run after reads it again', async () => {
    await memoryRun();
    await submitRun();
    await probe();
    // Read after the probe that did not see it: the catalog refuses the column (the email, which
    // the rows in memory do not hold: the top lists fail).
    await services.database.query('ALTER TABLE "user" ALTER COLUMN email TYPE character(200)');
    const raced = await dryRun(true);
    expect(raced.statements).toContain('catalog');
    expect(raced.failed.length).toBeGreaterThan(0);
    await services.database.query('ALTER TABLE "user" ALTER COLUMN email TYPE character varying(120)');
    // The probe sees what it saw before the run: time alone, as far as it can tell.
    const after = await memoryRun();
    expect(state.lastSync).toBe('unchanged');
    expect(after.statements).toContain('catalog');
    expect(after.statements.filter((name) => name !== 'catalog' && name !== 'top_user_emails')).toEqual([]);
    expect(after.failed).toEqual([]);
  });

  describe('with the drift check', () => {
    /** A run from memory that writes and checks drift, with the statements it sent by name. */
    const checkedRun = async () => {
      await probe();
      const { logger, statements } = statementLogger();
      const run = await runRefresh(
        { command: 'test', requests, families: [...FAMILIES], now: new Date(now), ttlSeconds: 300, concurrency: 2, dryRun: false, drift: DRIFT, retry: NO_RETRY },
        {
          db: connections.db,
          pool: connections.pool,
          cache: services.redis as unknown as RefreshDeps['cache'],
          logger,
          reporter: noReporter,
          secrets: [],
          memory: state,
        },
      );
      expect(run.results.filter((result) => result.error !== null)).toEqual([]);
      return { run, statements };
    };
    const samples = () => services.redis.hlen('stats_refresh:counters');

    it('with nothing to judge, a time-only run reads nothing and leaves no counter sample; with an API key to compare, it reads the catalog afresh and samples it', async () => {
      await services.redis.flushdb();
      await checkedRun();
      now += 1_000;
      const sampled = await samples();
      const quiet = await checkedRun();
      expect(state.lastSync).toBe('unchanged');
      expect(quiet.statements).toEqual([]);
      expect(await samples()).toBe(sampled);

      // One of our keys, as though the API had written it (no metadata of ours): compared, its
      // difference (none here) judged with counters read now.
      const key = (await services.redis.hkeys('stats_refresh:keys')).find((name) => name.includes('get_execution_stats'))!;
      const value = (await services.redis.get(key))!;
      await services.redis.set(key, value, 'EX', 250);
      await services.redis.hdel('stats_refresh:keys', key);
      now += 1_000;
      const judged = await checkedRun();
      expect(state.lastSync).toBe('unchanged');
      expect(judged.statements).toContain('catalog');
      expect(judged.statements.filter((name) => name !== 'top_user_emails' && name !== 'catalog')).toEqual([]);
      expect(await samples()).toBe(sampled + 1);
      const counters = JSON.parse((await services.redis.hget('stats_refresh:counters', new Date(now).toISOString()))!) as Record<string, string | null>;
      expect(Object.values(counters).every((counter) => counter !== null && /^\d+$/.test(counter))).toBe(true);

      // A run whose probe shows a change reads the catalog and samples, whatever the drift check holds.
      await services.redis.del(key);
      await submitRun();
      now += 1_000;
      const changed = await checkedRun();
      expect(state.lastSync).toBe('incremental');
      expect(changed.statements).toContain('catalog');
      expect(await samples()).toBe(sampled + 2);
    });
  });
});
