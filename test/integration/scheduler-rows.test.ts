/**
 * schedule's change mode when it holds no rows in memory (at start, after a failed read): the
 * run reads as `refresh` does (its keys land as soon as a one-shot run's would), and the rows
 * are loaded right after it. A load that fails leaves no rows and the run counts as failed,
 * so the change loop tries again (backing off) until a load succeeds. Real PostgreSQL and Redis:
 * the change loop probes one golden copy, the rows are read from another, made unreachable
 * (ALLOW_CONNECTIONS) while the loads are to fail; the runs are the test's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, loadScheduleConfig } from '../../src/config.js';
import { createDb } from '../../src/io/db.js';
import { ScheduleMetrics } from '../../src/io/metrics.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { probeChanges } from '../../src/pass/change-probe.js';
import { FAMILIES, type Family } from '../../src/requests/batches.js';
import { coveredKeys } from '../../src/requests/covered.js';
import type { RefreshRun } from '../../src/run/results.js';
import { openRuntime, type RedisRuntime } from '../../src/run/runtime.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { MemoryState } from '../../src/state/memory-state.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { adminQuery, databaseFromTemplate, goldenTemplate, type TestDatabase } from '../helpers/services.js';

const START = Date.parse('2026-06-15T12:00:00Z');
const SECOND = 1000;

describe('schedule without rows in memory', () => {
  let server: RedisServer;
  let redis: TestRedisClient;
  let runtime: RedisRuntime;
  /** What the change loop probes, and what the rows are read from. */
  let probed: TestDatabase;
  let database: TestDatabase;
  let probedPools: ReturnType<typeof createDb>;
  let pools: ReturnType<typeof createDb>;
  let time = START;
  /** Whether rows were held when each run began (a run is handed them only then), in order. */
  const handed: boolean[] = [];

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = await server.client();
    runtime = await openRuntime(loadConfig({ redisUrl: server.url(), logLevel: process.env.TEST_LOG ?? 'silent' }, {}), { db: false, redis: true, longRunning: true });
    await runtime.checkReachable();
    probed = await databaseFromTemplate(goldenTemplate(), 'scheduler_probed');
    database = await databaseFromTemplate(goldenTemplate(), 'scheduler_rows');
    const open = (url: string) => createDb({ url, tls: parsePostgresTls(url, 'DATABASE_URL'), applicationName: 'stats-refresh-scheduler-rows', poolSize: 2 });
    probedPools = open(probed.url);
    pools = open(database.url);
  });

  afterAll(async () => {
    await pools?.db.destroy();
    await probedPools?.db.destroy();
    await adminQuery(`ALTER DATABASE "${database.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await database?.drop();
    await probed?.drop();
    await runtime?.close();
    await redis?.close();
    await server?.stop();
  });

  it('a run without rows reads as refresh does and loads them after; a failed load is tried again until one succeeds', async () => {
    const memory = new MemoryState({
      db: pools.db,
      pool: pools.pool,
      clock: () => time,
      reconcileIntervalMs: 3_600_000,
      probe: () => probeChanges(pools.pool),
    });
    // The test's runs write the covered keys, and note whether rows were held as they began.
    const runFamilies = async (families: readonly Family[], command: string, _signal: AbortSignal, now: Date): Promise<RefreshRun> => {
      handed.push(memory.holdsRows);
      for (const [key, family] of coveredKeys()) if (families.includes(family)) await redis.set(key, '{}', 'EX', 300);
      return {
        command, now, startedAt: now, dryRun: false, ttlSeconds: 300, durationMs: 10, statements: 4, families, skipped: [],
        dbMs: 0, interrupted: null, results: [], payloads: null, sha1: new Map(), drift: new Map(),
      };
    };
    const scheduler = new Scheduler({
      runtime,
      metrics: new ScheduleMetrics(FAMILIES),
      settings: loadScheduleConfig({ probeInterval: '1', checkInterval: '5' }, {}, () => new Date(START)),
      signal: new AbortController().signal,
      clock: () => time,
      runFamilies,
      // The change loop's probe, heard by the rows as schedule's own probe is.
      probe: async () => {
        const fingerprint = await probeChanges(probedPools.pool);
        memory.observe(fingerprint);
        return { key: JSON.stringify(fingerprint) };
      },
      memory,
    });
    const runFor = async (ms: number) => {
      for (const end = time + ms; time < end; ) {
        time += 250;
        await scheduler.claimLead();
        await scheduler.tick();
        await scheduler.settled();
      }
    };
    const refuse = async (refused: boolean) => {
      await adminQuery(`ALTER DATABASE "${database.name}" ALLOW_CONNECTIONS ${refused ? 'false' : 'true'}`);
      if (refused) await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database.name}'`);
    };
    try {
      // The rows' database refuses: the start run writes its keys, its load fails.
      await refuse(true);
      await scheduler.claimLead();
      await runFor(8 * SECOND);
      expect(handed[0]).toBe(false);
      // Each failed load made the run count as failed: tried again, backing off (1 s, 2 s, 4 s…).
      expect(handed.length).toBeGreaterThanOrEqual(3);
      expect(handed.length).toBeLessThanOrEqual(5);
      expect(handed.every((rows) => !rows)).toBe(true);
      expect(memory.holdsRows).toBe(false);

      // It answers again: the next try loads the rows, and the runs after are handed them.
      await refuse(false);
      await runFor(20 * SECOND);
      expect(memory.holdsRows).toBe(true);
      expect(memory.lastSync).toBe('reload');
      expect(memory.rows.executions).toBe(Number((await database.query('SELECT count(*) AS n FROM execution')).rows[0].n));
      const loadedAfter = handed.length;
      await probed.query(
        `INSERT INTO execution (id, start_date, status, progress, script_id, user_id)
         SELECT gen_random_uuid(), now() AT TIME ZONE 'UTC', 'PENDING', 0, script_id, user_id FROM execution WHERE user_id IS NOT NULL LIMIT 1`,
      );
      await runFor(5 * SECOND);
      expect(handed.length).toBe(loadedAfter + 1);
      expect(handed.at(-1)).toBe(true);
    } finally {
      await scheduler.stop();
    }
  });
});
