/**
 * `stats-refresh schedule` in change mode (the default), the built binary on a golden copy
 * and a redis-server of its own: a change committed shows in the summary key within a
 * bound; progress writes start no run; two replicas on one Redis do not both run, and when
 * the leader is killed (-9) the follower takes over; bad settings are exit 2 before any
 * connection. Waits poll, with generous ceilings; nothing is timed.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { LEADER_KEY } from '../../src/io/leader-lease.js';
import { runCli } from '../helpers/cli.js';
import { useGoldenServices } from '../helpers/golden-services.js';
import { type RunningSchedule, eventually, sampleValue, startSchedule } from '../helpers/schedule.js';

const SUMMARY_KEY = 'stats_service:_get_summary_stats:period=all';
const services = useGoldenServices('change_schedule');
const running: RunningSchedule[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop()));
});

async function schedule(args: readonly string[] = []): Promise<RunningSchedule> {
  const started = await startSchedule(args, services.env);
  running.push(started);
  return started;
}

/** The summary's executions count as the cache holds it (null: no key). */
async function cachedExecutions(): Promise<number | null> {
  const text = await services.redis.get(SUMMARY_KEY);
  return text === null ? null : (JSON.parse(text) as { total_executions: number }).total_executions;
}

/** Submits a run as the API does, now. */
async function submitRun(): Promise<void> {
  await services.database.query(
    `INSERT INTO execution (id, start_date, status, progress, params, results, script_id, user_id)
     SELECT gen_random_uuid(), now() AT TIME ZONE 'UTC', 'PENDING', 0, '{}', '{}',
            (SELECT id FROM script ORDER BY slug LIMIT 1), (SELECT id FROM "user" ORDER BY created_at LIMIT 1)`,
  );
}

async function executionsInDatabase(): Promise<number> {
  return Number((await services.database.query('SELECT count(*) AS n FROM execution')).rows[0].n);
}

const runsBy = async (started: RunningSchedule, reason: string) =>
  sampleValue(await started.metrics(), 'stats_refresh_schedule_runs_total', { reason }) ?? 0;

const allRuns = async (started: RunningSchedule) => {
  const text = await started.metrics();
  return ['start', 'change', 'budget-delayed', 'time', 'heal', 'cron'].reduce(
    (sum, reason) => sum + (sampleValue(text, 'stats_refresh_schedule_runs_total', { reason }) ?? 0),
    0,
  );
};

const probes = async (started: RunningSchedule) => sampleValue(await started.metrics(), 'stats_refresh_probe_duration_seconds_count') ?? 0;

describe('schedule --mode change', () => {
  it('a run committed shows in the summary key within seconds; progress writes start no run', async () => {
    const started = await schedule(['--probe-interval', '0.5']);
    await eventually('the start run wrote the summary', async () => (await cachedExecutions()) === (await executionsInDatabase()));
    expect((await started.health()).body).toMatchObject({ healthy: true, role: 'leader' });
    // The start run read as `refresh` does (no rows held yet), then loaded the rows once.
    await eventually('the rows loaded after the start run', () => started.count('rows in memory loaded after the run') === 1);
    expect(started.count('rows in memory read whole', (log) => log.reason === 'start')).toBe(1);
    expect(sampleValue(await started.metrics(), 'stats_refresh_state_rows', { table: 'execution' })).toBe(await executionsInDatabase());

    // What the API writes constantly and no payload shows: never a run.
    const changeRuns = await runsBy(started, 'change');
    const probesBefore = await probes(started);
    for (let write = 0; write < 5; write++) {
      await services.database.query(`UPDATE execution SET progress = progress + 1, results = '{"step": ${write}}' WHERE status = 'RUNNING'`);
      await services.database.query(`UPDATE "user" SET updated_at = now() WHERE id IN (SELECT id FROM "user" ORDER BY created_at LIMIT 3)`);
    }
    await eventually('four probes after the progress writes', async () => (await probes(started)) >= probesBefore + 4);
    expect(await runsBy(started, 'change')).toBe(changeRuns);

    await submitRun();
    const expected = await executionsInDatabase();
    await eventually('the new run counted in the summary', async () => (await cachedExecutions()) === expected, 20_000);
    expect(await runsBy(started, 'change')).toBeGreaterThanOrEqual(changeRuns + 1);
    const text = await started.metrics();
    expect(sampleValue(text, 'stats_refresh_probe_failures_total')).toBe(0);
    expect(sampleValue(text, 'stats_refresh_data_age_seconds', { family: 'dashboard' })).toBeLessThan(60);
    expect(sampleValue(text, 'stats_refresh_db_budget_seconds')).toBeDefined();
    await eventually('the change run logged', () => started.count('schedule run finished', (log) => log.reason === 'change') >= 1);
    // The change run read only what changed: the rows were read whole once, at start.
    expect(started.count('rows in memory read whole')).toBe(1);
  });

  it('two replicas: one leads and runs, the other only waits; kill -9 the leader and the follower takes over and follows the data', async () => {
    const first = await schedule();
    await first.waitForLog('leading: this replica probes and runs');
    const second = await schedule();
    const firstHealth = await first.health();
    const secondHealth = await second.health();
    expect(firstHealth).toMatchObject({ status: 200, body: { role: 'leader' } });
    expect(secondHealth).toMatchObject({ status: 200, body: { healthy: true, role: 'follower' } });

    await submitRun();
    const expected = await executionsInDatabase();
    await eventually('the leader followed the change', async () => (await cachedExecutions()) === expected, 20_000);
    // Seconds of both alive: the follower never ran, nor probed.
    const leaderProbes = await probes(first);
    await eventually('the leader probed three more times', async () => (await probes(first)) >= leaderProbes + 3);
    expect(await allRuns(second)).toBe(0);
    expect(await probes(second)).toBe(0);
    expect(second.count('refresh started')).toBe(0);

    first.child.kill('SIGKILL');
    await first.done;
    await submitRun();
    const afterKill = await executionsInDatabase();
    // The lease lapses within 5 s; the follower tries every second, then starts with a start run.
    await eventually('the follower leads', () => second.count('leading: this replica probes and runs') === 1, 15_000);
    await eventually('the follower wrote the new run', async () => (await cachedExecutions()) === afterKill, 30_000);
    expect((await second.health()).body).toMatchObject({ healthy: true, role: 'leader' });
    expect(await runsBy(second, 'start')).toBe(1);

    // A clean stop releases the lease at once.
    second.child.kill('SIGTERM');
    expect((await second.done).code).toBe(0);
    expect(await services.redis.exists(LEADER_KEY)).toBe(0);
  });

  it('cron settings in change mode are a warning naming them; bad change settings are exit 2 naming the flag, before connecting', async () => {
    const started = await schedule(['--dashboard-cron', '*/5 * * * *']);
    await started.waitForLog('--dashboard-cron applies only with --mode cron: ignored');
    await started.stop();

    // An unreachable PostgreSQL: a usage error must come first.
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: services.env.REDIS_URL! };
    const cases: Array<[string[], RegExp]> = [
      [['--probe-interval', '0'], /^stats-refresh: --probe-interval must be a number of seconds from 0.1 to 3600, got "0"$/],
      [['--probe-interval', '7200'], /^stats-refresh: --probe-interval must be a number of seconds from 0.1 to 3600/],
      [['--db-budget', '0'], /^stats-refresh: --db-budget must be a number of seconds from 0.001 to 3600, got "0"$/],
      [['--db-budget', '-3'], /^stats-refresh: --db-budget must be a number of seconds/],
      [['--max-staleness', '1', '--probe-interval', '2'], /^stats-refresh: --max-staleness \(1 s\) must not be below the probe interval \(2 s\)$/],
      [['--quiet-probe-interval', '0.5'], /^stats-refresh: --quiet-probe-interval \(0.5 s\) must not be below the probe interval \(1 s\)$/],
      [['--mode', 'hourly'], /^stats-refresh: --mode must be one of change, cron, got "hourly"$/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(['schedule', ...args], env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.messages, args.join(' ')).toEqual([expect.stringMatching(message)]);
    }
  });
});
