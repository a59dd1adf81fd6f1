/**
 * A PostgreSQL that goes silent after connecting, on the real services: a TCP path that
 * stops forwarding (test/helpers/pg-proxy.ts) or a backend stopped with SIGSTOP. Every
 * command must end by itself with a documented exit code (the read deadline, the grace
 * cut), leave no lock renewed for ever, and write nothing wrong.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb } from '../../src/io/db.js';
import { parsePostgresTls } from '../../src/io/tls.js';
import { DEFAULT_RETRY } from '../../src/lib/retry.js';
import { loadRunData } from '../../src/pass/load.js';
import { requestsFor } from '../../src/requests/batches.js';
import { partsOf, planSections } from '../../src/stats/sections.js';
import { type CliRun, endedWithin, type RunningCli, runCli, startCli, summaryOf } from '../helpers/cli.js';
import { goldenValue } from '../helpers/golden.js';
import { PgProxy } from '../helpers/pg-proxy.js';
import { random } from '../helpers/random.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { eventually, startSchedule } from '../helpers/schedule.js';
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

/** Read deadline = statement timeout + 5 s (src/io/db.ts). */
const STATEMENT_TIMEOUT_S = 4;
const READ_DEADLINE_S = STATEMENT_TIMEOUT_S + 5;
/** Far longer than any honest end of these runs: a run still going then hangs. */
const HANG_MS = 60_000;
const SEED = Number(process.env.SILENT_PG_SEED ?? Date.now() % 2 ** 31);
const moment = random(SEED);

let database: TestDatabase;
let proxy: PgProxy;
let server: RedisServer;
let redis: TestRedisClient;
let env: Record<string, string>;

beforeAll(async () => {
  database = await databaseFromTemplate(goldenTemplate(), 'silent');
  // The pass streams for about 1.5 s: a silence can land in any statement.
  await slowRows(database, 'execution', 1.5);
  proxy = await PgProxy.start(database.url);
  server = await RedisServer.start();
  redis = await server.client();
  env = { DATABASE_URL: proxy.url(database.url), REDIS_URL: server.url() };
});

afterAll(async () => {
  await proxy?.close();
  await redis?.close();
  await server?.stop();
  await database?.drop();
});

beforeEach(async () => {
  proxy.resume();
  await redis.flushdb();
});

const bounded = (run: RunningCli, what: string): Promise<CliRun> => endedWithin(run, what, HANG_MS);

/** Every stats_service key present holds the API's value. */
async function expectOnlyGoldenValues(what: string): Promise<void> {
  for (const [key, value] of await readKeys(redis, 'stats_service:*')) expect(JSON.parse(value), `${what}: ${key}`).toStrictEqual(goldenValue(key));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a PostgreSQL path that goes silent mid-run', () => {
  it(`refresh: the silent statement fails at its read deadline, exit 1, summary, locks released (random moments, SILENT_PG_SEED=${SEED})`, async () => {
    for (let index = 0; index < 3; index++) {
      proxy.resume();
      await redis.flushdb();
      const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--statement-timeout', String(STATEMENT_TIMEOUT_S)], { ...env, LOG_LEVEL: 'debug' });
      await run.waitForLog('refresh started');
      const after = Math.round(moment() * 1_800);
      const what = `silent ${after} ms after refresh started (SILENT_PG_SEED=${SEED}, run ${index})`;
      await Promise.race([sleep(after), run.done]);
      proxy.silence();
      const done = await bounded(run, what);
      proxy.resume();
      expect([0, 1], `${what}: exit ${done.code}\n${done.stderr}`).toContain(done.code);
      const summary = summaryOf(done);
      // Silent in a statement: its read deadline; silent as a new connection opens: the connect bound (10 s).
      for (const failure of summary.failures) expect(failure.error, what).toMatch(new RegExp(`PostgreSQL sent nothing for ${READ_DEADLINE_S} s|connection timeout`));
      if (done.code === 1) expect(summary.failures.length, what).toBeGreaterThan(0);
      expect(await redis.keys('stats_refresh:lock:*'), what).toEqual([]);
      await expectOnlyGoldenValues(what);
    }
  }, 4 * HANG_MS);

  it('verify: PostgreSQL silent in the catalog statement is exit 3 with the reason, not a hang', async () => {
    const silent = proxy.silenceWhen(/pg_attribute/);
    const run = startCli(['verify', '--json', '--now', GOLDEN_NOW], { ...env, STATS_REFRESH_STATEMENT_TIMEOUT: String(STATEMENT_TIMEOUT_S) });
    await Promise.race([silent, run.done]);
    const done = await bounded(run, 'verify');
    expect(done.code, done.stderr).toBe(3);
    expect(done.messages.join('\n')).toContain(`PostgreSQL sent nothing for ${READ_DEADLINE_S} s`);
  }, 2 * HANG_MS);

  it('schedule: the stuck run ends, /healthz says so, later runs go on once PostgreSQL answers', async () => {
    const every = '*/2 * * * * *';
    const schedule = await startSchedule(
      ['--mode', 'cron', '--dashboard-cron', every, '--executions-cron', every, '--users-cron', every, '--statement-timeout', String(STATEMENT_TIMEOUT_S), '--check-interval', '0.5'],
      env,
    );
    try {
      await eventually('a first successful run', () => schedule.count('schedule run finished', (log) => log.failed === 0) > 0);
      proxy.silence();
      const finished = schedule.count('schedule run finished');
      await eventually(
        'a run that failed on the silent server ended',
        () => schedule.count('config failed', (log) => String(log.err).includes('PostgreSQL sent nothing')) > 0,
        HANG_MS,
      );
      await eventually('/healthz 503', async () => (await schedule.health()).status === 503, HANG_MS);
      proxy.resume();
      await eventually('a successful run after the silence', () => schedule.count('schedule run finished', (log) => log.failed === 0) > finished, HANG_MS);
      await eventually('/healthz 200', async () => (await schedule.health()).status === 200, HANG_MS);
    } finally {
      proxy.resume();
      schedule.child.kill('SIGTERM');
    }
    const done = await bounded(schedule, 'schedule after SIGTERM');
    expect(done.code, done.stderr).toBe(0);
    await expectOnlyGoldenValuesOfSchedule();
  }, 4 * HANG_MS);
});

/** schedule computes as of its own clock: its values are not the golden ones, but each must be a whole JSON payload. */
async function expectOnlyGoldenValuesOfSchedule(): Promise<void> {
  for (const [key, value] of await readKeys(redis, 'stats_service:*')) expect(() => JSON.parse(value), key).not.toThrow();
}

describe('a PostgreSQL backend stopped (SIGSTOP) mid-COPY', () => {
  it('refresh ends at the read deadline with exit 1 and its summary; the backend is continued whatever happens', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--statement-timeout', String(STATEMENT_TIMEOUT_S)], {
      DATABASE_URL: database.url,
      REDIS_URL: server.url(),
    });
    const pid = await copyInProgress(database);
    process.kill(pid, 'SIGSTOP');
    let done: CliRun;
    try {
      done = await bounded(run, 'a stopped backend');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(done.code, done.stderr).toBe(1);
    expect(JSON.stringify(summaryOf(done).failures)).toContain(`PostgreSQL sent nothing for ${READ_DEADLINE_S} s`);
    expect(await redis.keys('stats_refresh:lock:*')).toEqual([]);
    await expectOnlyGoldenValues('a stopped backend');
  }, 2 * HANG_MS);
});

describe('SIGTERM while PostgreSQL is silent in the catalog statement', () => {
  it('after the grace cut nothing starts again: exit 143 on its own, no new connection, locks released, no deprecation warning', async () => {
    const silent = proxy.silenceWhen(/pg_attribute/);
    // The default statement timeout: its read deadline (65 s) is past HANG_MS, so only the grace cut can end this run.
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--grace-period', '1'], { ...env, LOG_LEVEL: 'debug' });
    await silent;
    const connections = proxy.connections;
    run.child.kill('SIGTERM');
    const done = await bounded(run, 'SIGTERM while the catalog statement waits');
    expect(done.code, done.stderr).toBe(143);
    expect(proxy.connections, 'connections opened after the signal').toBe(connections);
    expect(done.logs.filter((log) => log.msg === 'query retried')).toEqual([]);
    expect(done.stderr).not.toMatch(/deprecated/i);
    expect(summaryOf(done)).toMatchObject({ interrupted: 'SIGTERM', cache_keys: [] });
    expect(await redis.keys('stats_refresh:lock:*')).toEqual([]);
  }, 2 * HANG_MS);

  it('SIGTERM mid-COPY with no grace: the COPY is cancelled on the server without a deprecation warning', async () => {
    const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--grace-period', '0'], { DATABASE_URL: database.url, REDIS_URL: server.url() });
    await copyInProgress(database);
    run.child.kill('SIGTERM');
    const done = await bounded(run, 'SIGTERM mid-COPY');
    expect(done.code, done.stderr).toBe(143);
    expect(done.stderr).not.toMatch(/activeQuery|deprecated/i);
    await eventually('no COPY of ours left on the server', async () => {
      const { rows } = await adminQuery(`SELECT count(*)::int AS n FROM pg_stat_progress_copy WHERE datname = '${database.name}'`);
      return rows[0].n === 0;
    });
  });
});

describe('the run deadline', () => {
  it('ends the load whatever the statements do: those in flight fail with the deadline, cancelled on the server', async () => {
    const { db, pool } = createDb({ url: database.url, tls: parsePostgresTls(database.url, 'DATABASE_URL'), applicationName: 'stats-refresh', poolSize: 2 });
    try {
      const plan = planSections([{ parts: requestsFor(['dashboard']).flatMap(partsOf), at: new Date(GOLDEN_NOW) }], new Map());
      // The pass streams for about 1.5 s: far past this deadline.
      const { data } = await loadRunData(plan, { db, pool }, { concurrency: 2, retry: DEFAULT_RETRY, deadlineMs: 300 });
      expect(data.failures.get('execution_pass')?.message).toContain("the run's deadline of 0.3 s passed");
      await eventually('no COPY of ours left on the server', async () => {
        const { rows } = await adminQuery(`SELECT count(*)::int AS n FROM pg_stat_progress_copy WHERE datname = '${database.name}'`);
        return rows[0].n === 0;
      });
    } finally {
      await db.destroy();
    }
  });
});

describe('verify, without a silent server', () => {
  it('still answers through the proxy (the proxy itself is transparent)', async () => {
    const done = await runCli(['verify', '--json', '--now', GOLDEN_NOW], env);
    expect(done.code, done.stderr).toBe(0);
  });
});
