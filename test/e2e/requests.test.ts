/**
 * Requests beyond the batches, against the API's own entries: the golden fixture's 16
 * requests (status, task_type and country filters, include subsets, a group_by alias)
 * refreshed from a batch file into an empty Redis must give exactly the 22 entries the API
 * stored, in UTC and with the process and database session in America/Sao_Paulo. Then
 * learned coverage: keys the API wrote itself are learned, refreshed, listed and dropped.
 */
import { REQUESTS_EXPECTED } from '../helpers/golden.js';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';
import {
  GOLDEN_NOW,
  databaseFromTemplate,
  goldenTemplate,
  readKeys,
  type TestDatabase,
} from '../helpers/services.js';
import { RedisServer } from '../helpers/redis-server.js';

const REQUESTS_FILE = fileURLToPath(new URL('../fixtures/golden/requests.txt', import.meta.url));
const EXPECTED = REQUESTS_EXPECTED;
const EXPECTED_KEYS = Object.keys(EXPECTED).sort();

let server: RedisServer;

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  await server?.stop();
});

describe.each([
  { name: 'in UTC', redisDb: 1, timeZone: null },
  { name: 'with process and session in America/Sao_Paulo', redisDb: 2, timeZone: 'America/Sao_Paulo' },
])('the 16 golden requests from a batch file, $name', ({ redisDb, timeZone }) => {
  let database: TestDatabase;
  let redis: Redis;
  let written: Map<string, string>;
  let summary: ReturnType<typeof summaryOf>;

  beforeAll(async () => {
    database = await databaseFromTemplate(goldenTemplate(), 'requests');
    if (timeZone) await database.query(`ALTER DATABASE "${database.name}" SET timezone TO '${timeZone}'`);
    redis = new Redis(server.url(redisDb));
    const run = await runCli(['refresh', '--batch-file', REQUESTS_FILE, '--now', GOLDEN_NOW], {
      DATABASE_URL: database.url,
      REDIS_URL: server.url(redisDb),
      TZ: timeZone ?? 'UTC',
    });
    expect(run.messages, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    summary = summaryOf(run);
    written = await readKeys(redis, 'stats_service:*');
  });

  afterAll(async () => {
    redis?.disconnect();
    await database?.drop();
  });

  it('writes exactly the 22 keys the API stored (16 payloads, 6 sections)', () => {
    expect([...written.keys()].sort()).toEqual(EXPECTED_KEYS);
    expect(summary).toMatchObject({ total_refreshed: 16, successful: 16, failed: 0 });
  });

  it.each(EXPECTED_KEYS)('%s equals the API entry', (key) => {
    expect(JSON.parse(written.get(key) ?? 'null')).toStrictEqual(JSON.parse(EXPECTED[key]!.raw));
  });

  it('is byte-for-byte the API text wherever the API order is defined', () => {
    // Dict keys inside time_series follow PostgreSQL's hash order in the API.
    const mismatched = EXPECTED_KEYS.filter((key) => !key.includes('get_execution_stats') && written.get(key) !== EXPECTED[key]!.raw);
    expect(mismatched).toEqual([]);
  });
});

describe('learned coverage', () => {
  const LEARNED = 'stats_service:get_execution_stats:group_by=hour_period=last_week_status=none_task_type=urban';
  const MALFORMED = 'stats_service:get_execution_stats:group_by=15min_period=all_status=none_task_type=none';
  const STALE = '{"stale": true}';
  const hoursAfter = (hours: number) => new Date(Date.parse(GOLDEN_NOW) + hours * 3_600_000).toISOString();
  let database: TestDatabase;
  let redis: Redis;
  let env: Record<string, string>;
  const refresh = async (...args: string[]) => {
    const run = await runCli(['refresh', 'executions', ...args], { ...env, LOG_LEVEL: 'debug' });
    expect(run.code, run.stderr).toBe(0);
    return run;
  };
  const sighting = async () => JSON.parse((await redis.hget('stats_refresh:learned', LEARNED)) ?? 'null');

  beforeAll(async () => {
    database = await databaseFromTemplate(goldenTemplate(), 'learned');
    redis = new Redis(server.url(3));
    await redis.flushdb();
    // The placeholder values "the API" writes here are not its payloads: the drift check notices
    // (test/e2e/drift.test.ts is about that); here it only warns, and learning is tested.
    env = { DATABASE_URL: database.url, REDIS_URL: server.url(3), STATS_REFRESH_ON_DRIFT: 'warn' };
    // "The API" computed two misses itself: one request we can read back, one we cannot.
    await redis.set(LEARNED, STALE, 'EX', 300);
    await redis.set(MALFORMED, STALE, 'EX', 300);
  });

  afterAll(async () => {
    redis?.disconnect();
    await database?.drop();
  });

  it('--no-learn leaves an API-written key alone', async () => {
    const run = await refresh('--now', GOLDEN_NOW, '--no-learn');
    expect(summaryOf(run).total_refreshed).toBe(8);
    expect(await redis.get(LEARNED)).toBe(STALE);
    expect(await redis.exists('stats_refresh:learned')).toBe(0);
  });

  it('the next run of the family learns the key and overwrites it with the API’s value', async () => {
    const run = await refresh('--now', GOLDEN_NOW);
    expect(summaryOf(run)).toMatchObject({ total_refreshed: 9, successful: 9, learned: 1 });
    expect(JSON.parse((await redis.get(LEARNED))!)).toStrictEqual(JSON.parse(EXPECTED[LEARNED]!.raw));
    expect(await redis.ttl(LEARNED)).toBeGreaterThan(250);
    expect(await sighting()).toEqual({ first_seen: hoursAfter(0), last_seen: hoursAfter(0) });
  });

  it('ignores a key that does not read as a request the API accepts', async () => {
    expect(await redis.get(MALFORMED)).toBe(STALE);
    expect(await redis.hexists('stats_refresh:learned', MALFORMED)).toBe(0);
  });

  it('status lists the learned request, with when it lapses, and covers its key', async () => {
    const run = await runCli(['status', '--json', '--now', hoursAfter(1)], env);
    const status = JSON.parse(run.stdout);
    expect(status.learned).toEqual([
      { key: LEARNED, family: 'executions', first_seen: hoursAfter(0), last_seen: hoursAfter(0), lapses_at: hoursAfter(24) },
    ]);
    expect(status.covered.find((row: { key: string }) => row.key === LEARNED)).toMatchObject({ learned: true, present: true });
    expect(status.extra_keys.map((extra: { key: string }) => extra.key)).toEqual([MALFORMED]);
  });

  it('our own live write is not a sighting; an API write after ours lapsed is', async () => {
    await refresh('--now', hoursAfter(2));
    expect((await sighting()).last_seen).toBe(hoursAfter(0));
    // Our entry expired and the API computed the request again.
    await redis.hdel('stats_refresh:keys', LEARNED);
    await redis.set(LEARNED, STALE, 'EX', 300);
    await refresh('--now', hoursAfter(20));
    expect(await sighting()).toEqual({ first_seen: hoursAfter(0), last_seen: hoursAfter(20) });
  });

  it('is dropped once the window has passed since the API last wrote it', async () => {
    const run = await refresh('--now', hoursAfter(20 + 25));
    expect(summaryOf(run).total_refreshed).toBe(8);
    expect(summaryOf(run).learned).toBeUndefined();
    expect(await sighting()).toBeNull();
  });

  it('clear keeps the learned list unless --learned is given', async () => {
    await redis.set(LEARNED, STALE, 'EX', 300);
    await redis.hdel('stats_refresh:keys', LEARNED);
    await refresh('--now', hoursAfter(50));
    expect(await sighting()).not.toBeNull();
    expect((await runCli(['clear'], env)).code).toBe(0);
    expect(await sighting()).not.toBeNull();
    const run = await runCli(['clear', '--learned'], env);
    expect(JSON.parse(run.stdout)).toMatchObject({ learned_forgotten: true });
    expect(await sighting()).toBeNull();
  });
});
