/**
 * `stats-refresh schedule --mode cron` on the real services: the start-up refresh, the cron
 * schedules, self-healing after a flush and a Redis restart (and its bound), no overlapping
 * runs, SIGTERM, /metrics and /healthz over HTTP, and bad settings. Schedules use the
 * 6-field form (seconds) to keep the file fast; families not under test get a yearly
 * schedule. Change mode (the default): change-schedule.test.ts.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { coveredKeys } from '../../src/requests/covered.js';
import { runCli } from '../helpers/cli.js';
import { RedisServer } from '../helpers/redis-server.js';
import { type RunningSchedule, eventually, sampleValue, startSchedule } from '../helpers/schedule.js';
import { databaseFromTemplate, goldenTemplate, slowDown, type TestDatabase } from '../helpers/services.js';

const QUIET = '0 0 1 1 *';
const KEYS = [...coveredKeys().keys()];

let database: TestDatabase;
let slow: TestDatabase;
let broken: TestDatabase;
let redisPort: number;
let server: RedisServer;
let redis: Redis;
const running: RunningSchedule[] = [];


async function presentKeys(): Promise<number> {
  const pipeline = redis.pipeline();
  for (const key of KEYS) pipeline.exists(key);
  return ((await pipeline.exec()) ?? []).filter(([error, present]) => !error && present === 1).length;
}

async function schedule(args: readonly string[], databaseUrl = database.url): Promise<RunningSchedule> {
  const started = await startSchedule(['--mode', 'cron', ...args], { DATABASE_URL: databaseUrl, REDIS_URL: `redis://127.0.0.1:${redisPort}/0` });
  running.push(started);
  return started;
}

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'schedule');
  slow = await databaseFromTemplate(goldenTemplate(), 'schedule_slow');
  await slowDown(slow, 'execution', 2);
  broken = await databaseFromTemplate(goldenTemplate(), 'schedule_broken');
  await broken.query('ALTER TABLE "user" DROP COLUMN country');
  server = await RedisServer.start();
  redisPort = server.port;
  redis = new Redis(redisPort, '127.0.0.1', { retryStrategy: () => 50 });
  redis.on('error', () => undefined);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop()));
  await redis.flushall();
});

afterAll(async () => {
  redis?.disconnect();
  await server?.kill();
  await Promise.all([database, slow, broken].map((db) => db?.drop()));
});

describe('schedule', () => {
  it('refreshes every family at start, then each on its schedule; /metrics and /healthz tell', async () => {
    const started = await schedule(['--dashboard-cron', '*/2 * * * * *', '--executions-cron', QUIET, '--users-cron', QUIET]);
    await eventually('every covered key present', async () => (await presentKeys()) === KEYS.length);
    for (const key of KEYS) {
      const ttl = await redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(750); // schedule's default TTL
    }
    await eventually('two cron runs of dashboard after the start', async () =>
      (sampleValue(await started.metrics(), 'stats_refresh_runs_total', { family: 'dashboard', result: 'ok' }) ?? 0) >= 3,
    );
    const text = await started.metrics();
    const value = (name: string, labels: Record<string, string>) => sampleValue(text, name, labels);
    expect(value('stats_refresh_configs', { family: 'dashboard', result: 'ok' })).toBe(12);
    expect(value('stats_refresh_configs', { family: 'dashboard', result: 'failed' })).toBe(0);
    expect(value('stats_refresh_keys_written', { family: 'dashboard' })).toBe(27);
    expect(value('stats_refresh_db_statements', { family: 'dashboard' })).toBeGreaterThan(0);
    expect(value('stats_refresh_last_run_duration_seconds', { family: 'dashboard' })).toBeGreaterThan(0);
    // The start run covered every family at once: the users' section keys went to dashboard.
    expect(value('stats_refresh_keys_written', { family: 'users' })).toBe(6);
    expect(value('stats_refresh_runs_total', { family: 'users', result: 'ok' })).toBe(1);
    expect(value('stats_refresh_runs_total', { family: 'executions', result: 'failed' })).toBe(0);
    expect(value('stats_refresh_last_success_timestamp_seconds', { family: 'executions' })).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(value('stats_refresh_self_heals_total', { family: 'dashboard' })).toBe(0);
    expect(text).toMatch(/^# TYPE stats_refresh_learned_requests gauge$/m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);

    const health = await started.health();
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ healthy: true, loop_alive: true, families: { users: { healthy: true } } });
    expect((await fetch(`http://127.0.0.1:${started.port}/nope`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${started.port}/metrics`, { method: 'POST' })).status).toBe(405);

    started.child.kill('SIGTERM');
    const done = await started.done;
    expect(done.code).toBe(0);
    expect(done.stdout).toBe(''); // logs only, on stderr
    expect(done.messages).toEqual([]);
  });

  it.each([
    ['a FLUSHDB', () => redis.flushdb().then(() => undefined)],
    ['a Redis restart', async () => {
      await server.restart();
    }],
  ])('self-healing: keys lost to %s are written again at once, from Redis\'s own signals', async (_fault, fault) => {
    // An hourly check: only invalidation messages and reconnects can bring the keys back.
    const started = await schedule(['--dashboard-cron', QUIET, '--executions-cron', QUIET, '--users-cron', QUIET, '--check-interval', '3600']);
    await eventually('the start run wrote every key', async () => (await presentKeys()) === KEYS.length);
    await fault();
    await eventually('every key back', async () => (await presentKeys()) === KEYS.length);
    await eventually('a fresh run after the restore', () => started.count('schedule run finished', (log) => log.reason === 'heal') === 1);
    const text = await started.metrics();
    for (const family of ['dashboard', 'executions', 'users']) {
      expect(sampleValue(text, 'stats_refresh_self_heals_total', { family }), family).toBe(1);
    }
    expect(started.count('covered keys missing: refreshing the family now')).toBe(3);
    expect((await started.health()).status).toBe(200);
  });

  it('self-healing without invalidation messages: the periodic check finds the loss', async () => {
    // A user that may not enable client tracking: only the check every --check-interval is left.
    await redis.call('ACL', 'SETUSER', 'notrack', 'on', '>pw-notrack', '~*', '&*', '+@all', '-client|tracking');
    const started = await startSchedule(
      ['--mode', 'cron', '--dashboard-cron', QUIET, '--executions-cron', QUIET, '--users-cron', QUIET, '--check-interval', '0.5'],
      { DATABASE_URL: database.url, REDIS_URL: `redis://notrack:pw-notrack@127.0.0.1:${redisPort}/0` },
    );
    running.push(started);
    try {
      await eventually('the start run wrote every key', async () => (await presentKeys()) === KEYS.length);
      await started.waitForLog('no invalidation messages from Redis: periodic checks only');
      await redis.flushdb();
      await eventually('every key back', async () => (await presentKeys()) === KEYS.length);
      expect(started.count('covered keys missing: refreshing the family now')).toBe(3);
    } finally {
      await started.stop();
      await redis.call('ACL', 'DELUSER', 'notrack');
    }
    expect((await started.done).stderr).not.toContain('pw-notrack');
  });

  it('bounds self-healing: a Redis that keeps losing keys gets a few refreshes, not one per loss', async () => {
    const started = await schedule(['--dashboard-cron', QUIET, '--executions-cron', QUIET, '--users-cron', QUIET, '--check-interval', '0.5']);
    await eventually('the start run wrote every key', async () => (await presentKeys()) === KEYS.length);
    let flushes = 0;
    for (const stop = Date.now() + 5_000; Date.now() < stop; flushes++) {
      await redis.flushdb();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const heals = sampleValue(await started.metrics(), 'stats_refresh_self_heals_total', { family: 'dashboard' }) ?? 0;
    // Waits of 1, 2, 4 s between heals (2 × the check interval, doubling): 3 or 4 in 5 s.
    expect(flushes).toBeGreaterThanOrEqual(15);
    expect(heals).toBeGreaterThanOrEqual(2);
    expect(heals).toBeLessThanOrEqual(5);
    expect(started.count('keys missing again soon after a heal: refresh deferred', (log) => log.family === 'dashboard')).toBeGreaterThanOrEqual(1);
  });

  it('never overlaps a family: a run due while the previous one goes on is skipped and logged', async () => {
    const started = await schedule(
      ['--dashboard-cron', '* * * * * *', '--executions-cron', QUIET, '--users-cron', QUIET, '--concurrency', '1'],
      slow.url,
    );
    await started.waitForLog('run skipped: the previous run of this family is still going', 30_000);
    await eventually('a cron run of dashboard finished', () => started.count('schedule run finished', (log) => log.reason === 'cron') >= 1, 60_000);
    started.child.kill('SIGTERM');
    const done = await started.done;
    expect(done.code).toBe(0);
    // In order of the log, a family's run always finishes before its next one starts.
    const open = new Set<string>();
    for (const log of done.logs) {
      const families = (log.families as string[] | undefined) ?? [];
      if (log.msg === 'refresh started') {
        for (const family of String(log.command).split(': ')[1]!.split(',')) {
          expect(open.has(family), `${family} started twice`).toBe(false);
          open.add(family);
        }
      } else if (log.msg === 'schedule run finished') {
        for (const family of families) open.delete(family);
      }
    }
    expect(done.logs.some((log) => log.msg === 'run skipped: the previous run of this family is still going' && log.family === 'dashboard' && log.reason === 'cron')).toBe(true);
    expect(done.logs.some((log) => log.msg === 'family skipped: another run holds its lock')).toBe(false);
  });

  it('SIGTERM: no new run starts, the run in flight finishes within --grace-period, exit 0', async () => {
    const started = await schedule(['--dashboard-cron', '* * * * * *', '--grace-period', '1', '--concurrency', '1'], slow.url);
    await started.waitForLog('refresh started');
    started.child.kill('SIGTERM');
    const done = await started.done;
    expect(done.code).toBe(0);
    const messages = done.logs.map((log) => String(log.msg));
    const stopping = messages.indexOf('schedule stopping: no new run starts');
    expect(stopping).toBeGreaterThan(0);
    expect(messages.slice(stopping).filter((msg) => msg === 'refresh started')).toEqual([]);
    expect(messages.slice(stopping)).toContain('schedule run finished');
    expect(messages.at(-1)).toBe('schedule stopped');
    expect(messages.some((msg) => msg.startsWith('forced exit'))).toBe(false);
    expect(await redis.keys('stats_refresh:lock:*')).toEqual([]);
  });

  it('/healthz turns 503 once a family has had no success for two of its intervals', async () => {
    // Without "user".country most configs fail; every family runs every second.
    const every = '* * * * * *';
    const started = await schedule(['--dashboard-cron', every, '--executions-cron', every, '--users-cron', every], broken.url);
    await eventually('unhealthy', async () => (await started.health()).status === 503);
    const health = await started.health();
    expect(health.body).toMatchObject({ healthy: false, loop_alive: true, families: { users: { healthy: false, last_success: null, max_age_seconds: 2 } } });
    const text = await started.metrics();
    expect(sampleValue(text, 'stats_refresh_configs', { family: 'users', result: 'failed' })).toBe(6);
    expect(sampleValue(text, 'stats_refresh_runs_total', { family: 'users', result: 'failed' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(text, 'stats_refresh_last_success_timestamp_seconds', { family: 'users' })).toBeUndefined();
  });

  it('bad settings stop it before anything starts, with one line naming the setting (exit 2)', async () => {
    const env = { DATABASE_URL: database.url, REDIS_URL: `redis://127.0.0.1:${redisPort}/0`, STATS_REFRESH_SCHEDULE_MODE: 'cron' };
    const badCron = await runCli(['schedule', '--dashboard-cron', '61 * * * *'], env);
    expect(badCron.code).toBe(2);
    expect(badCron.messages).toEqual([expect.stringMatching(/^stats-refresh: --dashboard-cron is not a valid cron expression \("61 \* \* \* \*"\): .*minute/)]);
    const badEnv = await runCli(['schedule'], { ...env, STATS_REFRESH_USERS_CRON: 'every minute' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.messages).toEqual([expect.stringMatching(/STATS_REFRESH_USERS_CRON is not a valid cron expression/)]);
    const never = await runCli(['schedule', '--executions-cron', '0 0 30 2 *'], env);
    expect(never.messages).toEqual([expect.stringMatching(/--executions-cron \("0 0 30 2 \*"\) never fires/)]);
    const interval = await runCli(['schedule', '--check-interval', '0'], env);
    expect(interval.messages).toEqual([expect.stringMatching(/--check-interval must be a number of seconds from 0.1/)]);
    const taken = await runCli(['schedule', '--metrics-port', String(redisPort), '--metrics-host', '127.0.0.1'], env);
    expect(taken.code).toBe(2);
    expect(taken.messages).toEqual([expect.stringMatching(/--metrics-port \d+ on 127.0.0.1: cannot listen \(EADDRINUSE\)/)]);
    expect(await presentKeys()).toBe(0);
  });
});
