/**
 * schedule's pure parts: its settings, the self-healing bound and the health rule.
 */
import { describe, expect, it } from 'vitest';
import { SCHEDULE_DEFAULTS, loadConfig, loadScheduleConfig } from '../../src/config.js';
import { UsageError } from '../../src/lib/errors.js';
import { firingsPerHour, longestGapMs } from '../../src/lib/cron.js';
import { BUCKET_RUNS, DbBudget } from '../../src/schedule/db-budget.js';
import { healthOf } from '../../src/schedule/health.js';
import { HealBudget } from '../../src/schedule/self-heal.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const MIN = 60_000;

describe('schedule settings', () => {
  it('defaults: change mode, a probe a second, 300 s staleness, the default budget (37 cron runs an hour), a 5 s check, no metrics server', () => {
    const settings = loadScheduleConfig({}, {}, () => NOW);
    expect(settings).toMatchObject({ mode: 'change', probeIntervalMs: 1_000, maxStalenessMs: 300_000, dbBudgetSecondsPerHour: null, cronRunsPerHour: 37, ignored: [] });
    // The longest gap between runs, for health and the TTL warning: --max-staleness.
    expect(settings.intervalsMs).toEqual({ dashboard: 5 * MIN, executions: 5 * MIN, users: 5 * MIN });
    expect(settings).toMatchObject({ checkIntervalMs: 5_000, metricsPort: null, metricsHost: '0.0.0.0' });
  });

  it('change mode: its flags and variables; the cron settings are named as ignored, not read', () => {
    const settings = loadScheduleConfig(
      { probeInterval: '0.5', maxStaleness: '60', dbBudget: '12.5', usersCron: 'not even cron' },
      { STATS_REFRESH_DASHBOARD_CRON: '0 * * * *', STATS_REFRESH_PROBE_INTERVAL: '3' },
      () => NOW,
    );
    expect(settings).toMatchObject({ mode: 'change', probeIntervalMs: 500, maxStalenessMs: 60_000, dbBudgetSecondsPerHour: 12.5 });
    expect(settings.ignored).toEqual(['STATS_REFRESH_DASHBOARD_CRON', '--users-cron']);
    expect(loadScheduleConfig({}, { STATS_REFRESH_SCHEDULE_MODE: 'cron' }, () => NOW).mode).toBe('cron');
    expect(loadScheduleConfig({ mode: 'cron', maxStaleness: '10' }, {}, () => NOW).intervalsMs.dashboard).toBe(4 * MIN);
  });

  it('cron mode: the CronJobs\' schedules and their longest gaps', () => {
    const settings = loadScheduleConfig({ mode: 'cron' }, {}, () => NOW);
    expect(settings.schedules).toEqual({ dashboard: '1-59/4 * * * *', executions: '2-59/5 * * * *', users: '4-59/6 * * * *' });
    expect(settings.intervalsMs).toEqual({ dashboard: 4 * MIN, executions: 5 * MIN, users: 6 * MIN });
    expect(settings).toMatchObject({ checkIntervalMs: 5_000, metricsPort: null, metricsHost: '0.0.0.0' });
  });

  it('flags override the environment; 6-field expressions have seconds', () => {
    const settings = loadScheduleConfig(
      { mode: 'cron', usersCron: '*/2 * * * * *', checkInterval: '0.5', metricsPort: '9464' },
      { STATS_REFRESH_USERS_CRON: '0 * * * *', STATS_REFRESH_DASHBOARD_CRON: '0 */2 * * *', STATS_REFRESH_METRICS_HOST: '127.0.0.1' },
      () => NOW,
    );
    expect(settings.schedules.users).toBe('*/2 * * * * *');
    expect(settings.intervalsMs.users).toBe(2_000);
    expect(settings.intervalsMs.dashboard).toBe(120 * MIN);
    expect(settings).toMatchObject({ checkIntervalMs: 500, metricsPort: 9464, metricsHost: '127.0.0.1' });
  });

  it.each([
    [{ mode: 'cron', dashboardCron: '61 * * * *' }, {}, /^--dashboard-cron is not a valid cron expression \("61 \* \* \* \*"\): .*minute/],
    [{}, { STATS_REFRESH_SCHEDULE_MODE: 'cron', STATS_REFRESH_EXECUTIONS_CRON: '1/4 * * * *' }, /^STATS_REFRESH_EXECUTIONS_CRON is not a valid cron expression/],
    [{ mode: 'cron', usersCron: '* * * * * * *' }, {}, /^--users-cron is not a valid cron expression.*5 or 6 parts/],
    [{ mode: 'cron', usersCron: '0 0 30 2 *' }, {}, /^--users-cron \("0 0 30 2 \*"\) never fires$/],
    [{ mode: 'adaptive' }, {}, /^--mode must be one of change, cron, got "adaptive"$/],
    [{}, { STATS_REFRESH_SCHEDULE_MODE: 'x' }, /^STATS_REFRESH_SCHEDULE_MODE must be one of change, cron/],
    [{ probeInterval: '0' }, {}, /^--probe-interval must be a number of seconds from 0.1 to 3600, got "0"$/],
    [{ probeInterval: '-1' }, {}, /^--probe-interval must be a number of seconds from 0.1 to 3600, got "-1"$/],
    [{ probeInterval: '3601' }, {}, /^--probe-interval must be a number of seconds from 0.1 to 3600, got "3601"$/],
    [{ dbBudget: '0' }, {}, /^--db-budget must be a number of seconds from 0.001 to 3600, got "0"$/],
    [{ dbBudget: '-5' }, {}, /^--db-budget must be a number of seconds from 0.001 to 3600, got "-5"$/],
    [{ maxStaleness: '2', probeInterval: '5' }, {}, /^--max-staleness \(2 s\) must not be below the probe interval \(5 s\)$/],
    [{}, { STATS_REFRESH_MAX_STALENESS: '0.5' }, /^STATS_REFRESH_MAX_STALENESS \(0.5 s\) must not be below the probe interval \(1 s\)$/],
    [{ checkInterval: '0' }, {}, /^--check-interval must be a number of seconds from 0.1 to 3600, got "0"$/],
    [{}, { STATS_REFRESH_CHECK_INTERVAL: 'soon' }, /^STATS_REFRESH_CHECK_INTERVAL must be a number of seconds/],
    [{ metricsPort: '70000' }, {}, /^--metrics-port must be a whole number from 0 to 65535/],
  ])('rejects %j %j with a UsageError naming the setting', (flags, env, message) => {
    expect(() => loadScheduleConfig(flags, env, () => NOW)).toThrow(UsageError);
    expect(() => loadScheduleConfig(flags, env, () => NOW)).toThrow(message);
  });

  it('schedule\'s TTL default is 750 s, above the longest default gap plus a slow run; the others keep 300', () => {
    expect(SCHEDULE_DEFAULTS.ttlSeconds).toBeGreaterThan(6 * 60 + 60);
    expect(loadConfig({}, {}, () => NOW, { ttlSeconds: SCHEDULE_DEFAULTS.ttlSeconds }).ttlSeconds).toBe(750);
    expect(loadConfig({}, { STATS_CACHE_TTL: '400' }, () => NOW, { ttlSeconds: 750 }).ttlSeconds).toBe(400);
    expect(loadConfig({}, {}, () => NOW).ttlSeconds).toBe(300);
  });

  it('the Pushgateway URL: optional, http(s) only, its password a secret', () => {
    expect(loadConfig({}, {}, () => NOW).pushgatewayUrl).toBeNull();
    expect(loadConfig({ pushgatewayUrl: 'http://pg:9091' }, {}, () => NOW).pushgatewayUrl).toBe('http://pg:9091');
    expect(() => loadConfig({}, { STATS_REFRESH_PUSHGATEWAY_URL: 'pg:9091' }, () => NOW)).toThrow(/STATS_REFRESH_PUSHGATEWAY_URL must be a http: or https: URL/);
  });

  it('the longest gap covers irregular schedules and hour boundaries', () => {
    expect(longestGapMs('0 9,17 * * *', NOW)).toBe(16 * 60 * MIN);
    expect(longestGapMs('1-59/4 * * * *', NOW)).toBe(4 * MIN);
    expect(longestGapMs('50 * * * *', NOW)).toBe(60 * MIN);
  });

  it('firings an hour: the default budget counts 15 + 12 + 10 family runs an hour', () => {
    expect(['1-59/4 * * * *', '2-59/5 * * * *', '4-59/6 * * * *'].map((expression) => firingsPerHour(expression, NOW))).toEqual([15, 12, 10]);
    expect(firingsPerHour('0 9,17 * * *', NOW)).toBeCloseTo(2 / 24, 10);
  });
});

describe('database budget', () => {
  const HOUR = 3_600_000;

  it('the default: nothing held before the first full run; then the cron schedules\' spending, re-estimated after each full run', () => {
    const budget = new DbBudget({ secondsPerHour: null, cronRunsPerHour: 37 });
    expect(budget.waitMs(0)).toBe(0);
    expect(budget.left(0)).toBeNull();
    budget.fullRun(800, 0);
    expect(budget.secondsPerHour()).toBeCloseTo(37 * 0.8, 10);
    // Full after the first run (BUCKET_RUNS runs' worth), less that run.
    expect(budget.left(0)).toBeCloseTo((BUCKET_RUNS - 1) * 0.8, 10);
    budget.fullRun(1_000, 0);
    expect(budget.secondsPerHour()).toBeCloseTo(37, 10);
  });

  it('holds a run until the bucket has what the last run cost, refilling at budget/3600 a second; never above its capacity', () => {
    const budget = new DbBudget({ secondsPerHour: 36, cronRunsPerHour: 37 });
    budget.fullRun(1_000, 0); // capacity 3 s, 2 s left
    budget.fullRun(1_000, 0);
    budget.fullRun(1_000, 0); // 0 s left
    expect(budget.left(0)).toBeCloseTo(0, 10);
    // 36 s an hour: 0.01 s a second, so 1 s takes 100 s.
    expect(budget.waitMs(0)).toBe(100_000);
    expect(budget.waitMs(40_000)).toBe(60_000);
    expect(budget.waitMs(100_000)).toBe(0);
    expect(budget.left(10 * HOUR)).toBeCloseTo(3, 10);
    // Probes and self-healing runs are charged: the bucket may go below 0.
    budget.spend(5_000, 10 * HOUR);
    expect(budget.left(10 * HOUR)).toBeCloseTo(-2, 10);
    expect(budget.waitMs(10 * HOUR)).toBe(300_000);
  });

  it('a run that read nothing leaves the estimate as it was', () => {
    const budget = new DbBudget({ secondsPerHour: null, cronRunsPerHour: 37 });
    budget.fullRun(0, 0);
    expect(budget.secondsPerHour()).toBeNull();
    budget.fullRun(500, 0);
    budget.fullRun(0, 1_000);
    expect(budget.secondsPerHour()).toBeCloseTo(37 * 0.5, 10);
  });
});

describe('self-healing bound', () => {
  const budget = () => new HealBudget({ baseMs: 10_000, quietMs: 30_000, capMs: { dashboard: 240_000, executions: 300_000, users: 2_000 } });

  it('heals a first loss at once, then waits 10, 20, 40 s … while the keys keep vanishing, up to the interval', () => {
    const heal = budget();
    let now = 0;
    const healsAt: number[] = [];
    // Keys lost every 5 s for 20 minutes; a check every second.
    for (; now < 20 * MIN; now += 1_000) {
      const complete = now % 5_000 !== 0 && healsAt.length > 0 && now - healsAt.at(-1)! < 5_000;
      heal.observe('dashboard', complete, now);
      if (!complete && heal.waitMs('dashboard', now) === 0) {
        heal.healed('dashboard', now);
        healsAt.push(now);
      }
    }
    const spacing = healsAt.slice(1).map((at, index) => at - healsAt[index]!);
    expect(spacing.slice(0, 5)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
    expect(new Set(spacing.slice(5))).toEqual(new Set([240_000])); // capped at the dashboard's interval
  });

  it('a loss after the keys stayed present for the quiet time is healed at once again', () => {
    const heal = budget();
    heal.observe('dashboard', false, 0);
    expect(heal.waitMs('dashboard', 0)).toBe(0);
    heal.healed('dashboard', 0);
    heal.observe('dashboard', true, 1_000);
    heal.observe('dashboard', false, 3_000); // lost again after 2 s
    expect(heal.waitMs('dashboard', 3_000)).toBe(7_000);
    heal.healed('dashboard', 10_000);
    heal.observe('dashboard', true, 11_000);
    heal.observe('dashboard', false, 60_000); // present for 49 s: quiet
    expect(heal.waitMs('dashboard', 60_000)).toBe(0);
  });

  it('never waits longer than the family\'s interval, whatever the base', () => {
    const heal = budget();
    heal.observe('users', false, 0);
    heal.healed('users', 0);
    heal.observe('users', false, 1_000);
    expect(heal.waitMs('users', 1_000)).toBe(1_000); // users' cap here: 2 s, below the 10 s base
  });

  it('refreshes that fail (keys never come back) back off too; families are independent', () => {
    const heal = budget();
    heal.observe('executions', false, 0);
    heal.healed('executions', 0);
    heal.observe('executions', false, 5_000);
    expect(heal.waitMs('executions', 5_000)).toBe(5_000);
    heal.observe('dashboard', false, 5_000);
    expect(heal.waitMs('dashboard', 5_000)).toBe(0);
  });
});

describe('health rule', () => {
  const base = {
    now: 1_000_000,
    startedAt: 0,
    stopping: false,
    lastCheckAt: 999_000,
    checkIntervalMs: 5_000,
    intervalsMs: { dashboard: 240_000, executions: 300_000, users: 360_000 },
    lastSuccessAt: { dashboard: 900_000, executions: 800_000, users: 700_000 },
    checkError: null,
    leading: null,
    leaseError: null,
    probeFailure: null,
  };

  it('healthy while the loop runs and every family succeeded within two intervals', () => {
    expect(healthOf(base)).toMatchObject({ healthy: true, loop_alive: true, families: { users: { healthy: true, age_seconds: 300, max_age_seconds: 720 } } });
  });

  it('unhealthy when one family is older than two of its intervals', () => {
    const report = healthOf({ ...base, lastSuccessAt: { ...base.lastSuccessAt, dashboard: 1_000_000 - 480_001 } });
    expect(report).toMatchObject({ healthy: false, families: { dashboard: { healthy: false }, users: { healthy: true } } });
    expect(report.reasons).toEqual(['dashboard: no successful run for 480 s (at most 480 s)']);
  });

  it('unhealthy while the self-healing checks fail, saying why', () => {
    const report = healthOf({ ...base, checkError: 'Redis did not answer within 10 s' });
    expect(report).toMatchObject({ healthy: false, loop_alive: true, reasons: ['self-healing checks failing: Redis did not answer within 10 s'] });
    expect(healthOf(base).reasons).toEqual([]);
  });

  it('change mode: a follower is healthy whatever its families; failing probes count after 30 s', () => {
    const stale = { ...base, lastSuccessAt: { dashboard: null, executions: null, users: null } };
    expect(healthOf({ ...stale, leading: false })).toMatchObject({ healthy: true, role: 'follower', reasons: [] });
    expect(healthOf({ ...stale, leading: true })).toMatchObject({ healthy: false, role: 'leader' });
    expect(healthOf({ ...base, leading: false, stopping: true })).toMatchObject({ healthy: false, reasons: ['stopping'] });
    // Claims that fail: not a known follower, and unhealthy.
    expect(healthOf({ ...base, leading: false, leaseError: 'Redis did not answer within 10 s' })).toMatchObject({
      healthy: false,
      role: 'follower',
      reasons: ['leader lease not claimed: Redis did not answer within 10 s'],
    });
    expect(healthOf(base)).not.toHaveProperty('role');
    const failing = (forMs: number) => healthOf({ ...base, leading: true, probeFailure: { error: 'connection refused', forMs } });
    expect(failing(30_000).healthy).toBe(true);
    expect(failing(30_001)).toMatchObject({ healthy: false, reasons: ['change probes failing for 30 s: connection refused'] });
  });

  it('counts from the start before a first success; unhealthy when the loop stalls or stops', () => {
    const fresh = { ...base, startedAt: 900_000, lastSuccessAt: { dashboard: null, executions: null, users: null } };
    expect(healthOf(fresh).healthy).toBe(true);
    expect(healthOf({ ...fresh, now: 900_000 + 480_001, lastCheckAt: 900_000 + 480_000 }).families.dashboard.healthy).toBe(false);
    expect(healthOf({ ...base, lastCheckAt: 1_000_000 - 20_001 })).toMatchObject({ healthy: false, loop_alive: false });
    expect(healthOf({ ...base, stopping: true }).healthy).toBe(false);
  });
});
