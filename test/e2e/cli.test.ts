/**
 * The built binary end to end: exit codes, the summary on stdout, logs on stderr,
 * one-line errors, and what reaches Redis in each case.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GOLDEN_EMAILS, GOLDEN_KEYS, goldenValue, staleValue } from '../helpers/golden.js';
import { runCli, summaryOf } from '../helpers/cli.js';
import {
  GOLDEN_NOW,
  goldenTemplate,
  databaseFromTemplate,
  readKeys,
  type TestDatabase,
} from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';

const emails = GOLDEN_EMAILS;

/** A port nothing listens on. */
const DEAD_PORT = 1;

/** A batch file whose second line the API would refuse. */
const BAD_BATCH = path.join(mkdtempSync(path.join(tmpdir(), 'cli-batch-')), 'batch.txt');
writeFileSync(BAD_BATCH, '# extra requests\nexecutions?period=last_decade\n');

let database: TestDatabase;
let server: RedisServer;
let redis: TestRedisClient;
let env: Record<string, string>;

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'cli');
  server = await RedisServer.start();
  redis = await server.client();
  env = { DATABASE_URL: database.url, REDIS_URL: server.url() };
});

afterAll(async () => {
  rmSync(path.dirname(BAD_BATCH), { recursive: true, force: true });
  await redis?.close();
  await server?.stop();
  await database?.drop();
});

beforeEach(async () => {
  await redis.flushdb();
});

describe('exit 0: everything written', () => {
  it('prints one JSON summary on stdout and structured logs on stderr', async () => {
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], env);
    expect(run.code).toBe(0);
    const summary = summaryOf(run);
    expect(summary).toMatchObject({
      command: 'refresh all',
      now: '2026-06-15T12:34:56.000Z',
      total_refreshed: 26,
      successful: 26,
      failed: 0,
      failures: [],
    });
    expect(new Set(summary.cache_keys).size).toBe(41);
    expect(summary.duration_ms).toBeTypeOf('number');
    expect(run.messages).toEqual([]);
    const messages = run.logs.map((log) => log.msg);
    expect(messages).toContain('refresh started');
    expect(messages).toContain('refresh finished');
    const finished = run.logs.find((log) => log.msg === 'refresh finished')!;
    expect(finished).toMatchObject({ level: 'info', successful: 26, failed: 0, keys: 41 });
    expect(finished.duration_ms).toBeTypeOf('number');
    expect(messages).not.toContain('forced exit: handles still open 5 s after the end');
  });

  it('never logs payloads or the emails in them, even at debug level', async () => {
    const run = await runCli(['all', '--now', GOLDEN_NOW, '--log-level', 'debug'], env);
    expect(run.code).toBe(0);
    expect(emails.length).toBeGreaterThan(5);
    for (const email of emails) expect(run.stderr).not.toContain(email);
    expect(run.logs.some((log) => log.msg === 'query done')).toBe(true);
  });

  it.each([
    ['dashboard', 12, 27],
    ['executions', 8, 8],
    ['users', 6, 11],
  ])('`%s` shorthand refreshes that family only (%i configs, %i keys)', async (family, configs, keys) => {
    const run = await runCli([family, '--now', GOLDEN_NOW], env);
    expect(run.code).toBe(0);
    const summary = summaryOf(run);
    expect(summary).toMatchObject({ command: `refresh ${family}`, total_refreshed: configs, successful: configs });
    const written = await readKeys(redis, 'stats_service:*');
    expect(written.size).toBe(keys);
    for (const [key, value] of written) expect(JSON.parse(value), key).toStrictEqual(goldenValue(key));
  });

  it('honours --ttl over STATS_CACHE_TTL', async () => {
    const run = await runCli(['refresh', 'users', '--now', GOLDEN_NOW, '--ttl', '900'], { ...env, STATS_CACHE_TTL: '60' });
    expect(run.code).toBe(0);
    const ttl = await redis.ttl('stats_service:get_user_stats:country=none_group_by=month_period=all');
    expect(ttl).toBeGreaterThan(850);
    expect(ttl).toBeLessThanOrEqual(900);
  });

  it('overwrites live keys instead of keeping them', async () => {
    const key = 'stats_service:_get_summary_stats:period=all';
    await redis.set(key, staleValue(key), 'EX', 300);
    const run = await runCli(['refresh', 'dashboard', '--now', GOLDEN_NOW], env);
    expect(run.code).toBe(0);
    expect(JSON.parse((await redis.get(key))!)).toStrictEqual(goldenValue(key));
  });
});

describe('--dry-run', () => {
  it('computes and prints every payload without Redis and writes nothing', async () => {
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW, '--dry-run'], {
      ...env,
      REDIS_URL: `redis://127.0.0.1:${DEAD_PORT}/0`,
    });
    expect(run.code).toBe(0);
    const summary = summaryOf(run) as ReturnType<typeof summaryOf> & { payloads: Record<string, unknown> };
    expect(summary.dry_run).toBe(true);
    expect(Object.keys(summary.payloads).sort()).toEqual([...GOLDEN_KEYS]);
    for (const [key, payload] of Object.entries(summary.payloads)) {
      expect(payload, key).toStrictEqual(goldenValue(key));
    }
    expect((await readKeys(redis)).size).toBe(0);
  });
});

describe('exit 2: bad usage or configuration, one line, nothing attempted', () => {
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['an unknown family', ['refresh', 'everything'], {}, /unknown target "everything"; expected dashboard, executions, users, all or a request/],
    ['a request the API refuses', ['refresh', 'executions?group_by=15min'], {}, /^stats-refresh: Invalid group_by\. Must be one of: quarter_hour, hour, day, week, month$/],
    ['a bad line in a batch file', ['refresh', '--batch-file', BAD_BATCH], {}, /batch\.txt:2: Invalid period\. Must be one of: last_day, last_week, last_month, last_year, all$/],
    ['an unknown command', ['refesh', 'all'], {}, /unknown command 'refesh'/],
    ['an unknown flag', ['refresh', 'all', '--tll', '5'], {}, /unknown option '--tll'/],
    ['nothing to refresh', ['refresh'], {}, /nothing to refresh: give dashboard, executions, users or all, a request/],
    ['a bad --ttl', ['refresh', 'all', '--ttl', 'soon'], {}, /--ttl must be a whole number/],
    ['a bad STATS_CACHE_TTL', ['refresh', 'all'], { STATS_CACHE_TTL: '-5' }, /STATS_CACHE_TTL must be a whole number/],
    ['a bad --concurrency', ['all', '--concurrency', '0'], {}, /--concurrency must be a whole number/],
    ['a bad LOG_LEVEL', ['all'], { LOG_LEVEL: 'chatty' }, /LOG_LEVEL must be one of/],
    ['a --now without zone', ['all', '--now', '2026-06-15T12:34:56'], {}, /--now must be an ISO-8601 instant/],
    ['a --now that is no date', ['all', '--now', 'yesterday'], {}, /--now must be an ISO-8601 instant/],
    ['a DATABASE_URL of another kind', ['all'], { DATABASE_URL: 'mysql://u:hunter22@db/x' }, /DATABASE_URL must be a postgres: or postgresql: URL/],
    ['a REDIS_URL that is no URL', ['all'], { REDIS_URL: 'localhost:6379' }, /REDIS_URL must be a redis: or rediss: URL/],
  ];

  it.each(cases)('%s', async (_name, args, extraEnv, message) => {
    const run = await runCli(args, { ...env, ...extraEnv });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.messages).toHaveLength(1);
    expect(run.messages[0]).toMatch(message);
    expect(run.messages[0]).toMatch(/^stats-refresh: /);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stderr).not.toContain('hunter22');
    expect((await readKeys(redis)).size).toBe(0);
  });

  it('--help explains the commands, flags and exit codes and exits 0', async () => {
    const run = await runCli(['refresh', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--dry-run/);
    expect(run.stdout).toMatch(/--now <instant>/);
    expect(run.stdout).toMatch(/Exit codes:/);
  });
});

describe('exit 3: a service unreachable at start, nothing written', () => {
  it('Redis unreachable: names REDIS_URL, hides the password', async () => {
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], {
      ...env,
      REDIS_URL: `redis://:hunter22@127.0.0.1:${DEAD_PORT}/0`,
    });
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.messages).toHaveLength(1);
    expect(run.messages[0]).toMatch(/Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0 is unreachable.*REDIS_URL/);
    expect(run.stderr).not.toContain('hunter22');
  });

  it('PostgreSQL unreachable: names DATABASE_URL, hides the password, writes nothing', async () => {
    const run = await runCli(['refresh', 'all', '--now', GOLDEN_NOW], {
      ...env,
      DATABASE_URL: `postgres://postgres:hunter22@127.0.0.1:${DEAD_PORT}/nowhere`,
    });
    expect(run.code).toBe(3);
    expect(run.messages).toHaveLength(1);
    expect(run.messages[0]).toMatch(/PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nowhere is unreachable.*DATABASE_URL/);
    expect(run.stderr).not.toContain('hunter22');
    expect((await readKeys(redis)).size).toBe(0);
  });

  it('a database that does not exist counts as unreachable', async () => {
    const run = await runCli(['all'], { ...env, DATABASE_URL: `${database.url}_missing` });
    expect(run.code).toBe(3);
    expect(run.messages[0]).toMatch(/does not exist/);
    expect((await readKeys(redis)).size).toBe(0);
  });
});
