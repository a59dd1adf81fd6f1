/**
 * The scheduler's decisions in-process, with an injected clock and runs of its own: which
 * families a check refreshes, when a repeated loss is deferred, that a family never runs
 * twice at once, and what /healthz says as time passes; in change mode, when the data's
 * changes start runs (debounce, the dirty run, bursts, --max-staleness, the database
 * budget) and which replica leads. Its Redis is a real server; the data is a version
 * number the tests move, fingerprinted by a probe that reads it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, loadScheduleConfig } from '../../src/config.js';
import { ScheduleMetrics } from '../../src/io/metrics.js';
import { FAMILIES, type Family } from '../../src/requests/batches.js';
import { coveredKeys } from '../../src/requests/covered.js';
import type { RefreshRun } from '../../src/run/results.js';
import { openRuntime, type RedisRuntime } from '../../src/run/runtime.js';
import { LEADER_KEY, LeaderLease, type LeaseClient } from '../../src/io/leader-lease.js';
import { DEBOUNCE_MS, QUIET_AFTER_MS } from '../../src/schedule/change-loop.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { sampleValue } from '../helpers/schedule.js';

const START = Date.parse('2026-06-15T12:00:00Z');
const SECOND = 1000;

let server: RedisServer;
let redis: TestRedisClient;
let runtime: RedisRuntime;
let time: number;
let runs: Array<{ families: readonly Family[]; command: string; now: Date; version: number }>;
/** The data: each change moves it on; the probe fingerprints it. */
let version: number;
/** What each run costs the database, in ms of statement time. */
let runDbMs: number;
/** Whether the probe fails (PostgreSQL restarting). */
let probeFails: boolean;
/** Probes the change-mode scheduler made. */
let probes: number;
/** How many of the next runs are cut short (they write nothing). */
let failNext: number;
/** Runs wait for this before they finish, when a test holds them. */
let hold: Promise<void> | null;
/** Families whose runs find drift recorded (and so yield to the API, writing nothing). */
let drifted: Set<Family>;
let scheduler: Scheduler;

/** A run that writes the families' covered keys, as a real one would. */
async function fakeRun(families: readonly Family[], command: string, _signal: AbortSignal, now: Date): Promise<RefreshRun> {
  runs.push({ families, command, now, version });
  if (hold) await hold;
  const interrupted = failNext > 0 ? 'cut short' : null;
  failNext = Math.max(0, failNext - 1);
  const keys = [...coveredKeys()].filter(([, family]) => families.includes(family) && !drifted.has(family)).map(([key]) => key);
  for (const key of keys) await redis.set(key, '{}', 'EX', 300);
  return {
    command,
    now,
    startedAt: now,
    dryRun: false,
    ttlSeconds: 300,
    durationMs: 10,
    statements: 4,
    families,
    skipped: [],
    dbMs: runDbMs,
    interrupted,
    results: [],
    payloads: null,
    sha1: new Map(),
    drift: new Map([...drifted].map((family) => [family, { endpoint: family, build: 'test', detected_at: now.toISOString(), key: 'k', differences: [] }])),
  };
}

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await server.client();
  runtime = await openRuntime(loadConfig({ redisUrl: server.url(), logLevel: 'silent' }, {}), { db: false, redis: true, longRunning: true });
  await runtime.checkReachable();
});

afterAll(async () => {
  await runtime?.close();
  await redis?.close();
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
  time = START;
  runs = [];
  version = 0;
  runDbMs = 0;
  probeFails = false;
  probes = 0;
  failNext = 0;
  hold = null;
  drifted = new Set();
  // A check every 5 s (heals then wait 10 s, 20 s, … and are forgiven after 30 s of quiet); the loop's own timer is an hour away.
  const settings = { ...loadScheduleConfig({ mode: 'cron', checkInterval: '5' }, {}, () => new Date(START)), checkIntervalMs: 5 * SECOND };
  scheduler = new Scheduler({
    runtime,
    metrics: new ScheduleMetrics(FAMILIES),
    settings,
    signal: new AbortController().signal,
    clock: () => time,
    runFamilies: fakeRun,
  });
});

afterEach(async () => {
  await scheduler.stop();
});

/**
 * Lets the runs started finish (however loaded the machine), then the check that follows each
 * run happen (it comes 100 ms after the last check at most).
 */
async function settle(): Promise<void> {
  await scheduler.settled();
  await new Promise((resolve) => setTimeout(resolve, 300));
}

describe('self-healing decisions', () => {
  it('refreshes every family whose keys are missing, in one run, at the clock\'s time', async () => {
    await scheduler.check();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ families: FAMILIES, command: 'schedule heal: dashboard,executions,users' });
    expect(runs[0]!.now.getTime()).toBe(START);
    await settle();
    expect(await redis.exists(...coveredKeys().keys())).toBe(41);
  });

  it('does nothing while every key is present', async () => {
    await scheduler.check();
    await settle();
    time += 5 * SECOND;
    await scheduler.check();
    expect(runs).toHaveLength(1);
  });

  it('defers a family that keeps losing its keys (10 s, then 20 s after the last heal), and forgives it after 30 s of quiet', async () => {
    const usersKey = [...coveredKeys()].find(([, family]) => family === 'users')![0];
    const lose = async (at: number) => {
      time = START + at * SECOND;
      await redis.del(usersKey);
      await scheduler.check();
    };
    await scheduler.check();
    await settle(); // the run, then the check that follows every run: the keys are back
    await lose(2);
    expect(runs).toHaveLength(1); // 2 s after a heal: wait until 10 s after it
    time = START + 11 * SECOND;
    await scheduler.check();
    expect(runs).toHaveLength(2);
    await settle();
    await lose(13);
    time = START + 30 * SECOND;
    await scheduler.check();
    expect(runs).toHaveLength(2); // now 20 s after the last heal (11 s): not before 31 s
    time = START + 31 * SECOND;
    await scheduler.check();
    expect(runs).toHaveLength(3);
    await settle();
    // Present for more than 30 s: the next loss is a fresh one, healed at once.
    time = START + 40 * SECOND;
    await scheduler.check();
    await lose(75);
    expect(runs.map((run) => run.families)).toEqual([FAMILIES, ['users'], ['users'], ['users']]);
  });

  it('does not heal the keys of a family yielding to the API after drift', async () => {
    drifted = new Set(['users']);
    await scheduler.check();
    await settle();
    expect(runs.map((run) => run.families)).toEqual([FAMILIES]);
    time += 60 * SECOND;
    await scheduler.check();
    expect(runs).toHaveLength(1);
  });

  it('never starts a family that is still running', async () => {
    let release = () => undefined as void;
    hold = new Promise((resolve) => {
      release = resolve;
    });
    scheduler.trigger(['executions'], 'cron');
    scheduler.trigger(['executions', 'users'], 'cron');
    expect(runs.map((run) => run.families)).toEqual([['executions'], ['users']]);
    await scheduler.check();
    // executions and users are running; only dashboard is started.
    expect(runs.map((run) => run.families)).toEqual([['executions'], ['users'], ['dashboard']]);
    release();
    await settle();
  });
});

describe('health over time', () => {
  it('healthy after the runs succeed; unhealthy once a family is older than two of its intervals', async () => {
    scheduler.trigger(FAMILIES, 'start');
    await settle();
    expect(scheduler.health()).toMatchObject({ healthy: true, loop_alive: true });
    time += 9 * 60 * SECOND;
    const report = scheduler.health();
    expect(report.families).toMatchObject({ dashboard: { healthy: false }, users: { healthy: true } });
    expect(report.healthy).toBe(false);
  });

  it('counts a family refreshed by another replica (its last run in Redis), not only its own runs', async () => {
    // Another replica wins every lock: this one's runs skip every family.
    const skipping: typeof fakeRun = async (families, command, _signal, now) => ({ ...(await fakeRun([], command, _signal, now)), skipped: families });
    const replica = new Scheduler({
      runtime,
      metrics: new ScheduleMetrics(FAMILIES),
      settings: { ...loadScheduleConfig({ mode: 'cron' }, {}, () => new Date(START)), checkIntervalMs: 5 * SECOND },
      signal: new AbortController().signal,
      clock: () => time,
      runFamilies: skipping,
    });
    try {
      replica.trigger(FAMILIES, 'start');
      await settle();
      for (let minute = 2; minute <= 20; minute += 2) {
        time = START + minute * 60 * SECOND;
        // The other replica's runs, recorded as every run records them (src/io/metadata.ts).
        for (const family of FAMILIES) {
          const started = new Date(time - 2 * SECOND).toISOString();
          await redis.set(`stats_refresh:last_run:${family}`, JSON.stringify({ family, started_at: started, duration_ms: 1500, now: started, successful: 5, failed: 0, failures: [] }));
        }
        await replica.check();
        // A check the last one triggered may still be going: let it end.
        await settle();
        expect(replica.health(), `minute ${minute}: ${JSON.stringify(replica.health().reasons)}`).toMatchObject({ healthy: true });
      }
      // The other replica stops succeeding: a failed run is no success.
      const started = new Date(time).toISOString();
      await redis.set('stats_refresh:last_run:users', JSON.stringify({ family: 'users', started_at: started, duration_ms: 1500, now: started, successful: 0, failed: 6, failures: [] }));
      time += 13 * 60 * SECOND;
      await replica.check();
      await settle();
      expect(replica.health().families).toMatchObject({ users: { healthy: false } });
    } finally {
      await replica.stop();
    }
  });
});

/** A scheduler in change mode on the test's clock; stopped after the test. */
const changeSchedulers: Scheduler[] = [];
function changeMode(flags: Record<string, string> = {}): { scheduler: Scheduler; metrics: ScheduleMetrics } {
  const metrics = new ScheduleMetrics(FAMILIES);
  const settings = loadScheduleConfig({ probeInterval: '1', checkInterval: '5', ...flags }, {}, () => new Date(START));
  const created = new Scheduler({
    runtime,
    metrics,
    settings,
    signal: new AbortController().signal,
    clock: () => time,
    runFamilies: fakeRun,
    probe: async () => {
      probes += 1;
      if (probeFails) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return { key: `v${version}` };
    },
  });
  changeSchedulers.push(created);
  return { scheduler: created, metrics };
}

afterEach(async () => {
  await Promise.all(changeSchedulers.splice(0).map((created) => created.stop()));
});

/**
 * Moves the clock on by `ms` in steps of `step`, letting the scheduler decide (and its runs
 * finish) at each, and renew its lease as its timer would.
 */
async function runFor(changing: Scheduler, ms: number, step = 50, atEach: () => void = () => undefined): Promise<void> {
  for (const end = time + ms; time < end; ) {
    time += step;
    atEach();
    await changing.claimLead();
    await changing.tick();
    await changing.settled();
  }
}

const reasons = () => runs.map((run) => run.command.split(':')[0]!.replace('schedule ', ''));

describe('change mode', () => {
  it('leads, runs every family at start, then a change starts one run after the debounce, with the data as probed', async () => {
    const { scheduler: changing } = changeMode();
    expect(await changing.claimLead()).toBe(true);
    await changing.tick();
    await changing.settled();
    expect(runs.map((run) => run.families)).toEqual([FAMILIES]);
    expect(reasons()).toEqual(['start']);
    await runFor(changing, 5 * SECOND);
    expect(runs).toHaveLength(1); // nothing changed
    version = 1;
    const step = async (ms: number) => {
      time += ms;
      await changing.tick();
      await changing.settled();
    };
    await step(SECOND); // the next probe sees it
    expect(runs).toHaveLength(1);
    await step(DEBOUNCE_MS - 1);
    expect(runs).toHaveLength(1);
    await step(1);
    expect(reasons()).toEqual(['start', 'change']);
    expect(runs[1]).toMatchObject({ families: FAMILIES, version: 1 });
    await runFor(changing, 10 * SECOND);
    expect(runs).toHaveLength(2);
  });

  it('changes during a run cause exactly one more run after it', async () => {
    const { scheduler: changing } = changeMode();
    await changing.claimLead();
    await runFor(changing, SECOND);
    let release = () => undefined as void;
    hold = new Promise((resolve) => {
      release = resolve;
    });
    version = 1;
    // The change run starts (after the next probe and the debounce), and is held.
    for (let step = 0; step < 30 && runs.length < 2; step++) {
      time += 50;
      await changing.tick();
    }
    expect(reasons()).toEqual(['start', 'change']);
    // Changes while it runs: seen by the probes, no run starts.
    for (let change = 0; change < 5; change++) {
      version += 1;
      time += SECOND;
      await changing.claimLead();
      await changing.tick();
    }
    expect(runs).toHaveLength(2);
    hold = null;
    release();
    await changing.settled();
    await runFor(changing, 30 * SECOND);
    expect(reasons()).toEqual(['start', 'change', 'change']);
    expect(runs[2]!.version).toBe(6);
  });

  it('100 changes in one second cause at most two runs, and the last one covers them all', async () => {
    const { scheduler: changing } = changeMode();
    await changing.claimLead();
    await runFor(changing, 1_370);
    const burstStart = time;
    await runFor(changing, 10 * SECOND, 10, () => {
      const due = Math.min(100, Math.floor((time - burstStart) / 10));
      version = Math.max(version, due);
    });
    expect(version).toBe(100);
    const changes = runs.filter((run) => run.command.startsWith('schedule change'));
    expect(changes.length).toBeGreaterThanOrEqual(1);
    expect(changes.length).toBeLessThanOrEqual(2);
    expect(runs.at(-1)!.version).toBe(100);
  });

  it('a full run every --max-staleness after the last one started, changes or not', async () => {
    const { scheduler: changing } = changeMode({ maxStaleness: '300' });
    await changing.claimLead();
    await runFor(changing, 299 * SECOND, 500);
    expect(reasons()).toEqual(['start']);
    await runFor(changing, 1.5 * SECOND, 500);
    expect(reasons()).toEqual(['start', 'time']);
    expect(runs[1]!.now.getTime() - runs[0]!.now.getTime()).toBe(300 * SECOND);
    // A change run starts the count again.
    await runFor(changing, 100 * SECOND, 500);
    version = 1;
    // Quiet for minutes: the probe runs every 3 s (--quiet-probe-interval).
    await runFor(changing, 4 * SECOND, 100);
    expect(reasons()).toEqual(['start', 'time', 'change']);
    const changedAt = runs[2]!.now.getTime();
    await runFor(changing, changedAt + 299 * SECOND - time, 500);
    expect(reasons()).toEqual(['start', 'time', 'change']);
    await runFor(changing, 1.5 * SECOND, 500);
    expect(reasons()).toEqual(['start', 'time', 'change', 'time']);
    expect(runs[3]!.now.getTime() - changedAt).toBeLessThanOrEqual(300.5 * SECOND);
  });

  it('the database budget holds changed-data runs without losing one: the run waits, is counted budget-delayed, and covers every change', async () => {
    // 36 s an hour refills 1 s every 100 s; each run costs 1 s; the bucket holds 3 runs' worth.
    runDbMs = 1_000;
    const { scheduler: changing, metrics } = changeMode({ dbBudget: '36' });
    await changing.claimLead();
    await runFor(changing, SECOND);
    for (let change = 1; change <= 2; change++) {
      version = change;
      await runFor(changing, 2 * SECOND);
    }
    expect(reasons()).toEqual(['start', 'change', 'change']);
    // The bucket is empty: the next changes wait.
    version = 3;
    await runFor(changing, 30 * SECOND, 500);
    version = 4;
    await runFor(changing, 30 * SECOND, 500);
    expect(runs).toHaveLength(3);
    expect(sampleValue(await metrics.text(), 'stats_refresh_db_budget_seconds')).toBeLessThan(1);
    await runFor(changing, 45 * SECOND, 500);
    expect(reasons()).toEqual(['start', 'change', 'change', 'budget-delayed']);
    expect(runs[3]!.version).toBe(4);
    const held = runs[3]!.now.getTime() - runs[2]!.now.getTime();
    expect(held).toBeGreaterThanOrEqual(95 * SECOND);
    expect(held).toBeLessThanOrEqual(102 * SECOND);
    const text = await metrics.text();
    expect(sampleValue(text, 'stats_refresh_schedule_runs_total', { reason: 'budget-delayed' })).toBe(1);
    expect(sampleValue(text, 'stats_refresh_schedule_runs_total', { reason: 'change' })).toBe(2);
    await runFor(changing, 200 * SECOND, 1_000);
    expect(runs).toHaveLength(4); // nothing more changed
  });

  it('a failing probe retries every probe interval, never stops the loop, and turns /healthz unhealthy after 30 s', async () => {
    const { scheduler: changing, metrics } = changeMode();
    await changing.claimLead();
    await runFor(changing, SECOND);
    probeFails = true;
    version = 1;
    await runFor(changing, 30 * SECOND, 250);
    await changing.check(); // the self-healing loop is alive
    expect(changing.health()).toMatchObject({ healthy: true, role: 'leader' });
    await runFor(changing, 2 * SECOND, 250);
    await changing.check();
    const report = changing.health();
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual([expect.stringMatching(/^change probes failing for 3\d s: connect ECONNREFUSED/)]);
    // About one probe a second: 32 s of failures.
    const failures = sampleValue(await metrics.text(), 'stats_refresh_probe_failures_total') ?? 0;
    expect(failures).toBeGreaterThanOrEqual(31);
    expect(failures).toBeLessThanOrEqual(33);
    expect(runs).toHaveLength(1);
    probeFails = false;
    await runFor(changing, 2 * SECOND);
    expect(reasons()).toEqual(['start', 'change']);
    await changing.check();
    expect(changing.health().healthy).toBe(true);
  });

  it('probes every --quiet-probe-interval once no change was seen for two minutes, and every --probe-interval again from the first change', async () => {
    const { scheduler: changing, metrics } = changeMode({ maxStaleness: '3600' });
    const probesDuring = async (ms: number) => {
      const before = probes;
      await runFor(changing, ms, 250);
      return probes - before;
    };
    const interval = async () => sampleValue(await metrics.text(), 'stats_refresh_probe_interval_seconds');
    await changing.claimLead();
    expect(await probesDuring(QUIET_AFTER_MS - 10 * SECOND)).toBeGreaterThan(100);
    expect(await probesDuring(9 * SECOND)).toBe(9);
    expect(await interval()).toBe(1);
    await runFor(changing, 2 * SECOND, 250);
    // Quiet: the default, one probe every 3 s.
    expect(await probesDuring(60 * SECOND)).toBe(20);
    expect(await interval()).toBe(3);
    expect(reasons()).toEqual(['start']);
    // The first change is seen within one quiet interval.
    version = 1;
    await runFor(changing, 3 * SECOND + DEBOUNCE_MS, 250);
    expect(reasons()).toEqual(['start', 'change']);
    expect(await probesDuring(10 * SECOND)).toBe(10);
    expect(await interval()).toBe(1);
  });

  it('--quiet-probe-interval equal to --probe-interval never slows the probe', async () => {
    const { scheduler: steady, metrics } = changeMode({ maxStaleness: '3600', quietProbeInterval: '1' });
    await steady.claimLead();
    await runFor(steady, QUIET_AFTER_MS, 500);
    const before = probes;
    await runFor(steady, 30 * SECOND, 500);
    expect(probes - before).toBe(30);
    expect(sampleValue(await metrics.text(), 'stats_refresh_probe_interval_seconds')).toBe(1);
  });

  it('a run that did not write everything is tried again (backing off) until one does', async () => {
    const { scheduler: changing } = changeMode();
    await changing.claimLead();
    await runFor(changing, SECOND);
    failNext = 2;
    version = 1;
    await runFor(changing, 10 * SECOND, 100);
    expect(reasons()).toEqual(['start', 'change', 'change', 'change']);
    expect(runs.slice(1).map((run) => run.version)).toEqual([1, 1, 1]);
    // Waits of one probe interval, then two, between failed runs.
    const gaps = runs.slice(2).map((run, index) => run.now.getTime() - runs[index + 1]!.now.getTime());
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    await runFor(changing, 20 * SECOND, 500);
    expect(runs).toHaveLength(4);
  });
});

describe('leadership', () => {
  it('one replica leads; the other runs nothing, is healthy, and takes over once the lease is released or lapses', async () => {
    const first = changeMode().scheduler;
    const second = changeMode().scheduler;
    expect(await first.claimLead()).toBe(true);
    expect(await second.claimLead()).toBe(false);
    await runFor(second, 3 * SECOND);
    expect(runs).toHaveLength(0);
    expect(second.health()).toMatchObject({ healthy: true, role: 'follower' });
    await runFor(first, SECOND);
    expect(runs).toHaveLength(1);
    // The leader dies: its lease lapses in Redis.
    await redis.pexpire(LEADER_KEY, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await second.claimLead()).toBe(true);
    await runFor(second, SECOND);
    expect(reasons()).toEqual(['start', 'start']);
    expect(await first.claimLead()).toBe(false);
    expect(first.health()).toMatchObject({ healthy: true, role: 'follower' });
    await second.stop();
    expect(await redis.exists(LEADER_KEY)).toBe(0);
    expect(await first.claimLead()).toBe(true);
  });

  it('a claim whose reply was lost leaves no lease it would not recognise', async () => {
    let lose = true;
    const client: LeaseClient = {
      async eval(...args: Parameters<LeaseClient['eval']>) {
        const reply = await redis.eval(...(args as [string, number, ...Array<string | number>]));
        if (lose) throw new Error('Redis did not answer within 10 s');
        return reply;
      },
    };
    const lease = new LeaderLease(client, 5_000, () => time);
    await expect(lease.claim()).rejects.toThrow(/did not answer/);
    expect(lease.held()).toBe(false);
    lose = false;
    expect(await lease.claim()).toBe(true);
    expect(lease.held()).toBe(true);
    expect(lease.held(time + 5_000)).toBe(false);
    await lease.release();
    expect(await redis.exists(LEADER_KEY)).toBe(0);
  });
});
