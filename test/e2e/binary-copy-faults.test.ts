/**
 * Faults in the middle of the COPY pass, on the real services: the `execution` table of a
 * golden copy streams slowly (every row waits), and each test acts once PostgreSQL reports
 * rows sent (pg_stat_progress_copy). Whatever happens, a key is either untouched or holds
 * exactly the API's value: nothing half-folded is ever written.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { goldenValue } from '../helpers/golden.js';
import { startCli, summaryOf } from '../helpers/cli.js';
import {
  GOLDEN_NOW,
  adminQuery,
  copyInProgress,
  databaseFromTemplate,
  goldenTemplate,
  readKeys,
  slowRows,
  type TestDatabase,
} from '../helpers/services.js';
import { RedisServer } from '../helpers/redis-server.js';
import { Redis as RedisClient } from 'ioredis';

let slow: TestDatabase;
let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  slow = await databaseFromTemplate(goldenTemplate(), 'copy_faults');
  // A pass takes about 5 s: long enough to act in, and to tell a cancelled COPY from one left running.
  await slowRows(slow, 'execution', 5);
  server = await RedisServer.start();
  redis = new RedisClient(server.url(0));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await slow?.drop();
});

beforeEach(async () => {
  await redis.flushdb();
});

const env = () => ({ DATABASE_URL: slow.url, REDIS_URL: server.url(0), LOG_LEVEL: 'debug' });

/** Every stats_service key present holds exactly the API's value; returns how many there are. */
async function expectOnlyCorrectValues(): Promise<number> {
  const written = await readKeys(redis, 'stats_service:*');
  for (const [key, value] of written) expect(JSON.parse(value), key).toStrictEqual(goldenValue(key));
  return written.size;
}

/** Statements of stats-refresh still running on the test database. */
async function activeStatements(): Promise<string[]> {
  const { rows } = await adminQuery(
    `SELECT query FROM pg_stat_activity WHERE datname = '${slow.name}' AND application_name = 'stats-refresh' AND state = 'active'`,
  );
  return rows.map((row) => String(row.query));
}

describe('the COPY pass under faults', () => {
  it('a backend terminated mid-COPY is retried whole, and every value is the API’s', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW], env());
    const pid = await copyInProgress(slow);
    await adminQuery(`SELECT pg_terminate_backend(${pid})`);
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    const retries = done.logs.filter((log) => log.msg === 'query retried');
    expect(retries.map((log) => log.query)).toContain('execution_pass');
    expect(summaryOf(done)).toMatchObject({ successful: 26, failed: 0 });
    // Counts folded before the termination and again after it would double: none do.
    expect(await expectOnlyCorrectValues()).toBe(41);
  });

  it('a statement timeout during the COPY fails the configs built on it, and is not retried', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--statement-timeout', '1'], env());
    const done = await run.done;
    expect(done.code).toBe(1);
    const summary = summaryOf(done);
    // Only the geographic-only dashboard reads no execution.
    expect(summary.successful).toBe(1);
    expect(summary.cache_keys.sort()).toEqual([
      'stats_service:_get_geographic_data:period=all',
      'stats_service:_get_geographic_data:period=last_day',
      'stats_service:_get_geographic_data:period=last_month',
      'stats_service:_get_geographic_data:period=last_week',
      'stats_service:_get_geographic_data:period=last_year',
      'stats_service:get_dashboard_stats:include=geographic_period=all',
    ]);
    for (const failure of summary.failures) expect(failure.error).toMatch(/query execution_pass failed: canceling statement due to statement timeout/);
    expect(done.logs.some((log) => log.msg === 'query retried')).toBe(false);
    expect(await expectOnlyCorrectValues()).toBe(6);
  });

  it('SIGTERM mid-COPY: past the grace period the COPY is cancelled on the server, nothing partial is written', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--grace-period', '1'], env());
    await copyInProgress(slow);
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const done = await run.done;
    expect(done.code).toBe(143);
    // Left running, the COPY would hold its connection, and the exit, for the seconds it has left.
    expect(Date.now() - signalled).toBeLessThan(3_500);
    expect(done.logs.some((log) => log.msg === 'forced exit: handles still open 5 s after the end')).toBe(false);
    const summary = summaryOf(done);
    expect(summary.interrupted).toBe('SIGTERM');
    expect(summary.failures.map((failure) => failure.error)).toContainEqual(expect.stringMatching(/not finished before shutdown \(SIGTERM\)/));
    // The process is gone and so is its statement: the server is not left reading for nobody.
    expect(await activeStatements()).toEqual([]);
    expect(await expectOnlyCorrectValues()).toBe(summary.cache_keys.length);
  });

  it('Redis lost during the pass: the pass completes, every write fails, exit 1', async () => {
    const lost = await RedisServer.start();
    try {
      const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW], { ...env(), REDIS_URL: lost.url(0) });
      await copyInProgress(slow);
      await lost.stop();
      const done = await run.done;
      expect(done.code).toBe(1);
      expect(done.logs.some((log) => log.msg === 'query done' && log.query === 'execution_pass')).toBe(true);
      const summary = summaryOf(done);
      expect(summary).toMatchObject({ successful: 0, failed: 26, cache_keys: [] });
      expect(summary.failures.every((failure) => /write failed/.test(failure.error))).toBe(true);
    } finally {
      await lost.stop();
    }
  });
});
