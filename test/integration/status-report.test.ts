/**
 * readStatus (src/run/status-report.ts) in-process, on a redis-server of the file's own:
 * what each covered key, family run, lock, learned request and foreign key shows, and each
 * state it calls a problem.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LEARNED_KEY } from '../../src/io/learned.js';
import { lockKey } from '../../src/io/lock.js';
import { type FamilyRun, KEY_META, lastRunKey } from '../../src/io/metadata.js';
import { FAMILIES } from '../../src/requests/batches.js';
import { coveredKeys } from '../../src/requests/covered.js';
import { readStatus } from '../../src/run/status-report.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const LEARN = { windowMs: 24 * 3600_000, max: 50 };
const BATCH_KEYS = [...coveredKeys(new Map()).keys()];
const LEARNED = 'stats_service:get_execution_stats:group_by=day_period=last_week_status=FAILED_task_type=none';

let server: RedisServer;
let redis: TestRedisClient;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await server.client();
});

afterAll(async () => {
  await redis?.close();
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
});

const status = () => readStatus(redis, server.url(), NOW, LEARN);

describe('readStatus', () => {
  it('an empty cache: every batch key missing, no run, every lock free, nothing else, no problem', async () => {
    const report = await status();
    expect(report.covered).toHaveLength(BATCH_KEYS.length);
    expect(report).toMatchObject({ present: 0, missing: BATCH_KEYS.length, learned: [], extra_keys: [], drift: [], problems: [] });
    expect(report.covered.every((row) => !row.present && row.ttl_seconds === null && row.size_bytes === null && !row.learned)).toBe(true);
    for (const family of FAMILIES) {
      expect(report.families[family]).toBeNull();
      expect(report.locks[family]).toEqual({ held: false, ttl_ms: null });
    }
  });

  it('each covered key with its TTL, size and last write; the runs, the locks, the learned requests and the API’s own keys', async () => {
    const [first, second] = BATCH_KEYS as [string, string];
    await redis.set(first, '{"a": 1}', 'EX', 300);
    await redis.set(second, '[]', 'EX', 100);
    await redis.hset(KEY_META, first, JSON.stringify({ written_at: '2026-06-15T12:30:00.000Z', compute_ms: 42, ttl_seconds: 300 }));
    const run: FamilyRun = { family: 'users', started_at: '2026-06-15T12:29:00.000Z', duration_ms: 900, now: '2026-06-15T12:29:00.000Z', successful: 6, failed: 0, failures: [] };
    await redis.set(lastRunKey('users'), JSON.stringify(run));
    await redis.set(lockKey('dashboard'), 'token', 'PX', 50_000);
    await redis.hset(LEARNED_KEY, LEARNED, JSON.stringify({ first_seen: '2026-06-15T10:00:00.000Z', last_seen: '2026-06-15T11:00:00.000Z' }));
    await redis.set(LEARNED, '{}', 'EX', 200);
    await redis.set('stats_service:get_user_stats:country=Kenya_group_by=month_period=all', '{}', 'EX', 250);

    const report = await status();
    expect(report.covered).toHaveLength(BATCH_KEYS.length + 1);
    expect(report.present).toBe(3);
    expect(report.missing).toBe(BATCH_KEYS.length - 2);
    const row = (key: string) => report.covered.find((covered) => covered.key === key);
    expect(row(first)).toMatchObject({ present: true, ttl_seconds: 300, size_bytes: 8, written_at: '2026-06-15T12:30:00.000Z', compute_ms: 42, learned: false });
    expect(row(second)).toMatchObject({ present: true, ttl_seconds: 100, size_bytes: 2, written_at: null, compute_ms: null });
    expect(row(LEARNED)).toMatchObject({ family: 'executions', present: true, learned: true, ttl_seconds: 200 });
    expect(report.families).toEqual({ dashboard: null, executions: null, users: run });
    expect(report.locks.dashboard.held).toBe(true);
    expect(report.locks.dashboard.ttl_ms).toBeGreaterThan(0);
    expect(report.locks.users).toEqual({ held: false, ttl_ms: null });
    expect(report.learned).toEqual([
      { key: LEARNED, family: 'executions', first_seen: '2026-06-15T10:00:00.000Z', last_seen: '2026-06-15T11:00:00.000Z', lapses_at: '2026-06-16T11:00:00.000Z' },
    ]);
    expect(report.extra_keys).toEqual([{ key: 'stats_service:get_user_stats:country=Kenya_group_by=month_period=all', ttl_seconds: 250 }]);
    expect(report.problems).toEqual([]);
  });

  it('names each state it cannot use as a problem, in the order read, and carries on', async () => {
    const [wrongType] = BATCH_KEYS as [string];
    await redis.hset(wrongType, 'field', 'value');
    await redis.set(KEY_META, 'not a hash');
    await redis.set(lastRunKey('executions'), JSON.stringify({ family: 'executions', started_at: 5 }));
    await redis.set(lockKey('users'), 'token');

    const report = await status();
    expect(report.covered.find((row) => row.key === wrongType)).toMatchObject({ present: false, ttl_seconds: null, size_bytes: null });
    expect(report.families.executions).toBeNull();
    expect(report.locks.users).toEqual({ held: true, ttl_ms: null });
    expect(report.problems).toHaveLength(4);
    expect(report.problems[0]).toMatch(new RegExp(`^${KEY_META} holds another kind of value than expected \\(WRONGTYPE\\)`));
    expect(report.problems[1]).toMatch(new RegExp(`^${wrongType.replace(/[[\]]/g, '\\$&')} holds another kind of value than expected \\(WRONGTYPE\\)`));
    expect(report.problems[2]).toBe(`${lastRunKey('executions')} does not hold a run record; it is ignored, and the next run of executions writes it again`);
    expect(report.problems[3]).toBe(`${lockKey('users')} has no expiry, so it would never lapse; the next run of users gives it one`);
  });

  it('shows the Redis URL without its password', async () => {
    const url = server.url().replace('redis://', 'redis://user:s3cret@');
    const report = await readStatus(redis, url, NOW, LEARN);
    expect(report.redis).not.toContain('s3cret');
  });
});
