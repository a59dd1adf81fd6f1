/**
 * `stats-refresh schedule` in change mode (the default: a probe every second) while the
 * PostgreSQL path goes silent, the built binary on a golden copy behind a TCP proxy that stops
 * forwarding (test/helpers/pg-proxy.ts) and a redis-server of its own. At random moments after
 * a change is committed (so the silence lands in a probe, in a run, or between them), the
 * statement in flight must fail at its read deadline instead of hanging, /healthz must turn 503
 * within its documented bound, the process must stay up, and once the path answers again a new
 * change must reach the cache. SIGTERM must end it with exit 0 within the grace period, silent
 * path or not, starting nothing after the signal and leaving no lock nor lease.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_FAILURE_GRACE_MS } from '../../src/schedule/change-loop.js';
import { LEADER_KEY } from '../../src/io/leader-lease.js';
import { readDeadlineMs } from '../../src/io/db.js';
import { STOP_SLACK_MS } from '../../src/run/runtime.js';
import { type CliRun } from '../helpers/cli.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { PgProxy } from '../helpers/pg-proxy.js';
import { random } from '../helpers/random.js';
import { type RunningSchedule, eventually, sampleValue, startSchedule } from '../helpers/schedule.js';

const SUMMARY_KEY = 'stats_service:_get_summary_stats:period=all';
const STATEMENT_TIMEOUT_S = 3;
const READ_DEADLINE_MS = readDeadlineMs(STATEMENT_TIMEOUT_S * 1000);
/** A new connection through the silent path gives up after this (src/io/db.ts's connect bound). */
const CONNECT_BOUND_MS = 10_000;
const GRACE_S = 2;
/** Room for a shared, busy machine on top of every documented bound below. */
const SLACK_MS = 15_000;
/** The silent statement fails: it was in flight, or the next probe (a probe interval later) sends one, or opens a connection. */
const FAILURE_BOUND_MS = 1_000 + Math.max(READ_DEADLINE_MS, CONNECT_BOUND_MS) + SLACK_MS;
/** /healthz says so once probes have failed for PROBE_FAILURE_GRACE_MS (the first failing probe started within a probe interval). */
const UNHEALTHY_BOUND_MS = 1_000 + PROBE_FAILURE_GRACE_MS + SLACK_MS;
/** After the path answers: the probe in flight ends (its read deadline), the next one sees the change, a run writes it. */
const CATCH_UP_MS = READ_DEADLINE_MS + 30_000;
/** SIGTERM to exit: the grace period, then the slack for writes and releases (src/run/runtime.ts). */
const STOP_BOUND_MS = GRACE_S * 1000 + STOP_SLACK_MS + 3_000;
const SEED = Number(process.env.CHANGE_FAULTS_SEED ?? Date.now() % 2 ** 31);
const moment = random(SEED);

const services = useGoldenServices('change_faults');
let proxy: PgProxy;
let running: RunningSchedule | undefined;

beforeAll(async () => {
  proxy = await PgProxy.start(services.database.url);
});

afterEach(async () => {
  proxy.resume();
  await running?.stop();
  running = undefined;
});

afterAll(async () => {
  await proxy?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function schedule(): Promise<RunningSchedule> {
  running = await startSchedule(
    ['--statement-timeout', String(STATEMENT_TIMEOUT_S), '--grace-period', String(GRACE_S)],
    { DATABASE_URL: proxy.url(services.database.url), REDIS_URL: services.env.REDIS_URL!, LOG_LEVEL: 'debug' },
  );
  return running;
}

/** Submits a run as the API does, now (straight to PostgreSQL, not through the proxy). */
async function submitRun(): Promise<number> {
  await services.database.query(
    `INSERT INTO execution (id, start_date, status, progress, params, results, script_id, user_id)
     SELECT gen_random_uuid(), now() AT TIME ZONE 'UTC', 'PENDING', 0, '{}', '{}',
            (SELECT id FROM script ORDER BY slug LIMIT 1), (SELECT id FROM "user" ORDER BY created_at LIMIT 1)`,
  );
  return Number((await services.database.query('SELECT count(*) AS n FROM execution')).rows[0].n);
}

async function cachedExecutions(): Promise<number | null> {
  const text = await services.redis.get(SUMMARY_KEY);
  return text === null ? null : (JSON.parse(text) as { total_executions: number }).total_executions;
}

/** Statements that failed so far: probes, and configs of runs. */
async function failures(started: RunningSchedule): Promise<number> {
  const probes = sampleValue(await started.metrics(), 'stats_refresh_probe_failures_total') ?? 0;
  return probes + started.count('config failed') + started.count('schedule run failed');
}

/** The process's end after SIGTERM, or a failure naming the hang. */
async function stopped(started: RunningSchedule, what: string): Promise<{ done: CliRun; ms: number }> {
  const signalled = Date.now();
  started.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running ${STOP_BOUND_MS} ms after SIGTERM`)), STOP_BOUND_MS);
  });
  try {
    const done = await Promise.race([started.done, hang]);
    return { done, ms: Date.now() - signalled };
  } finally {
    clearTimeout(timer);
  }
}

async function expectNoLockNorLease(what: string): Promise<void> {
  expect(await services.redis.keys('stats_refresh:lock:*'), what).toEqual([]);
  expect(await services.redis.exists(LEADER_KEY), what).toBe(0);
}

describe(`schedule (change mode) on a PostgreSQL path that goes silent (CHANGE_FAULTS_SEED=${SEED})`, () => {
  // A process per silence: its start run, the change run and the run after the silence are the
  // three runs the database budget's bucket holds, so no wait of the budget's own is in the bounds.
  it('the probe or run fails at its bound, /healthz 503, the process lives; once it answers a change reaches the cache, /healthz 200, SIGTERM exit 0', async () => {
    for (let index = 0; index < 3; index++) {
      const started = await schedule();
      await eventually('the start run wrote the summary', async () => (await cachedExecutions()) !== null && (await started.health()).status === 200);
      // A change run starts within a probe interval and a debounce and lasts a moment: 0 to 2.5 s covers a probe, the run, and the idle time between.
      const after = Math.round(moment() * 2_500);
      const what = `silent ${after} ms after a change (CHANGE_FAULTS_SEED=${SEED}, run ${index})`;
      await submitRun();
      await sleep(after);
      proxy.silence();
      await eventually(`${what}: a probe or a run failed`, async () => (await failures(started)) > 0, FAILURE_BOUND_MS);
      await eventually(`${what}: /healthz 503`, async () => (await started.health()).status === 503, UNHEALTHY_BOUND_MS);
      expect(started.child.exitCode, `${what}: exited`).toBeNull();

      proxy.resume();
      const expected = await submitRun();
      await eventually(`${what}: the change after the silence in the summary`, async () => (await cachedExecutions()) === expected, CATCH_UP_MS);
      await eventually(`${what}: /healthz 200`, async () => (await started.health()).status === 200, CATCH_UP_MS);
      const { done } = await stopped(started, `${what}: SIGTERM after the silence`);
      running = undefined;
      expect(done.code, `${what}\n${done.stderr}`).toBe(0);
      await expectNoLockNorLease(what);
      await services.redis.flushdb();
    }
  }, 3 * (FAILURE_BOUND_MS + UNHEALTHY_BOUND_MS + 2 * CATCH_UP_MS + STOP_BOUND_MS + 30_000));

  it('SIGTERM while the path is silent: exit 0 within the grace period, nothing started after it, no lock nor lease left', async () => {
    for (let index = 0; index < 3; index++) {
      const started = await schedule();
      await eventually('the start run wrote the summary', async () => (await cachedExecutions()) !== null);
      const after = Math.round(moment() * 2_500);
      const silentFor = Math.round(moment() * (READ_DEADLINE_MS + 2_000));
      const what = `SIGTERM ${silentFor} ms into a silence ${after} ms after a change (CHANGE_FAULTS_SEED=${SEED}, run ${index})`;
      await submitRun();
      await sleep(after);
      proxy.silence();
      await sleep(silentFor);
      const { done } = await stopped(started, what);
      await expectStoppedCleanly(done, what);
    }
  }, 3 * (STOP_BOUND_MS + 60_000));

  it('SIGTERM while the run waits on its silent catalog statement: only the grace cut ends it, yet its locks are released', async () => {
    const started = await schedule();
    await eventually('the start run wrote the summary', async () => (await cachedExecutions()) !== null);
    // Only the catalog statement asks pg_is_in_recovery(): the change run's first statement, not a probe.
    const silent = proxy.silenceWhen(/pg_is_in_recovery/);
    await submitRun();
    await silent;
    const { done } = await stopped(started, 'SIGTERM in the silent catalog statement');
    await expectStoppedCleanly(done, 'SIGTERM in the silent catalog statement');
  }, STOP_BOUND_MS + 60_000);
});

/** Exit 0, nothing started after the signal, no lock nor lease left. */
async function expectStoppedCleanly(done: CliRun, what: string): Promise<void> {
  running = undefined;
  expect(done.code, `${what}\n${done.stderr}`).toBe(0);
  // Cancel requests for the statements given up on may open connections; nothing starts again.
  const signalled = done.logs.findIndex((log) => log.msg === 'shutdown requested: finishing in-flight work');
  expect(signalled, what).toBeGreaterThanOrEqual(0);
  expect(done.logs.slice(signalled).filter((log) => ['refresh started', 'query retried', 'change seen'].includes(String(log.msg))), what).toEqual([]);
  proxy.resume();
  await expectNoLockNorLease(what);
  await services.redis.flushdb();
}
