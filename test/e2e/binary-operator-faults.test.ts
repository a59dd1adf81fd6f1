/**
 * Bad input and faults an operator meets (issue #15), each through the built CLI on the
 * real services: a clean, bounded exit with a documented code, one line that says what to
 * fix, no secret printed, nothing partial written, no lock left.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli, startCli, summaryOf } from '../helpers/cli.js';
import { goldenValue, staleValue } from '../helpers/golden.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { eventually, startSchedule } from '../helpers/schedule.js';
import { GOLDEN_NOW, databaseFromTemplate, goldenTemplate, readKeys, slowDown, type TestDatabase } from '../helpers/services.js';

const SECRET = 'qsecret4242';

let database: TestDatabase;
let slow: TestDatabase;
let server: RedisServer;
let redis: TestRedisClient;
let dir: string;
const env = () => ({ DATABASE_URL: database.url, REDIS_URL: server.url() });

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'fault_cases');
  slow = await databaseFromTemplate(goldenTemplate(), 'fault_cases_slow');
  await slowDown(slow, 'execution', 2);
  server = await RedisServer.start();
  redis = await server.client();
  dir = mkdtempSync(join(tmpdir(), 'sr-fault-cases-'));
});

afterEach(async () => {
  server.resume();
  await redis.flushall();
});

afterAll(async () => {
  await redis?.close();
  await server?.stop();
  await database?.drop();
  await slow?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI; fails (and kills it) if it is still running after `limitMs`. */
async function bounded(args: readonly string[], environment: Record<string, string>, limitMs = 30_000): Promise<CliRun & { ms: number }> {
  const started = Date.now();
  const run = startCli(args, environment);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), limitMs);
  const done = await run.done;
  clearTimeout(timer);
  expect(done.signal, `still running after ${limitMs} ms: ${args.join(' ')}`).toBeNull();
  return { ...done, ms: Date.now() - started };
}

/** Every stats_service key present is exactly the API's. */
async function expectOnlyGoldenValues(): Promise<number> {
  const stored = await readKeys(redis, 'stats_service:*');
  for (const [key, value] of stored) expect(JSON.parse(value), key).toStrictEqual(goldenValue(key));
  return stored.size;
}

describe('bad input: exit 2 with one line, nothing attempted', () => {
  it('a batch file that is a FIFO (or a device) is refused at once, not read for ever', async () => {
    const fifo = join(dir, 'batch.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const command of [['refresh'], ['warmup'], ['schedule', '--metrics-port', '0']]) {
      const run = await bounded([...command, '--batch-file', fifo], env(), 10_000);
      expect(run.code, run.stderr).toBe(2);
      expect(run.messages).toEqual([`stats-refresh: --batch-file: cannot read ${fifo} (not a regular file)`]);
    }
  });

  it('schedule and warmup read the batch file before waiting for the services (exit 2, not 3, and at once)', async () => {
    const missing = join(dir, 'missing.txt');
    const down = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x', REDIS_URL: 'redis://127.0.0.1:1/0' };
    for (const command of [['warmup'], ['schedule', '--metrics-port', '0']]) {
      const run = await bounded([...command, '--batch-file', missing], down, 10_000);
      expect(run.code).toBe(2);
      expect(run.ms).toBeLessThan(4_000);
      expect(run.messages).toEqual([`stats-refresh: --batch-file: cannot read ${missing} (ENOENT: no such file)`]);
    }
  });

  it('a Redis database that is not a whole number: exit 2 naming REDIS_URL (not a crash, not database 1)', async () => {
    for (const [db, shown] of [['abc', 'abc'], ['1.5', '1.5'], ['-1', '-1'], ['%31x', '1x']]) {
      const run = await bounded(['refresh', 'all'], { ...env(), REDIS_URL: `redis://127.0.0.1:${server.port}/${db}` });
      expect(run.code, run.stderr).toBe(2);
      expect(run.messages).toEqual([`stats-refresh: REDIS_URL: the database must be a whole number, as in redis://host:6379/0, got "${shown}"`]);
    }
    const query = await bounded(['status'], { REDIS_URL: `${server.url()}?db=abc` });
    expect(query.code).toBe(2);
    const option = await bounded(['status'], { REDIS_URL: `${server.url()}?enableOfflineQueue=true` });
    expect(option.messages).toEqual(['stats-refresh: REDIS_URL: the query parameter "enableOfflineQueue" is not supported; only db, password, username, family are']);
  });

  it('a stray % in a URL names the part to fix, without quoting it', async () => {
    const run = await bounded(['refresh', 'all'], { ...env(), DATABASE_URL: `postgres://postgres:ab%ZZ${SECRET}@127.0.0.1:5432/x` });
    expect(run.code).toBe(2);
    expect(run.messages).toEqual(['stats-refresh: DATABASE_URL: the password holds a % that does not start an escape such as %40; write a literal % as %25']);
    const redisRun = await bounded(['status'], { REDIS_URL: `redis://:ab%ZZ${SECRET}@127.0.0.1:${server.port}/0` });
    expect(redisRun.code).toBe(2);
    expect(run.stderr + redisRun.stderr).not.toContain(SECRET);
  });

  it('a NUL in a filter is a bad request (exit 2), not a failed run', async () => {
    const run = await bounded(['refresh', 'executions?task_type=land%00cover'], env());
    expect(run.code, run.stderr).toBe(2);
    expect(run.messages).toEqual(['stats-refresh: task_type holds a NUL character (%00), which no value in the database can hold']);
  });

  it('STATS_REFRESH_LEARN=false turns learning off; a value it cannot read is exit 2', async () => {
    // A request the API computed itself (its own value: the drift check finds nothing to say).
    const apiKey = 'stats_service:get_user_stats:country=Kenya_group_by=week_period=last_month';
    await redis.set(apiKey, staleValue(apiKey), 'EX', 300);
    const off = await bounded(['refresh', 'users', '--now', GOLDEN_NOW], { ...env(), STATS_REFRESH_LEARN: 'false' });
    expect(off.code, off.stderr).toBe(0);
    expect(summaryOf(off).learned).toBeUndefined();
    expect(await redis.exists('stats_refresh:learned')).toBe(0);
    const bad = await bounded(['refresh', 'users'], { ...env(), STATS_REFRESH_LEARN: 'nope' });
    expect(bad.code).toBe(2);
    expect(bad.messages).toEqual(['stats-refresh: STATS_REFRESH_LEARN must be on or off (or true/false, yes/no, 1/0), got "nope"']);
  });
});

describe('credentials in URL query parameters', () => {
  it('never printed: status --json, the exit-3 line, logs at trace level, Redis metadata', async () => {
    const redisUrl = `${server.url()}?password=${SECRET}`;
    const refresh = await bounded(['refresh', 'all', '--now', GOLDEN_NOW, '--log-level', 'trace'], {
      DATABASE_URL: `${database.url}?password=${SECRET}2`,
      REDIS_URL: redisUrl,
    });
    expect(refresh.code, refresh.stderr).toBe(0);
    const status = await bounded(['status', '--json', '--log-level', 'trace'], { REDIS_URL: redisUrl });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).redis).toBe(`${server.url()}?password=***`);
    const unreachable = await bounded(['status', '--log-level', 'trace'], { REDIS_URL: `redis://127.0.0.1:1/0?password=${SECRET}` });
    expect(unreachable.code).toBe(3);
    expect(unreachable.messages[0]).toMatch(/^stats-refresh: Redis at redis:\/\/127\.0\.0\.1:1\/0\?password=\*\*\* is unreachable/);
    const pgDown = await bounded(['refresh', 'all', '--log-level', 'trace'], { ...env(), DATABASE_URL: `postgres://postgres@127.0.0.1:1/x?sslkey=/k/${SECRET}` });
    expect(pgDown.code).toBe(2);
    const metadata = [...(await readKeys(redis, 'stats_refresh:*').catch(() => new Map()))].join('\n');
    const hashes = JSON.stringify(await redis.hgetall('stats_refresh:keys'));
    // A Pushgateway that is down is a warning naming it; its token stays hidden.
    const pushed = await bounded(['refresh', 'users', '--now', GOLDEN_NOW, '--pushgateway-url', `http://127.0.0.1:1/?token=${SECRET}`], {
      ...env(),
      REDIS_URL: redisUrl,
    });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.logs.some((log) => log.msg === 'metrics not pushed; the run itself is unaffected')).toBe(true);
    // schedule: /metrics, /healthz and its logs.
    const schedule = await startSchedule(['--check-interval', '0.5', '--log-level', 'trace'], { ...env(), REDIS_URL: redisUrl });
    let served = '';
    try {
      await eventually('a run of every family', () => schedule.count('schedule run finished') >= 1, 30_000);
      served = `${await schedule.metrics()}\n${JSON.stringify((await schedule.health()).body)}`;
    } finally {
      schedule.child.kill('SIGTERM');
    }
    const stopped = await schedule.done;
    for (const output of [refresh.stdout, refresh.stderr, status.stdout, status.stderr, unreachable.stderr, pgDown.stderr, metadata, hashes, pushed.stderr, served, stopped.stderr]) {
      expect(output).not.toContain(SECRET);
    }
  });
});

describe('Redis that stops answering (SIGSTOP)', () => {
  it('status: exit 3 within its bound, saying Redis did not answer', async () => {
    server.pause();
    const run = await bounded(['status'], env(), 30_000);
    expect(run.code).toBe(3);
    expect(run.messages).toEqual([`stats-refresh: Redis at ${server.url()} is unreachable (Redis did not answer within 10 s); check REDIS_URL or --redis-url`]);
  });

  it('refresh: exit 3 at start, nothing computed', async () => {
    server.pause();
    const run = await bounded(['refresh', 'all', '--now', GOLDEN_NOW], env(), 30_000);
    expect(run.code).toBe(3);
    expect(run.messages).toEqual([`stats-refresh: Redis at ${server.url()} is unreachable (Redis did not answer within 10 s); check REDIS_URL or --redis-url`]);
    expect(run.logs.some((log) => log.msg === 'refresh started')).toBe(false);
  });

  it('status ends at the first SIGTERM', async () => {
    server.pause();
    const run = startCli(['status'], env());
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const done = await run.done;
    expect(Date.now() - signalled).toBeLessThan(3_000);
    expect(done.code).toBe(143);
    expect(done.messages).toEqual(['stats-refresh: stopped by SIGTERM before it finished']);
  });

  it('refresh: the first SIGTERM ends it within --grace-period (+5 s), summary printed, nothing wrong written', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--grace-period', '1'], { ...env(), DATABASE_URL: slow.url, STATS_REFRESH_FORCE: 'on' });
    await run.waitForLog('refresh started');
    server.pause();
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const done = await run.done;
    expect(Date.now() - signalled).toBeLessThan(1_000 + 5_000 + 2_000);
    expect(done.code).toBe(143);
    expect(summaryOf(done).interrupted).toBe('SIGTERM');
    server.resume();
    await expectOnlyGoldenValues();
  });

  it('refresh without a signal: every write fails within the command bound (exit 1), locks lapse on their own', async () => {
    const run = startCli(['refresh', 'executions', '--now', GOLDEN_NOW, '--lock-ttl', '3'], { ...env(), DATABASE_URL: slow.url, STATS_REFRESH_FORCE: 'on' });
    await run.waitForLog('refresh started');
    server.pause();
    const done = await run.done;
    expect(done.code).toBe(1);
    const summary = summaryOf(done);
    expect(summary.failures.every((failure) => /Redis did not answer within 10 s/.test(failure.error))).toBe(true);
    server.resume();
    expect(await redis.pttl('stats_refresh:lock:executions')).toBeLessThanOrEqual(3_000);
  });
});

describe('waiting for a lock (--wait-lock)', () => {
  it('ends at the first SIGTERM instead of waiting out --wait-timeout', async () => {
    await redis.set('stats_refresh:lock:users', 'another run', 'PX', 60_000);
    const run = startCli(['refresh', 'users', '--now', GOLDEN_NOW, '--wait-lock', '--wait-timeout', '60'], env());
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const done = await run.done;
    expect(Date.now() - signalled).toBeLessThan(2_000);
    expect(done.code).toBe(143);
    expect(summaryOf(done)).toMatchObject({ skipped: ['users'], interrupted: 'SIGTERM', total_refreshed: 0 });
    expect(done.logs.some((log) => log.msg === 'family skipped: shutting down while waiting for its lock')).toBe(true);
    expect(await redis.get('stats_refresh:lock:users')).toBe('another run');
  });
});

describe('Redis refusing writes', () => {
  it('a read-only replica: the families fail with what to fix (exit 1, summary), nothing written', async () => {
    const replica = await RedisServer.start({
      args: (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(server.port)],
    });
    try {
      const run = await bounded(['refresh', 'all', '--now', GOLDEN_NOW], { ...env(), REDIS_URL: replica.url() });
      expect(run.code, run.stderr).toBe(1);
      const summary = summaryOf(run);
      expect(summary).toMatchObject({ successful: 0, failed: 26, cache_keys: [] });
      for (const failure of summary.failures) {
        expect(failure.error).toBe('family lock not taken: Redis refuses writes: it is a read-only replica; point REDIS_URL at the primary');
      }
      expect(run.logs.filter((log) => log.msg === 'family not run: its lock could not be taken')).toHaveLength(3);
    } finally {
      await replica.stop();
    }
  });

  it('out of memory: each config failed line names a key that was not written; every written key is the API’s', async () => {
    // Room for the locks and some payloads, not for all of them.
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory', String(used + 150_000));
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    try {
      const run = await bounded(['refresh', 'all', '--now', GOLDEN_NOW], env());
      expect(run.code, run.stderr).toBe(1);
      const failed = run.logs.filter((log) => log.msg === 'config failed');
      expect(failed.length).toBeGreaterThan(0);
      for (const log of failed) {
        expect(log.err).toMatch(/^write failed for stats_service:\S+: Redis refuses writes: it is out of memory/);
        expect(await redis.exists(log.key as string), `${log.key as string} named as failed but written`).toBe(0);
        expect(String(log.err)).toContain(log.key as string);
      }
      const summary = summaryOf(run);
      for (const key of summary.cache_keys) expect(await redis.exists(key), key).toBe(1);
      expect(await expectOnlyGoldenValues()).toBe(summary.cache_keys.length);
      expect(await redis.keys('stats_refresh:lock:*')).toEqual([]);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
  });
});

describe('state in Redis that is not as we left it', () => {
  it('a last run of another shape, keys of the wrong type: status names them and carries on', async () => {
    expect((await bounded(['refresh', 'all', '--now', GOLDEN_NOW], env())).code).toBe(0);
    await redis.set('stats_refresh:last_run:users', JSON.stringify({ family: 'users', started_at: 5 }));
    await redis.del('stats_refresh:keys');
    await redis.set('stats_refresh:keys', 'not a hash');
    await redis.del('stats_service:_get_summary_stats:period=all');
    await redis.hset('stats_service:_get_summary_stats:period=all', 'a', 'b');
    const status = await bounded(['status', '--json'], env());
    expect(status.code, status.stderr).toBe(1);
    const parsed = JSON.parse(status.stdout);
    expect(parsed.families.users).toBeNull();
    expect(parsed.missing).toBe(1);
    expect(parsed.problems).toEqual([
      'stats_refresh:keys holds another kind of value than expected (WRONGTYPE); delete it (DEL stats_refresh:keys): the next run writes it again',
      'stats_service:_get_summary_stats:period=all holds another kind of value than expected (WRONGTYPE); delete it (DEL stats_service:_get_summary_stats:period=all): the next run writes it again',
      'stats_refresh:last_run:users does not hold a run record; it is ignored, and the next run of users writes it again',
    ]);
    const table = await bounded(['status'], env());
    expect(table.code).toBe(1);
    // The run's own metadata write names the key it could not update.
    const run = await bounded(['refresh', 'users', '--now', GOLDEN_NOW], env());
    expect(run.code).toBe(0);
    expect(run.logs.find((log) => log.msg === 'run metadata not written')?.err).toMatch(/^stats_refresh:keys holds another kind of value/);
  });

  it('a lock without expiry is given one (warned), so the family is not skipped for ever; status shows the locks', async () => {
    await redis.set('stats_refresh:lock:users', 'left by hand');
    const run = await bounded(['refresh', 'users', '--now', GOLDEN_NOW, '--lock-ttl', '2'], env());
    expect(run.code).toBe(0);
    expect(summaryOf(run).skipped).toEqual(['users']);
    expect(run.logs.some((log) => log.msg === 'family lock had no expiry and would never lapse: given one of --lock-ttl')).toBe(true);
    const ttl = await redis.pttl('stats_refresh:lock:users');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2_000);
    const status = JSON.parse((await bounded(['status', '--json'], env())).stdout);
    expect(status.locks.users).toMatchObject({ held: true });
    expect(status.locks.dashboard).toEqual({ held: false, ttl_ms: null });
    await eventually('the lock lapsed', async () => (await redis.exists('stats_refresh:lock:users')) === 0, 5_000);
    expect((await bounded(['refresh', 'users', '--now', GOLDEN_NOW], env())).code).toBe(0);
  });

  it('stats_refresh:keys forgets writes that have expired (one-off requests do not pile up)', async () => {
    const oneOff = 'executions?period=last_week&group_by=hour&status=FAILED';
    expect((await bounded(['refresh', oneOff, '--now', GOLDEN_NOW, '--ttl', '1'], env())).code).toBe(0);
    expect(Object.keys(await redis.hgetall('stats_refresh:keys'))).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect((await bounded(['refresh', 'users', '--now', GOLDEN_NOW], env())).code).toBe(0);
    const recorded = Object.keys(await redis.hgetall('stats_refresh:keys'));
    // The users family's 6 payloads and the 5 geographic sections they hold; the one-off is gone.
    expect(recorded).toHaveLength(11);
    expect(recorded.some((key) => key.startsWith('stats_service:get_execution_stats:'))).toBe(false);
  });
});

describe('schedule', () => {
  it('/healthz turns 503 with the reason while the checks fail, and 200 once they answer; SIGHUP is logged, not fatal', async () => {
    const schedule = await startSchedule(['--check-interval', '0.5'], env());
    try {
      await eventually('healthy', async () => (await schedule.health()).status === 200, 30_000);
      schedule.child.kill('SIGHUP');
      await schedule.waitForLog('SIGHUP ignored: settings are read at start; restart to change them, SIGTERM to stop');
      server.pause();
      await eventually(
        'unhealthy, saying why',
        async () => {
          const health = await schedule.health();
          // The first failed check (or, in change mode, the leader lease's renewal: whichever
          // reaches Redis first) says Redis went silent; those while it reconnects, that the
          // connection was lost.
          const reasons = health.body.reasons as string[];
          return (
            health.status === 503 &&
            reasons.some((reason) =>
              /^(self-healing checks failing|leader lease not claimed): (Redis did not answer within 10 s|the connection to Redis was lost)$/.test(reason),
            )
          );
        },
        30_000,
      );
      server.resume();
      await eventually('healthy again', async () => (await schedule.health()).status === 200, 30_000);
      expect(schedule.child.exitCode).toBeNull();
    } finally {
      server.resume();
      await schedule.stop();
    }
  });

  it('the metrics server answers a malformed request target with 400', async () => {
    const schedule = await startSchedule(['--check-interval', '5'], env());
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(schedule.port, '127.0.0.1', () => socket.write('GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n'));
        let text = '';
        socket.on('data', (chunk) => {
          text += String(chunk);
          if (text.includes('\r\n\r\n')) socket.destroy();
        });
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    } finally {
      await schedule.stop();
    }
  });
});
