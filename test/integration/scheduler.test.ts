/**
 * The scheduler's decisions in-process, with an injected clock and runs of its own: which
 * families a check refreshes, when a repeated loss is deferred, that a family never runs
 * twice at once, and what /healthz says as time passes. Its Redis is a real server.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, loadScheduleConfig } from '../../src/config.js';
import { RefreshMetrics } from '../../src/io/metrics.js';
import { FAMILIES, type Family } from '../../src/requests/batches.js';
import { coveredKeys } from '../../src/requests/covered.js';
import type { RefreshRun } from '../../src/run/results.js';
import { openRuntime, type Runtime } from '../../src/run/runtime.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';

const START = Date.parse('2026-06-15T12:00:00Z');
const SECOND = 1000;

let server: RedisServer;
let redis: TestRedisClient;
let runtime: Runtime;
let time: number;
let runs: Array<{ families: readonly Family[]; command: string; now: Date }>;
/** Runs wait for this before they finish, when a test holds them. */
let hold: Promise<void> | null;
/** Families whose runs find drift recorded (and so yield to the API, writing nothing). */
let drifted: Set<Family>;
let scheduler: Scheduler;

/** A run that writes the families' covered keys, as a real one would. */
async function fakeRun(families: readonly Family[], command: string, _signal: AbortSignal, now: Date): Promise<RefreshRun> {
  runs.push({ families, command, now });
  if (hold) await hold;
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
    interrupted: null,
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
  hold = null;
  drifted = new Set();
  // A check every 5 s (heals then wait 10 s, 20 s, … and are forgiven after 30 s of quiet); the loop's own timer is an hour away.
  const settings = { ...loadScheduleConfig({ checkInterval: '5' }, {}, () => new Date(START)), checkIntervalMs: 5 * SECOND };
  scheduler = new Scheduler({
    runtime,
    metrics: new RefreshMetrics({ families: FAMILIES }),
    settings,
    signal: new AbortController().signal,
    clock: () => time,
    runFamilies: fakeRun,
  });
});

afterEach(async () => {
  await scheduler.stop();
});

/** Lets the runs started finish, and the check that follows each run happen (it comes 100 ms after the last check at most). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('self-healing decisions', () => {
  it('refreshes every family whose keys are missing, in one run, at the clock\'s time', async () => {
    await scheduler.check();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ families: FAMILIES, command: 'schedule self-heal: dashboard,executions,users' });
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
      metrics: new RefreshMetrics({ families: FAMILIES }),
      settings: { ...loadScheduleConfig({}, {}, () => new Date(START)), checkIntervalMs: 5 * SECOND },
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
