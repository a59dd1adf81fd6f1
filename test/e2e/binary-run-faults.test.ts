/**
 * Behaviour under faults, on the real services: every case checks the exit code, the
 * summary, and that no key holds a wrong value (a key is either absent, untouched, or
 * exactly the API's entry).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { goldenValue } from '../helpers/golden.js';
import { runCli, startCli, summaryOf } from '../helpers/cli.js';
import {
  GOLDEN_NOW,
  adminQuery,
  databaseFromTemplate,
  goldenTemplate,
  readKeys,
  slowDown,
  type TestDatabase,
} from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';


const PASSWORD = 'hunter2secret';
const LOCK_KEY = 'stats_refresh:lock:dashboard';

let slow: TestDatabase;
let slowUrl: string;
let server: RedisServer;
let redis: TestRedisClient;
let REDIS: string;

/** Every stats_service key present holds exactly the API's value. */
async function expectOnlyCorrectValues(): Promise<number> {
  const written = await readKeys(redis, 'stats_service:*');
  for (const [key, value] of written) expect(JSON.parse(value), key).toStrictEqual(goldenValue(key));
  return written.size;
}

beforeAll(async () => {
  slow = await databaseFromTemplate(goldenTemplate(), 'faults');
  // Every statement on execution takes 2 s more: runs last long enough to act on.
  await slowDown(slow, 'execution', 2);
  slowUrl = slow.url.replace('postgres@', `postgres:${PASSWORD}@`);
  server = await RedisServer.start();
  redis = await server.client();
  REDIS = server.url();
});

afterAll(async () => {
  await redis?.close();
  await server?.stop();
  await slow?.drop();
});

afterEach(async () => {
  await redis.flushdb();
});

describe('overlapping runs of one family', () => {
  it('the second run skips the family (exit 0) while the first computes and writes', async () => {
    // One statement at a time: the first run holds its lock for several seconds.
    const first = startCli(['refresh', 'dashboard', '--now', GOLDEN_NOW, '--concurrency', '1'], {
      DATABASE_URL: slowUrl,
      REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on',
    });
    await first.waitForLog('refresh started');
    expect(await redis.exists(LOCK_KEY)).toBe(1);

    const second = await runCli(['refresh', 'dashboard', '--now', GOLDEN_NOW], { DATABASE_URL: slowUrl, REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on' });
    expect(second.code).toBe(0);
    expect(summaryOf(second)).toMatchObject({ total_refreshed: 0, skipped: ['dashboard'], cache_keys: [] });
    expect(second.logs.some((log) => log.msg === 'family skipped: another run holds its lock')).toBe(true);

    const done = await first.done;
    expect(done.code).toBe(0);
    expect(summaryOf(done)).toMatchObject({ successful: 12, failed: 0 });
    expect(await expectOnlyCorrectValues()).toBe(27);
    expect(await redis.exists(LOCK_KEY)).toBe(0);
  });

  it('with --wait-lock the second run waits for the lock, then refreshes', async () => {
    const first = startCli(['refresh', 'dashboard', '--now', GOLDEN_NOW], { DATABASE_URL: slowUrl, REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on' });
    await first.waitForLog('refresh started');
    const second = await runCli(['refresh', 'dashboard', '--now', GOLDEN_NOW, '--wait-lock'], {
      DATABASE_URL: slowUrl,
      REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on',
    });
    expect((await first.done).code).toBe(0);
    expect(second.code).toBe(0);
    expect(summaryOf(second)).toMatchObject({ successful: 12 });
    expect(summaryOf(second).skipped).toBeUndefined();
  });

  it('a lock whose holder was killed with SIGKILL expires and the next run proceeds', async () => {
    const holder = startCli(['refresh', 'dashboard', '--now', GOLDEN_NOW, '--lock-ttl', '4', '--concurrency', '1'], {
      DATABASE_URL: slowUrl,
      REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on',
    });
    await holder.waitForLog('refresh started');
    holder.child.kill('SIGKILL');
    expect((await holder.done).signal).toBe('SIGKILL');
    expect(await redis.exists(LOCK_KEY)).toBe(1);
    expect(await redis.pttl(LOCK_KEY)).toBeLessThanOrEqual(4000);

    const meanwhile = await runCli(['refresh', 'dashboard', '--now', GOLDEN_NOW], { DATABASE_URL: slowUrl, REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on' });
    expect(summaryOf(meanwhile).skipped).toEqual(['dashboard']);

    await new Promise((resolve) => setTimeout(resolve, 4_200));
    const next = await runCli(['refresh', 'dashboard', '--now', GOLDEN_NOW], { DATABASE_URL: slowUrl, REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on' });
    expect(next.code).toBe(0);
    expect(summaryOf(next)).toMatchObject({ successful: 12 });
    expect(await expectOnlyCorrectValues()).toBe(27);
  });
});

describe('signals', () => {
  it('SIGTERM mid-run: no new statement starts, finished configs are written whole, exit 143', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--concurrency', '1'], {
      DATABASE_URL: slowUrl,
      REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on',
    });
    await run.waitForLog('refresh started');
    await new Promise((resolve) => setTimeout(resolve, 500));
    run.child.kill('SIGTERM');
    const done = await run.done;
    expect(done.code).toBe(143);
    const summary = summaryOf(done);
    expect(summary.interrupted).toBe('SIGTERM');
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.successful + summary.failed).toBe(26);
    expect(done.logs.some((log) => log.msg === 'shutdown requested: finishing in-flight work')).toBe(true);
    // With one statement at a time, the statements after the one in flight never started.
    const statements = done.logs.filter((log) => log.msg === 'query done' || log.msg === 'query failed');
    expect(statements.length).toBeLessThan(8);
    expect(await expectOnlyCorrectValues()).toBe(summary.cache_keys.length);
    expect(await redis.exists('stats_refresh:lock:users')).toBe(0);
  });

  it('a second signal exits at once', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--grace-period', '60'], {
      DATABASE_URL: slowUrl,
      REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on',
    });
    await run.waitForLog('refresh started');
    const started = Date.now();
    run.child.kill('SIGINT');
    await run.waitForLog('shutdown requested: finishing in-flight work');
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code).toBe(130);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await expectOnlyCorrectValues()).toBeGreaterThanOrEqual(0);
  });
});

describe('PostgreSQL faults', () => {
  it('a statement over --statement-timeout fails its configs only', async () => {
    const usersSlow = await databaseFromTemplate(goldenTemplate(), 'timeout');
    try {
      await slowDown(usersSlow, 'user', 3);
      const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW, '--statement-timeout', '1'], {
        DATABASE_URL: usersSlow.url,
        REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on',
      });
      expect(run.code).toBe(1);
      const summary = summaryOf(run);
      for (const failure of summary.failures) expect(failure.error).toMatch(/statement timeout/);
      // Trends-only and tasks-only dashboards read no user table.
      expect(summary.cache_keys).toContain('stats_service:get_dashboard_stats:include=trends_period=all');
      expect(summary.cache_keys).toContain('stats_service:get_dashboard_stats:include=tasks_period=all');
      expect(summary.failed).toBeGreaterThan(0);
      expect(run.logs.some((log) => log.msg === 'query retried')).toBe(false);
      expect(await expectOnlyCorrectValues()).toBe(summary.cache_keys.length);
    } finally {
      await usersSlow.drop();
    }
  });

  it('a backend terminated mid-statement (57P01) is retried and the run succeeds', async () => {
    const run = startCli(['refresh', 'executions', '--now', GOLDEN_NOW], { DATABASE_URL: slowUrl, REDIS_URL: REDIS, STATS_REFRESH_FORCE: 'on' });
    await run.waitForLog('refresh started');
    await new Promise((resolve) => setTimeout(resolve, 700));
    const { rows } = await adminQuery(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE application_name = 'stats-refresh' AND datname = '${slow.name}' AND state = 'active'`,
    );
    expect(rows.length).toBeGreaterThan(0);
    const done = await run.done;
    expect(done.code).toBe(0);
    expect(done.logs.some((log) => log.msg === 'query retried')).toBe(true);
    expect(await expectOnlyCorrectValues()).toBe(8);
  });
});

describe('Redis faults', () => {
  it('Redis lost in the middle of a run: exit 1, every config reported, nothing wrong written', async () => {
    const privateRedis = await RedisServer.start();
    try {
      const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW], {
        DATABASE_URL: slowUrl, STATS_REFRESH_FORCE: 'on',
        REDIS_URL: privateRedis.url(0),
      });
      await run.waitForLog('refresh started');
      await privateRedis.stop();
      const done = await run.done;
      expect(done.code).toBe(1);
      const summary = summaryOf(done);
      expect(summary).toMatchObject({ successful: 0, failed: 26, cache_keys: [] });
      expect(summary.failures.every((failure) => /write failed/.test(failure.error))).toBe(true);
      // In the operator's words, not ioredis's ("Stream isn't writeable and enableOfflineQueue options is false").
      expect(summary.failures.every((failure) => /the connection to Redis was lost$/.test(failure.error))).toBe(true);
      expect(done.stdout + done.stderr).not.toMatch(/enableOfflineQueue|Stream isn't writeable/);
      expect(done.stdout + done.stderr).not.toContain(PASSWORD);
    } finally {
      await privateRedis.stop();
    }
  });

  it('no secret in any output of these faults', async () => {
    const run = await runCli(['refresh', 'all'], {
      DATABASE_URL: slowUrl.replace(':5432/', ':1/'),
      REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:1/0`,
    });
    expect(run.code).toBe(3);
    expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  });
});
