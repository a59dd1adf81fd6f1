/**
 * The chaos test: every fault an operator meets, injected at random moments, many times,
 * into one-shot runs and into `schedule`, on the real services (a PostgreSQL cluster and a
 * redis-server of this file's own, so restarting them touches nothing else). Each run must
 * end by itself within a bound, with a documented exit code, its summary (or its one
 * line), no crash, no lock left, and every key it wrote equal to a fault-free run's.
 *
 * `npm run chaos:ci` runs a few of each (CI); `npm run chaos` runs CHAOS_RUNS (default 30)
 * of each. CHAOS_SEED replays a sequence of moments; the figures are printed at the end.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coveredKeys } from '../../src/requests/covered.js';
import { type CliRun, endedWithin, parseStderr, type RunningCli, startCli } from '../helpers/cli.js';
import { GOLDEN_EXPECTED, goldenValue } from '../helpers/golden.js';
import { random as generator } from '../helpers/random.js';
import { RedisServer } from '../helpers/redis-server.js';
import { eventually, startSchedule } from '../helpers/schedule.js';
import { GOLDEN_NOW, readKeys } from '../helpers/services.js';
import { loadGolden, startPostgres, type TestPostgres } from '../helpers/tls.js';

const RUNS = Number(process.env.CHAOS_RUNS ?? 3);
const SCHEDULE_FAULTS = Number(process.env.CHAOS_SCHEDULE_FAULTS ?? 2 * RUNS);
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31);
/** A run that has not ended by then hangs (the longest honest one: a Redis silent for its 10 s bound, twice). */
const HANG_MS = 60_000;
const LOCK_TTL_S = 3;
const GRACE_S = 2;
/** A statement silent for 15 s fails (the read deadline: this + 5 s), well within HANG_MS. */
const STATEMENT_TIMEOUT_S = 10;

// Replayable with CHAOS_SEED.
const random = generator(SEED);
const between = (low: number, high: number) => low + random() * (high - low);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let postgres: TestPostgres;
let redisServer: RedisServer;
let admin: Redis;
/**
 * slow: the golden copy whose execution view streams for about 3 s; big: a plain table of
 * 40 times the golden executions, whose table-form COPY streams for a second or so (the
 * form real databases get); aged: for schedule (below).
 */
const DATABASES = { slow: 'chaos_slow', big: 'chaos_big', aged: 'chaos_aged' } as const;
/** A fault-free run's values, by database (the slow copy's are the golden ones). */
const expectedOf = new Map<string, ReadonlyMap<string, unknown>>();
/** Outcomes by fault and exit code, for the figures. */
const figures = new Map<string, Map<string, number>>();

/** The figures so far, also written to CHAOS_FIGURES (a file) after every run: a long run shows its progress. */
function count(fault: string, outcome: string): void {
  const byOutcome = figures.get(fault) ?? new Map<string, number>();
  byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  figures.set(fault, byOutcome);
  const file = process.env.CHAOS_FIGURES;
  if (file) writeFileSync(file, `${JSON.stringify({ seed: SEED, figures: Object.fromEntries([...figures].map(([name, outcomes]) => [name, Object.fromEntries(outcomes)])) }, null, 1)}\n`);
}

beforeAll(async () => {
  console.log(`chaos: CHAOS_SEED=${SEED}, ${RUNS} runs per fault, ${SCHEDULE_FAULTS} faults on schedule`);
  postgres = await startPostgres();
  for (const name of Object.values(DATABASES)) await loadGolden(postgres, name);
  // Every 100th row waits: the pass lasts about 3 s, so a fault can land in any statement.
  const { rows } = await postgres.query(DATABASES.slow, 'SELECT count(*)::int AS n FROM execution WHERE hashtext(id::text) % 100 = 0');
  await postgres.query(
    DATABASES.slow,
    `CREATE FUNCTION stall_row() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM pg_sleep(${3 / (rows[0].n as number)}); RETURN true; END $$;
     ALTER TABLE execution RENAME TO execution_data;
     CREATE VIEW execution AS SELECT * FROM execution_data WHERE hashtext(id::text) % 100 <> 0 OR stall_row();`,
  );
  // schedule computes as of its own clock: with every row three years old, the payloads stay
  // the same while the test runs (checked below), so a fault-free run's values are known.
  await postgres.query(
    DATABASES.aged,
    `UPDATE execution SET start_date = start_date - interval '3 years', end_date = end_date - interval '3 years';
     UPDATE "user" SET created_at = created_at - interval '3 years';`,
  );
  await postgres.query(
    DATABASES.big,
    `INSERT INTO execution (id, start_date, end_date, status, script_id, user_id)
       SELECT gen_random_uuid(), start_date, end_date, status, script_id, user_id FROM execution, generate_series(1, 39)`,
  );
  await postgres.query(DATABASES.big, 'VACUUM ANALYZE execution');
  expectedOf.set(DATABASES.slow, new Map(Object.keys(GOLDEN_EXPECTED).map((key) => [key, goldenValue(key)])));
  expectedOf.set(DATABASES.big, await faultFree(DATABASES.big, ['--now', GOLDEN_NOW]));
  redisServer = await RedisServer.start();
  admin = new Redis(redisServer.port, '127.0.0.1', { retryStrategy: () => 100, maxRetriesPerRequest: null });
  admin.on('error', () => undefined);
}, 300_000);

afterAll(async () => {
  admin?.disconnect();
  await redisServer?.stop();
  await postgres?.stop();
  const table = [...figures].map(([fault, outcomes]) => `  ${fault}: ${[...outcomes].map(([outcome, n]) => `${outcome} ×${n}`).join(', ')}`);
  console.log(`chaos figures (CHAOS_SEED=${SEED}):\n${table.join('\n')}`);
});

/** A fault injected into a run; `after` undoes it, so the next run starts on healthy services. */
interface Fault {
  readonly name: string;
  /** Exit codes that are honest outcomes of this fault. */
  readonly codes: readonly number[];
  /** Redis loses its data: keys written before the fault may be gone. */
  readonly losesRedisData?: boolean;
  inject(run: ReturnType<typeof startCli>): Promise<void>;
}

const terminateBackends = (database: string) =>
  postgres.query('postgres', `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'stats-refresh'`);

/** The backends of stats-refresh on `database`, stopped (SIGSTOP) for `ms`, then continued whatever happens. */
async function stopBackends(database: string, ms: number): Promise<void> {
  const { rows } = await postgres.query('postgres', `SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'stats-refresh'`);
  const pids = rows.map((row) => row.pid as number);
  const signal = (name: NodeJS.Signals) => pids.forEach((pid) => {
    try {
      process.kill(pid, name);
    } catch {
      // Gone meanwhile.
    }
  });
  signal('SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    signal('SIGCONT');
  }
}

function faults(database: string): Fault[] {
  return [
    { name: 'backend terminated', codes: [0, 1], inject: () => terminateBackends(database).then(() => undefined) },
    { name: 'PostgreSQL fast restart', codes: [0, 1, 3], inject: () => postgres.restart() },
    {
      name: 'Redis killed, back later',
      codes: [0, 1, 3],
      losesRedisData: true,
      async inject() {
        await redisServer.kill();
        await sleep(between(0, 2_000));
        await redisServer.launch();
      },
    },
    { name: 'Redis restarted', codes: [0, 1, 3], losesRedisData: true, inject: () => redisServer.restart() },
    {
      name: 'Redis stopped and continued',
      codes: [0, 1, 3],
      async inject() {
        redisServer.pause();
        // Now and then past the 10 s command bound.
        await sleep(random() < 0.15 ? between(10_500, 12_000) : between(100, 3_000));
        redisServer.resume();
      },
    },
    {
      name: 'Redis stalled',
      codes: [0, 1, 3],
      async inject() {
        // Always past the 10 s command bound: commands time out, and may run when it resumes.
        redisServer.pause();
        await sleep(between(10_500, 13_000));
        redisServer.resume();
      },
    },
    {
      // The backends stop answering (the server or the path silent); one time in four past the read deadline.
      name: 'PostgreSQL silent',
      codes: [0, 1],
      inject: () => stopBackends(database, random() < 0.25 ? between(15_500, 20_000) : between(1_000, 14_000)),
    },
    {
      name: 'Redis clients killed',
      codes: [0, 1, 3],
      inject: () => admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes').then(() => undefined),
    },
    {
      name: 'SIGTERM',
      codes: [0, 1, 143],
      async inject(run) {
        run.child.kill('SIGTERM');
      },
    },
  ];
}

const bounded = (run: RunningCli, what: string): Promise<CliRun> => endedWithin(run, what, HANG_MS);

/**
 * A SIGTERM in the first moments, before Node has run a line of ours, ends the process by
 * the signal's default action: nothing was started, and the shell reports 143 all the same.
 */
function killedBeforeStart(done: CliRun): boolean {
  return done.signal === 'SIGTERM' && done.stdout === '' && done.stderr === '';
}

/** No crash: nothing on stderr but JSON log lines and, at most, the one-line message. */
function expectNoCrash(done: CliRun, what: string): void {
  if (!killedBeforeStart(done)) expect(done.signal, what).toBeNull();
  expect(done.messages.length, `${what}: ${done.messages.join('\n')}`).toBeLessThanOrEqual(1);
  for (const message of done.messages) expect(message, what).toMatch(/^stats-refresh: /);
  expect(done.stderr, what).not.toMatch(/Unhandled|TypeError|ReferenceError|\n\s+at /);
}

/** Locks: none left, unless the run said it could not release one; such a lock lapses within its TTL. */
async function expectNoLockLeft(done: CliRun, what: string): Promise<void> {
  const locks = await admin.keys('stats_refresh:lock:*');
  const unreleased = done.logs.some((log) => log.msg === 'lock not released');
  if (!unreleased) expect(locks, what).toEqual([]);
  for (const lock of locks) {
    const ttl = await admin.pttl(lock);
    expect(ttl === -2 || (ttl > 0 && ttl <= LOCK_TTL_S * 1000), `${what}: ${lock} PTTL ${ttl}`).toBe(true);
  }
}

/** A fault-free dry run's payloads, by key. */
async function faultFree(database: string, args: readonly string[] = []): Promise<Map<string, unknown>> {
  const run = await bounded(startCli(['refresh', 'all', '--dry-run', ...args], { DATABASE_URL: postgres.url(database) }), 'dry run');
  expect(run.code, run.stderr).toBe(0);
  return new Map(Object.entries((JSON.parse(run.stdout) as { payloads: Record<string, unknown> }).payloads));
}

/** Every stats_service key holds exactly a fault-free run's value; those the summary names are there, unless Redis lost its data. */
async function expectFaultFreeValues(done: CliRun, fault: Fault, database: string, what: string): Promise<void> {
  const expected = expectedOf.get(database)!;
  const stored = await readKeys(admin, 'stats_service:*');
  for (const [key, value] of stored) expect(JSON.parse(value), `${what}: ${key}`).toStrictEqual(expected.get(key));
  const lines = done.stdout.trim() === '' ? [] : done.stdout.trim().split('\n');
  expect(lines.length, `${what}: stdout`).toBeLessThanOrEqual(1);
  if (done.code === 0 || done.code === 1) expect(lines.length, `${what}: no summary`).toBe(1);
  if (lines.length === 0) return;
  const summary = JSON.parse(lines[0]!) as { successful: number; failed: number; cache_keys: string[]; total_refreshed: number };
  if (done.code === 0) expect(summary, what).toMatchObject({ failed: 0, successful: summary.total_refreshed });
  if (!fault.losesRedisData) for (const key of summary.cache_keys) expect(stored.has(key), `${what}: ${key} written but absent`).toBe(true);
}

/** Services healthy again after a fault: Redis answering, PostgreSQL accepting connections. */
async function recover(): Promise<void> {
  redisServer.resume();
  await eventually('Redis answers', async () => (await admin.ping().catch(() => null)) === 'PONG', 20_000);
  await eventually('PostgreSQL answers', async () => (await postgres.query('postgres', 'SELECT 1').then(() => true, () => false)), 30_000);
}

describe('chaos: one-shot runs', () => {
  const names = faults(DATABASES.slow).map((fault) => fault.name);
  it.each(names)('%s, at random moments', async (name) => {
    for (let index = 0; index < RUNS; index++) {
      const database = index % 3 === 2 ? DATABASES.big : DATABASES.slow;
      const fault = faults(database).find((candidate) => candidate.name === name)!;
      await recover();
      await admin.flushall();
      const run = startCli(['refresh', 'all', '--now', GOLDEN_NOW, '--lock-ttl', String(LOCK_TTL_S), '--grace-period', String(GRACE_S), '--statement-timeout', String(STATEMENT_TIMEOUT_S)], {
        DATABASE_URL: postgres.url(database),
        REDIS_URL: redisServer.url(0),
        LOG_LEVEL: 'debug',
      });
      // Either pass lasts about 4 s in all (statements, the pass, the writes).
      const moment = between(0, 4_500);
      const what = `${name} at ${Math.round(moment)} ms into a run on ${database} (CHAOS_SEED=${SEED}, run ${index})`;
      await Promise.race([sleep(moment), run.done]);
      if (run.child.exitCode === null) await fault.inject(run);
      const done = await bounded(run, what);
      const code = killedBeforeStart(done) ? 143 : done.code;
      count(name, killedBeforeStart(done) ? 'SIGTERM before start' : `exit ${code}`);
      await recover();
      expect(fault.codes, `${what}: exit ${code}\n${done.stderr}`).toContain(code);
      expectNoCrash(done, what);
      await expectNoLockLeft(done, what);
      await expectFaultFreeValues(done, fault, database, what);
    }
  });
});

describe('chaos: schedule', () => {
  const KEYS = [...coveredKeys().keys()];
  /** Half of SCHEDULE_FAULTS for each mode, PostgreSQL silent and Redis stalled always among them, in a random order. */
  const ALWAYS = ['PostgreSQL silent', 'Redis stalled'];
  function scheduleFaults(): Fault[] {
    const candidates = faults(DATABASES.aged).filter((candidate) => candidate.name !== 'SIGTERM');
    const chosen = candidates.filter((candidate) => ALWAYS.includes(candidate.name));
    while (chosen.length < Math.ceil(SCHEDULE_FAULTS / 2)) chosen.push(candidates[Math.floor(random() * candidates.length)]!);
    return chosen
      .map((fault) => ({ fault, order: random() }))
      .sort((a, b) => a.order - b.order)
      .map(({ fault }) => fault);
  }

  // Both modes, the faults split between them: change mode's probe talks to PostgreSQL every second.
  it.each(['cron', 'change'] as const)('%s mode: survives every fault at random moments, heals, stays honest and stops cleanly', async (mode) => {
    // As of now: schedule computes as of its own clock.
    const expected = await faultFree(DATABASES.aged);
    await admin.flushall();
    const env = { DATABASE_URL: postgres.url(DATABASES.aged), REDIS_URL: redisServer.url(0), LOG_LEVEL: 'debug' };
    const every = '*/3 * * * * *';
    const schedule = await startSchedule(
      [
        ...(mode === 'cron' ? ['--mode', 'cron', '--dashboard-cron', every, '--executions-cron', every, '--users-cron', every] : ['--mode', 'change']),
        ...['--check-interval', '0.5', '--lock-ttl', String(LOCK_TTL_S), '--grace-period', String(GRACE_S), '--statement-timeout', String(STATEMENT_TIMEOUT_S)],
      ],
      env,
    );
    try {
      const injected: string[] = [];
      for (const fault of scheduleFaults()) {
        await sleep(between(0, 3_000));
        await fault.inject(schedule);
        injected.push(fault.name);
        count(`schedule (${mode})`, fault.name);
        expect(schedule.child.exitCode, `schedule exited after ${injected.join(', ')}`).toBeNull();
        await recover();
      }
      // Healthy again, every key back, each equal to the fault-free run's.
      await eventually(
        'every covered key back and /healthz 200',
        async () => (await admin.exists(...KEYS)) === KEYS.length && (await schedule.health()).status === 200,
        60_000,
      );
      const stored = await readKeys(admin, 'stats_service:*');
      for (const [key, value] of stored) expect(JSON.parse(value), `${key} after ${injected.join(', ')} (${mode} mode)`).toStrictEqual(expected.get(key));
    } finally {
      schedule.child.kill('SIGTERM');
    }
    const done = await bounded(schedule, 'schedule after SIGTERM');
    expect(done.code, done.stderr).toBe(0);
    expect(parseStderr(done.stderr).messages).toEqual([]);
    expectNoCrash(done, 'schedule');
    await expectNoLockLeft(done, 'schedule');
    // The premise: the aged database's payloads did not change while the test ran.
    expect(await faultFree(DATABASES.aged)).toEqual(expected);
  });

  it('SIGTERM at a random moment: exit 0 within the grace period, no lock left', async () => {
    for (let index = 0; index < RUNS; index++) {
      await admin.flushall();
      const run = startCli(['schedule', '--check-interval', '0.5', '--lock-ttl', String(LOCK_TTL_S), '--grace-period', String(GRACE_S)], {
        DATABASE_URL: postgres.url(DATABASES.slow),
        REDIS_URL: redisServer.url(0),
      });
      const moment = between(0, 5_000);
      await sleep(moment);
      const signalled = Date.now();
      run.child.kill('SIGTERM');
      const done = await bounded(run, `schedule, SIGTERM at ${Math.round(moment)} ms`);
      count('schedule SIGTERM', killedBeforeStart(done) ? 'SIGTERM before start' : `exit ${done.code}`);
      if (!killedBeforeStart(done)) expect(done.code, done.stderr).toBe(0);
      // The grace period, then the slack for writes and lock releases (src/run/runtime.ts).
      expect(Date.now() - signalled).toBeLessThan((GRACE_S + 5 + 3) * 1000);
      expectNoCrash(done, 'schedule SIGTERM');
      await expectNoLockLeft(done, 'schedule SIGTERM');
    }
  });
});
